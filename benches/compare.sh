#!/usr/bin/env bash
# Runs every scenario of the performance issue against Warren (release build) and the peers
# (RabbitMQ, Mosquitto) on loopback, one broker at a time, and writes the table into
# docs/benchmarks.md between the "compare" markers.
#
# usage: benches/compare.sh [-d SECONDS] [-o PATTERN] [-n] [-s]
#   -d  measurement window per run (default 5)
#   -o  only scenarios whose label matches PATTERN (a grep -E regex)
#   -n  do not touch docs/benchmarks.md (print the table only)
#   -s  skip the release build (use the binaries already in target/release)
#
# Warren is restarted, with an empty data directory, before every run so that one run's
# backlog cannot weigh on the next; the peers are started once by the peers script, and every
# run waits until they are idle (a peer still busy with the last run takes CPU from the next).
# Results go to target/bench/results.jsonl, one warren-bench JSON report per line.
# WARREN_BIN runs another warren binary (e.g. one built from a clean checkout) instead of
# target/release/warren; WARREN_COMMIT then names the commit it was built from.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=5
ONLY=.
WRITE=1
BUILD=1
while getopts "d:o:ns" opt; do
  case $opt in
    d) DURATION=$OPTARG ;;
    o) ONLY=$OPTARG ;;
    n) WRITE=0 ;;
    s) BUILD=0 ;;
    *) sed -n 5,10p "$0" >&2; exit 2 ;;
  esac
done
COMMAND="benches/compare.sh $*"
if [[ -z ${WARREN_COMMIT:-} ]]; then
  WARREN_COMMIT=$(git rev-parse --short HEAD)
  [[ -n $(git status --porcelain -- crates) ]] && WARREN_COMMIT+=" with uncommitted changes"
fi
WARREN_BIN=${WARREN_BIN:-$ROOT/target/release/warren}
PEERS=${PEERS_SCRIPT:-$ROOT/../shared/tools/peers.sh}
PEERS_RUN=${PEERS_DIR:-/tmp/warren-peers}/run
OUT=$ROOT/target/bench
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"

# Ports of each broker: amqp mqtt stomp ("-" where it has none).
declare -A PORTS=(
  [warren]="5680 1890 61620"
  [rabbitmq]="5673 1884 61614"
  [mosquitto]="- 1885 -"
  [relay]="- 1891 -"
  [relay-threads]="- 1892 -"
)

# label | brokers | warren-bench arguments
SCENARIOS=(
  # Idle first: the peers are not restarted, and memory a busy run leaves behind would hide
  # what an idle connection costs.
  "idle mqtt 10,000 connections|warren rabbitmq mosquitto|--protocol mqtt --idle 10000 --publishers 0 --consumers 0"
  "idle amqp 10,000 connections|warren rabbitmq|--protocol amqp --idle 10000 --publishers 0 --consumers 0"
  "idle stomp 10,000 connections|warren rabbitmq|--protocol stomp --idle 10000 --publishers 0 --consumers 0"
  "amqp 1:1 16 B|warren rabbitmq|--protocol amqp --size 16"
  "amqp 4:1 one queue, 16 B|warren rabbitmq|--protocol amqp --size 16 --publishers 4"
  "amqp 1:1 1 KiB|warren rabbitmq|--protocol amqp --size 1024"
  "amqp 1:1 1 KiB confirms, manual ack, prefetch 100|warren rabbitmq|--protocol amqp --size 1024 --confirms --ack manual --prefetch 100"
  "amqp fan-out 1:10 16 B|warren rabbitmq|--protocol amqp --size 16 --fanout --consumers 10"
  "amqp 1,000 queues, 1 consumer each, 16 B|warren rabbitmq|--protocol amqp --size 16 --publishers 4 --consumers 1000 --destinations 1000"
  "mqtt qos0 1:1 16 B|warren rabbitmq mosquitto|--protocol mqtt --qos 0 --size 16"
  "mqtt qos1 1:1 16 B|warren rabbitmq mosquitto|--protocol mqtt --qos 1 --size 16"
  "mqtt qos0 fan-out 1:10 16 B|warren rabbitmq mosquitto|--protocol mqtt --qos 0 --size 16 --consumers 10"
  "mqtt qos1 fan-out 1:10 16 B|warren rabbitmq mosquitto|--protocol mqtt --qos 1 --size 16 --consumers 10"
  "stomp 1:1 16 B|warren rabbitmq|--protocol stomp --size 16"
  # One subscriber that reads 100 kB/s beside the measured one: does the broker let a slow
  # client hold back the publisher, and everyone with it?
  "mqtt qos0 1:1 16 B beside a slow subscriber|warren rabbitmq mosquitto|--protocol mqtt --qos 0 --size 16 --slow-consumers 1 --slow-read 100000"
  "mqtt to amqp 1:1 16 B|warren rabbitmq|--protocol mqtt --consume-protocol amqp --size 16"
  "latency amqp 10k msg/s 16 B|warren rabbitmq|--protocol amqp --size 16 --rate 10000"
  "latency mqtt qos0 10k msg/s 16 B|warren rabbitmq mosquitto relay relay-threads|--protocol mqtt --qos 0 --size 16 --rate 10000"
)
# "relay" is no broker: benches/examples/mqtt_relay.rs copies each PUBLISH to the subscribers
# and does nothing else, so its latency is the floor this machine, its scheduler and the load
# generator set for any broker with a task per connection. "relay-threads" is the same relay
# with no runtime (a blocking thread per connection): the floor for any server at all.

log() { echo "compare: $*" >&2; }

# Waits (up to 10 s) until something listens on 127.0.0.1:PORT; stops the script if nothing
# does, naming the log to read.
wait_listening() {
  local port=$1 what=$2 logfile=$3
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return; fi
    sleep 0.1
  done
  log "$what did not start; see $logfile"; exit 1
}
# Stops a process this script started, if it is running.
stop_pid() {
  if [[ -n $1 ]]; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

WARREN_PID=
start_warren() {
  local data=$OUT/warren-data
  rm -rf "$data"
  read -r amqp mqtt stomp <<<"${PORTS[warren]}"
  "$WARREN_BIN" --amqp-listen "127.0.0.1:$amqp" --mqtt-listen "127.0.0.1:$mqtt" \
    --stomp-listen "127.0.0.1:$stomp" --data-dir "$data" >"$OUT/warren.log" 2>&1 &
  WARREN_PID=$!
  wait_listening "$stomp" warren "$OUT/warren.log"
}
stop_warren() { stop_pid "$WARREN_PID"; WARREN_PID=; }
RELAY_PID=
# start_relay NAME MODE: the relay in MODE (task or threads) on NAME's port.
start_relay() {
  read -r _ mqtt _ <<<"${PORTS[$1]}"
  "$ROOT/target/release/examples/mqtt_relay" "127.0.0.1:$mqtt" "$2" >"$OUT/relay.log" 2>&1 &
  RELAY_PID=$!
  wait_listening "$mqtt" "the relay" "$OUT/relay.log"
}
stop_relay() { stop_pid "$RELAY_PID"; RELAY_PID=; }
trap 'stop_warren; stop_relay' EXIT

broker_pid() {
  case $1 in
    warren) echo "$WARREN_PID" ;;
    relay | relay-threads) echo "$RELAY_PID" ;;
    rabbitmq) cat "$PEERS_RUN/rabbitmq.pid" ;;
    mosquitto) cat "$PEERS_RUN/mosquitto.pid" ;;
  esac
}

# CPU ticks (user + system) a process has used so far; 0 if it is gone.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# Waits (up to 60 s) until no peer uses more than 5% of a core over a second, so that a peer
# still closing the previous scenario's connections (RabbitMQ takes a while after 10,000
# idle ones) does not take CPU from the broker being measured.
wait_quiet() {
  local pids=() pid before after busy tick_hz peer
  tick_hz=$(getconf CLK_TCK)
  for peer in rabbitmq mosquitto; do
    pid=$(broker_pid "$peer" 2>/dev/null) && [[ -n $pid ]] && pids+=("$pid")
  done
  for _ in $(seq 60); do
    busy=0
    for pid in "${pids[@]}"; do
      before=$(cpu_ticks "$pid")
      sleep 0.5
      after=$(cpu_ticks "$pid")
      # More than 5% of a core over the half second.
      ((after - before > tick_hz / 40)) && busy=1
    done
    ((busy)) || return 0
  done
  log "peers still busy after 60 s; measuring anyway"
}

# The --port/--consume-port arguments for a broker and a scenario's protocols.
port_args() {
  local broker=$1 args=$2 amqp mqtt stomp
  read -r amqp mqtt stomp <<<"${PORTS[$broker]}"
  port_of() { case $1 in amqp) echo "$amqp" ;; mqtt) echo "$mqtt" ;; stomp) echo "$stomp" ;; esac; }
  local pub con
  pub=$(grep -oP '(?<=--protocol )\w+' <<<"$args")
  con=$(grep -oP '(?<=--consume-protocol )\w+' <<<"$args" || echo "$pub")
  echo "--port $(port_of "$pub") --consume-port $(port_of "$con")"
}

if ((BUILD)); then
  log "building the release binaries"
  cargo build --release -q -p warren-server -p warren-bench
  cargo build --release -q -p warren-bench --example mqtt_relay
fi
"$PEERS" start >&2
# 10,000 idle connections need more descriptors than the usual 1,024 (both ends are here).
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

for scenario in "${SCENARIOS[@]}"; do
  IFS='|' read -r label brokers args <<<"$scenario"
  grep -qE "$ONLY" <<<"$label" || continue
  for broker in $brokers; do
    wait_quiet
    [[ $broker == warren ]] && start_warren
    [[ $broker == relay ]] && start_relay relay task
    [[ $broker == relay-threads ]] && start_relay relay-threads threads
    duration=$DURATION
    [[ $label == idle* ]] && duration=2
    log "$label: $broker"
    load=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2046,SC2086
    "$ROOT/target/release/warren-bench" $args $(port_args "$broker" "$args") --duration "$duration" \
      --label "$label" --broker-pid "$(broker_pid "$broker")" --json \
      | python3 -c 'import json,sys; r=json.load(sys.stdin); r["broker_name"]=sys.argv[1]; r["load_before"]=float(sys.argv[2]); print(json.dumps(r))' \
        "$broker" "$load" \
      >>"$RESULTS" || log "$label on $broker reported errors (kept in the results)"
    [[ $broker == warren ]] && stop_warren
    [[ $broker == relay* ]] && stop_relay
  done
done

if ((WRITE)); then
  python3 "$ROOT/benches/compare/render.py" "$RESULTS" "$COMMAND" "$WARREN_COMMIT" "$ROOT/docs/benchmarks.md"
else
  python3 "$ROOT/benches/compare/render.py" "$RESULTS" "$COMMAND" "$WARREN_COMMIT" -
fi
