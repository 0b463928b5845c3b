#!/usr/bin/env bash
# Runs the benchmark scenarios of docs/benchmarks.md against a release build and prints the
# median of RUNS runs of each (default 3), each against a freshly started server; then runs
# one server through REPEATS connect runs (default 5) to show its memory across runs; then
# compares chat-server with Debian's ngircd (installed if missing), COMPARE_RUNS runs of each
# (default 5), interleaved: chat-server, ngircd, chat-server, ...
#
#   docs/benchmarks.sh              # everything
#   RUNS=5 docs/benchmarks.sh fanout-100 latency
#   docs/benchmarks.sh ngircd       # only the comparison (vs-fanout-100 vs-fanout-10
#                                   # vs-latency vs-connect)
#
# Loopback only; every run is bounded by chat-bench's own --timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
REPEATS=${REPEATS:-5}
COMPARE_RUNS=${COMPARE_RUNS:-5}
cargo build --release --quiet
bench=target/release/chat-bench
work=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT

start_server() {
    # Removed first: the new server truncates it only once it has started, and the old
    # port read back before that would be nobody's.
    rm -f "$work/server.out"
    target/release/chat-server --port 0 --flood-rate 0 --max-clients 20000 \
        >"$work/server.out" 2>/dev/null &
    server_pid=$!
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/server.out" 2>/dev/null || true)
        [ -n "$port" ] && return
        sleep 0.05
    done
    echo "server did not start" >&2
    exit 1
}

stop_server() {
    kill -INT "$server_pid"
    wait "$server_pid" || true
    server_pid=""
    # Let the kernel finish with the closed connections before the next run.
    sleep "${SETTLE:-3}"
}

# The value of a key in a one-line JSON object (nothing if the run left no report).
field() { { grep -o "\"$2\":[^,}]*" "$1" 2>/dev/null || true; } | cut -d: -f2; }

# The median of a key over the files $work/$1.1.json to $work/$1.N.json (N = $3, or RUNS).
median() {
    local runs=${3:-$RUNS}
    for run in $(seq "$runs"); do field "$work/$1.$run.json" "$2"; done |
        sort -g | sed -n "$(((runs + 1) / 2))p"
}

# The problem counts of runs $work/$1.1.json to $work/$1.N.json, one line per bad run; sets
# `problems` to their sum.
check_runs() {
    problems=0
    for run in $(seq "$2"); do
        local counts=""
        for key in lost duplicated reordered refused failed dropped disconnected; do
            local count
            count=$(field "$work/$1.$run.json" "$key")
            count=${count:-1}
            problems=$((problems + count))
            [ "$count" = 0 ] || counts="$counts $key=$count"
        done
        [ -z "$counts" ] || echo "  $1 run $run:$counts"
    done
}

scenario() {
    local name=$1
    shift
    for run in $(seq "$RUNS"); do
        start_server
        "$bench" --port "$port" --server-pid "$server_pid" --json --quiet "$@" \
            >"$work/$name.$run.json" || echo "$name run $run: chat-bench failed" >&2
        stop_server
    done
    check_runs "$name" "$RUNS"
    printf '%-14s %s\n' "$name" "chat-bench $*"
    printf '  deliveries/s %s   latency p50 %s ms  p99 %s ms  max %s ms\n' \
        "$(median "$name" deliveries_per_sec)" "$(median "$name" latency_p50_ms)" \
        "$(median "$name" latency_p99_ms)" "$(median "$name" latency_max_ms)"
    printf '  connect %s ms   RSS per client %s bytes   threads %s\n' \
        "$(median "$name" connect_ms)" "$(median "$name" server_rss_per_client_bytes)" \
        "$(median "$name" server_threads_joined)"
    printf '  lost + duplicated + reordered + refused + failed + dropped + disconnected, all runs: %s\n' \
        "$problems"
}

chosen=("$@")
want() { [ ${#chosen[@]} -eq 0 ] || [[ " ${chosen[*]} " == *" $1 "* ]]; }

# Latency first: thousands of connections just closed (sockets in TIME_WAIT, stacks being
# freed) disturb it for a minute or so.
want latency && scenario latency latency -n 100 --rate 500 --duration 10
want fanout-100 && scenario fanout-100 fanout -n 100 -s 100 -m 100
want fanout-10 && scenario fanout-10 fanout -n 10 -s 10 -m 10000
want connect && scenario connect connect -n 10000
want connect-burst && scenario connect-burst connect -n 10000 --max-pending 10000
want slow-reader && scenario slow-reader slow-reader -n 20 -s 4 -m 50000 --slow 2

if want repeat; then
    echo "repeat: one server, $REPEATS x chat-bench connect -n 10000, then fanout -n 100 -s 100 -m 100"
    start_server
    for run in $(seq "$REPEATS"); do
        "$bench" --port "$port" --server-pid "$server_pid" --json --quiet connect -n 10000 >"$work/r.json"
        "$bench" --port "$port" --server-pid "$server_pid" --json --quiet fanout -n 100 -s 100 -m 100 >"$work/f.json"
        printf '  run %s: RSS with 10000 joined %s KiB, after fanout %s KiB, threads %s\n' "$run" \
            "$(field "$work/r.json" server_rss_joined_kib)" "$(field "$work/f.json" server_rss_end_kib)" \
            "$(field "$work/f.json" server_threads_end)"
    done
    stop_server
fi

# ngircd, for the comparison: Debian's package, run as our own process (never the system
# service) on a free loopback port, with a configuration written to $work.
NGIRCD_CONF=$work/ngircd.conf

install_ngircd() {
    command -v ngircd >/dev/null && return
    echo "installing Debian's ngircd (apt-get install -y ngircd)"
    # invoke-rc.d asks policy-rc.d whether the package may start its service: "101" means
    # no, so the install doesn't start a system-wide ngircd. Ours is started below.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q ngircd >"$work/apt.log" 2>&1 ||
        { apt-get update -q >>"$work/apt.log" 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q ngircd >>"$work/apt.log" 2>&1; } ||
        { [ -n "$made_policy" ] && rm -f "$policy"; cat "$work/apt.log" >&2; exit 1; }
    [ -z "$made_policy" ] || rm -f "$policy"
}

# A TCP port no socket uses (ngircd can't be asked for port 0), below the ephemeral range
# that the clients' own ports come from.
free_port() {
    local candidate low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
    for _ in $(seq 100); do
        candidate=$((10000 + RANDOM % (low - 10000)))
        if [ -z "$(ss -Htan "sport = :$candidate")" ]; then
            echo "$candidate"
            return
        fi
    done
    echo "no free port found" >&2
    exit 1
}

# The limits a benchmark would otherwise measure instead of the server, each relaxed as far
# as ngircd allows (see docs/benchmarks.md, "chat-server and ngircd"):
# - MaxNickLength: the bench's nicks (b<pid>-<n>) are longer than RFC 2812's 9.
# - MaxConnections and MaxConnectionsIP 0: no limit (every client comes from 127.0.0.1).
# - MaxPenaltyTime 0: no penalty delays (its flood throttling adds 1 s penalties otherwise).
# - DNS, Ident and PAM off: no lookups per connection.
write_ngircd_conf() {
    mkdir -p "$work/ngircd.conf.d"
    cat >"$NGIRCD_CONF" <<CONF
[Global]
Name = bench.irc
Info = chat-bench comparison
AdminInfo1 = chat-bench
AdminInfo2 = loopback only
AdminEMail = bench@localhost
Listen = 127.0.0.1
Ports = $1
MotdPhrase = chat-bench
[Limits]
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxNickLength = 30
MaxPenaltyTime = 0
PingTimeout = 120
PongTimeout = 20
[Options]
DNS = no
Ident = no
PAM = no
IncludeDir = $work/ngircd.conf.d
CONF
}

start_ngircd() {
    for _ in 1 2 3; do
        port=$(free_port)
        write_ngircd_conf "$port"
        rm -f "$work/ngircd.log"
        ngircd -n -f "$NGIRCD_CONF" >"$work/ngircd.log" 2>&1 &
        server_pid=$!
        for _ in $(seq 100); do
            if grep -q "Now listening on \[127.0.0.1\]:$port" "$work/ngircd.log"; then
                return
            fi
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.05
        done
        # Taken meanwhile, or too slow to start: another port.
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" || true
    done
    server_pid=""
    echo "ngircd did not start:" >&2
    cat "$work/ngircd.log" >&2
    exit 1
}

stop_ngircd() {
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=""
    sleep "${SETTLE:-3}"
}

# One scenario, COMPARE_RUNS times against each server, interleaved. ngircd accepts with a
# listen backlog of 10 (hard-coded), so more connections at once than that lose SYNs and
# wait for their retransmission (1 s, 3 s, ...): both servers get --max-pending 8.
compare() {
    local name=$1
    shift
    local common=(--json --quiet --max-pending 8)
    for run in $(seq "$COMPARE_RUNS"); do
        start_server
        "$bench" --port "$port" --server-pid "$server_pid" "${common[@]}" "$@" \
            >"$work/$name.chat.$run.json" || echo "$name chat-server run $run: chat-bench failed" >&2
        stop_server
        start_ngircd
        "$bench" --proto irc --port "$port" --server-pid "$server_pid" "${common[@]}" "$@" \
            >"$work/$name.irc.$run.json" || echo "$name ngircd run $run: chat-bench failed" >&2
        stop_ngircd
    done
    printf '%-14s %s  (%s runs of each server, interleaved; medians)\n' "$name" \
        "chat-bench --max-pending 8 $*" "$COMPARE_RUNS"
    summary "$name.chat" chat-server
    summary "$name.irc" ngircd
    printf '  every run, chat-server | ngircd: deliveries/s, p99 ms, connect ms, RSS per client B\n'
    for run in $(seq "$COMPARE_RUNS"); do
        printf '    %s:  %s\n' "$run" "$(one_run "$name.chat.$run.json") | $(one_run "$name.irc.$run.json")"
    done
}

# The medians of runs $work/$1.1.json to $work/$1.COMPARE_RUNS.json, on one line.
summary() {
    check_runs "$1" "$COMPARE_RUNS"
    local key values=()
    for key in deliveries_per_sec latency_p50_ms latency_p99_ms latency_max_ms connect_ms \
        server_rss_per_client_bytes; do
        values+=("$(median "$1" "$key" "$COMPARE_RUNS")")
    done
    printf '  %-11s deliveries/s %s  p50 %s ms  p99 %s ms  max %s ms  connect %s ms  RSS per client %s B  problems %s\n' \
        "$2" "${values[@]}" "$problems"
}

one_run() {
    local key out=""
    for key in deliveries_per_sec latency_p99_ms connect_ms server_rss_per_client_bytes; do
        out="$out $(field "$work/$1" "$key")"
    done
    echo "${out# }"
}

want_compare() { want ngircd || want "$1"; }
if want_compare vs-latency || want_compare vs-fanout-100 || want_compare vs-fanout-10 ||
    want_compare vs-connect; then
    install_ngircd
    echo "ngircd: $(ngircd --version 2>/dev/null | head -1)"
fi
want_compare vs-latency && compare vs-latency latency -n 100 --rate 500 --duration 10
want_compare vs-fanout-100 && compare vs-fanout-100 fanout -n 100 -s 100 -m 100
want_compare vs-fanout-10 && compare vs-fanout-10 fanout -n 10 -s 10 -m 10000
# 1,000 clients: ngircd's joins into one channel cost it time that grows faster than the
# number of members (1,000 take it about 6 s, 2,000 about 40 s), so 10,000 is out of reach.
want_compare vs-connect && compare vs-connect connect -n 1000
