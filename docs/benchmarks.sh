#!/usr/bin/env bash
# Runs the benchmark scenarios of docs/benchmarks.md against a release build and prints the
# median of RUNS runs of each (default 3), each against a freshly started server; then runs
# one server through REPEATS connect runs (default 5) to show its memory across runs.
#
#   docs/benchmarks.sh              # everything
#   RUNS=5 docs/benchmarks.sh fanout-100 latency
#
# Loopback only; every run is bounded by chat-bench's own --timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
REPEATS=${REPEATS:-5}
cargo build --release --quiet
bench=target/release/chat-bench
work=$(mktemp -d)
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT

start_server() {
    target/release/chat-server --port 0 --flood-rate 0 --max-clients 20000 \
        >"$work/server.out" 2>/dev/null &
    server_pid=$!
    for _ in $(seq 100); do
        port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/server.out")
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

# The value of a key in a one-line JSON object.
field() { grep -o "\"$2\":[^,}]*" "$1" | cut -d: -f2; }

# The median of a key over this scenario's runs.
median() {
    for run in $(seq "$RUNS"); do field "$work/$1.$run.json" "$2"; done |
        sort -g | sed -n "$(((RUNS + 1) / 2))p"
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
    local problems=0
    for run in $(seq "$RUNS"); do
        local counts=""
        for key in lost duplicated reordered refused failed dropped disconnected; do
            local count
            count=$(field "$work/$name.$run.json" "$key")
            problems=$((problems + count))
            [ "$count" = 0 ] || counts="$counts $key=$count"
        done
        [ -z "$counts" ] || echo "  run $run:$counts"
    done
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
