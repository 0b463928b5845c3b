#!/usr/bin/env bash
# Measures how long the server takes to notice peers that vanish without closing (a pulled
# cable, a suspended laptop). Needs root and iproute2: it puts two clients in a network
# namespace joined to this host by a veth pair, then takes that link down on both ends, as
# a pulled cable would (no FIN, no reset reaches the server). One client ("idle", alone
# with a watcher in #quiet, so nothing is sent to it) is left to keepalive; the other
# ("busy", in #lobby) is being sent private messages when its link dies. Watchers on
# loopback report when each one's quit notice comes. Takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

ns=chatvanish
cargo build --release --quiet
work=$(mktemp -d)
cleanup() {
    # The server and the two clients in the namespace.
    kill $(jobs -p) 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    ip link del chatvh0 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip link add chatvh0 type veth peer name chatvh1
ip link set chatvh1 netns "$ns"
ip addr add 10.231.0.1/24 dev chatvh0
ip link set chatvh0 up
ip netns exec "$ns" ip addr add 10.231.0.2/24 dev chatvh1
ip netns exec "$ns" ip link set chatvh1 up

target/release/chat-server --host 0.0.0.0 --port 0 2>"$work/server.log" >"$work/server.out" &
sleep 0.5
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/server.out")

# Two clients in the namespace: they join (idle moves to #quiet) and then never send or
# read again.
for join in "idle\n/join quiet" "busy"; do
    ip netns exec "$ns" python3 -c "
import socket, time
s = socket.create_connection(('10.231.0.1', $port))
s.sendall(b'$join\n')
time.sleep(600)
" &
done

python3 - "$port" <<'EOF'
import socket, subprocess, sys, time
port = int(sys.argv[1])

def join(line):
    watcher = socket.create_connection(("127.0.0.1", port))
    watcher.sendall(line)
    watcher.setblocking(False)
    return watcher

lobby = join(b"watcher\n")
quiet = join(b"watcher2\n/join quiet\n")
seen = b""
while b"-> busy:" not in seen or b"-> idle:" not in seen:
    lobby.sendall(b"/msg busy hello\n/msg idle hello\n")
    time.sleep(0.2)
    try:
        seen += lobby.recv(65536)
    except BlockingIOError:
        pass
time.sleep(1)  # let the last whispers be acknowledged
subprocess.run(["ip", "netns", "exec", "chatvanish", "ip", "link", "set", "chatvh1", "down"],
               check=True)
subprocess.run(["ip", "link", "set", "chatvh0", "down"], check=True)
cut = time.monotonic()
print("link to idle and busy down; whispering to busy every 5 s", flush=True)
gone = {}
next_whisper = 0.0
while len(gone) < 2 and time.monotonic() - cut < 300:
    if time.monotonic() >= next_whisper:
        lobby.sendall(b"/msg busy are you there?\n")
        next_whisper = time.monotonic() + 5
    for watcher in (lobby, quiet):
        try:
            data = watcher.recv(65536).decode()
        except BlockingIOError:
            continue
        for line in data.splitlines():
            for name in ("idle", "busy"):
                if line.startswith(f"* {name} quit") and name not in gone:
                    gone[name] = time.monotonic() - cut
                    print(f"{line!r} after {gone[name]:.1f} s", flush=True)
    time.sleep(0.1)
if len(gone) < 2:
    print(f"not noticed within 300 s: {set(['idle', 'busy']) - set(gone)}")
    sys.exit(1)
EOF
