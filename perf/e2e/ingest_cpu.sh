#!/usr/bin/env bash
# Server CPU per accepted message: the etrnd process's user+system time
# (/proc/<pid>/stat, all threads) over a run, divided by the messages the
# server itself counted as accepted (etrnd_messages_accepted_total on its
# metrics endpoint, cross-checked against what the client saw).
#
# One or more etrnd builds side by side: every round runs every client
# against every build, in a rotating order, each against a freshly started
# etrnd (--threads=2, --fsync=true, `.test` a `hold` domain so nothing is
# delivered) with an empty spool, so load from other users of the machine
# hits all of them alike. Reports the medians over the rounds.
#
# Clients (the same binaries for every build):
#   blaster_reuse  smtp-blaster, SESSIONS sessions, many messages each
#   blaster_new    smtp-blaster --messages_per_connection=1
#   source_reuse   Postfix smtp-source -d (messages reuse the connection)
#   source_new     Postfix smtp-source (a new connection per message)
#
# Usage: perf/e2e/ingest_cpu.sh [LABEL=BUILD_DIR ...]
#   e.g. perf/e2e/ingest_cpu.sh before=/tmp/cpu-base/build-perf after=build-perf
#   (default: one build, "etrnd=$E2E_BUILD"; a build dir holds etrnd)
# Knobs (environment): SIZE=1024 SESSIONS=32 RUNS=5 DOMAINS=100
#   CLIENTS="blaster_reuse blaster_new source_reuse source_new"
#   N_BLASTER_REUSE=20000 N_BLASTER_NEW=4000 N_SOURCE_REUSE=8000 N_SOURCE_NEW=3000
#   BLASTER_BIN=<last build>/smtp-blaster RUN_TIMEOUT_S=180 OUT=file.tsv
#   PERF_DIR=dir: afterwards, one more run per build and client in
#     PERF_CLIENTS (default blaster_reuse) under `perf record -g`; the top of
#     `perf report` goes to PERF_DIR/LABEL-CLIENT.txt (not in the medians:
#     sampling costs the server CPU too).
# A second table splits the server CPU between the etrnd threads (reactors)
# and io_uring's io-wq workers, and gives the whole machine's busy CPU per
# message (the client included).
set -euo pipefail
CLIENT_BLASTER="${BLASTER_BIN:-}" # lib.sh sets its own default
# shellcheck source=perf/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

SIZE="${SIZE:-1024}"
SESSIONS="${SESSIONS:-32}"
RUNS="${RUNS:-5}"
DOMAINS="${DOMAINS:-100}"
CLIENTS="${CLIENTS:-blaster_reuse blaster_new source_reuse source_new}"
N_BLASTER_REUSE="${N_BLASTER_REUSE:-20000}"
N_BLASTER_NEW="${N_BLASTER_NEW:-4000}"
N_SOURCE_REUSE="${N_SOURCE_REUSE:-8000}"
N_SOURCE_NEW="${N_SOURCE_NEW:-3000}"
RUN_TIMEOUT_S="${RUN_TIMEOUT_S:-180}"
PERF_DIR="${PERF_DIR:-}"
PERF_CLIENTS="${PERF_CLIENTS:-blaster_reuse}"
CLK_TCK="$(getconf CLK_TCK)"

LABELS=()
declare -A BUILD_OF=()
if [ "$#" -eq 0 ]; then set -- "etrnd=$E2E_BUILD"; fi
for arg in "$@"; do
  label="${arg%%=*}"
  dir="${arg#*=}"
  [ -x "$dir/etrnd" ] || { echo "no etrnd in $dir" >&2; exit 1; }
  LABELS+=("$label")
  BUILD_OF[$label]="$(cd "$dir" && pwd)"
done
BLASTER_BIN="${CLIENT_BLASTER:-${BUILD_OF[${LABELS[-1]}]}/smtp-blaster}"
for bin in "$BLASTER_BIN" "$SMTP_SOURCE"; do
  [ -x "$bin" ] || { echo "missing $bin" >&2; exit 1; }
done

e2e_init
OUT="${OUT:-/tmp/ingest_cpu.$(date +%Y%m%d-%H%M%S).tsv}"
NEXTHOP_PORT="$(e2e_free_port)" # nothing listens there; held mail stays
echo ".test 127.0.0.1:$NEXTHOP_PORT hold" >"$E2E_TMP/domains.conf"

messages_for() {
  case "$1" in
    blaster_reuse) echo "$N_BLASTER_REUSE" ;;
    blaster_new) echo "$N_BLASTER_NEW" ;;
    source_reuse) echo "$N_SOURCE_REUSE" ;;
    source_new) echo "$N_SOURCE_NEW" ;;
    *) echo "unknown client $1" >&2; return 1 ;;
  esac
}

# The client command line for CLIENT, N messages, against PORT.
client_cmd() {
  local client="$1" n="$2" port="$3"
  local source=("$SMTP_SOURCE" -s "$SESSIONS" -m "$n" -l "$SIZE" -f s@x.test -t r@d0.test)
  local blaster=("$BLASTER_BIN" "--target=127.0.0.1:$port" "--connections=$SESSIONS"
    "--messages=$n" "--size=$SIZE" --recipients=1 "--domains=$DOMAINS"
    --domain_pattern=d%d.test --threads=1 --json --progress=false)
  case "$client" in
    blaster_reuse) echo "${blaster[*]}" ;;
    blaster_new) echo "${blaster[*]} --messages_per_connection=1" ;;
    source_reuse) echo "${source[*]} -d 127.0.0.1:$port" ;;
    source_new) echo "${source[*]} 127.0.0.1:$port" ;;
  esac
}

# CPU clock ticks (user+system, all threads) of PID so far. Field 2 (the
# command name, "etrnd") has no spaces, so a plain split is safe.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# The same for PID's own threads (etrnd: main; etrnd-core-N: reactors;
# etrnd-log, etrnd-auth): the rest of the process is io_uring's io-wq
# workers (iou-wrk-*), which do the spool's fdatasync'ed writes and may come
# and go during a run.
etrnd_thread_ticks() {
  { cat "/proc/$1"/task/*/stat 2>/dev/null || true; } | # a thread may exit meanwhile
    awk '$2 ~ /^\(etrnd/ {t += $14 + $15} END {print t + 0}'
}

# Non-idle clock ticks of the whole machine so far (every process and kernel
# thread, the client too): what a change moved out of the process shows here.
system_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

accepted_total() {
  curl -s --max-time 10 "http://127.0.0.1:$1/metrics" |
    awk '$1 == "etrnd_messages_accepted_total" {printf "%d\n", $2; found = 1}
         END {if (!found) print 0}'
}

# run_one LABEL CLIENT ROUND [perf]: one measurement, appended to $OUT
# (or, with "perf", a profiled run whose numbers are only printed).
run_one() {
  local label="$1" client="$2" round="$3" profile="${4:-}"
  local n port mport cmd before after start end ok client_ok rc=0 load perf_pid=""
  local before_threads after_threads before_system after_system
  local log="$E2E_TMP/$label-$client-$round"
  n="$(messages_for "$client")"
  port="$(e2e_free_port)"
  mport="$(e2e_free_port)"
  cmd="$(client_cmd "$client" "$n" "$port")"
  load="$(cut -d' ' -f1 /proc/loadavg)"
  ETRND_BIN="${BUILD_OF[$label]}/etrnd" e2e_start_etrnd "$label" "$port" true \
    "$E2E_TMP/domains.conf" --threads=2 --max_connections_per_ip=1000 \
    "--metrics_listen=127.0.0.1:$mport"
  e2e_wait_port "$mport" 20
  sleep 0.3 # start-up (recovery of the empty spool, listeners) is not ingest
  if [ -n "$profile" ]; then
    perf record -g -F 2000 -p "$ETRND_PID" -o "$PERF_DIR/$label-$client.data" \
      >"$log.perf.log" 2>&1 &
    perf_pid=$!
    sleep 0.5
  fi
  before="$(cpu_ticks "$ETRND_PID")"
  before_threads="$(etrnd_thread_ticks "$ETRND_PID")"
  before_system="$(system_ticks)"
  start="$EPOCHREALTIME"
  # shellcheck disable=SC2086 # cmd is a plain word list
  timeout -k 5 "$RUN_TIMEOUT_S" $cmd >"$log.out" 2>"$log.err" || rc=$?
  end="$EPOCHREALTIME"
  sleep 0.2 # the last connections' teardown belongs to the run
  after="$(cpu_ticks "$ETRND_PID")"
  after_threads="$(etrnd_thread_ticks "$ETRND_PID")"
  after_system="$(system_ticks)"
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
  fi
  ok="$(accepted_total "$mport")"
  e2e_stop_pid "$ETRND_PID"
  case "$client" in
    source_*) if [ "$rc" = 0 ]; then client_ok="$n"; else client_ok=0; fi ;;
    blaster_*)
      client_ok="$(grep -o '"messages_ok":[0-9]*' "$log.out" | cut -d: -f2 || true)"
      client_ok="${client_ok:-0}"
      ;;
  esac
  if [ "$ok" != "$n" ] || [ "$client_ok" != "$n" ]; then
    echo "WARNING: $label $client round $round: server accepted $ok, client saw $client_ok" \
      "of $n (exit $rc): $(tail -c 300 "$log.err")" >&2
  fi
  local line
  line="$(awk -v label="$label" -v client="$client" -v round="$round" -v n="$n" -v ok="$ok" \
    -v t0="$before" -v t1="$after" -v hz="$CLK_TCK" -v s="$start" -v e="$end" -v load="$load" \
    -v r0="$before_threads" -v r1="$after_threads" -v y0="$before_system" -v y1="$after_system" \
    'BEGIN {
      cpu = (t1 - t0) / hz
      per = (ok > 0 ? 1e6 / ok / hz : 0)
      printf "%s\t%s\t%s\t%d\t%d\t%.2f\t%.1f\t%.2f\t%.0f\t%s\t%.1f\t%.1f\t%.1f\n", label, client,
        round, n, ok, cpu, (ok > 0 ? cpu * 1e6 / ok : 0), e - s, (e > s ? ok / (e - s) : 0), load,
        (r1 - r0) * per, (t1 - t0 - (r1 - r0)) * per, (y1 - y0) * per
    }')"
  if [ -n "$profile" ]; then
    echo "# profiled: $line" >&2
    perf report -i "$PERF_DIR/$label-$client.data" --no-children --stdio --percent-limit 0.7 \
      --sort symbol -g none 2>/dev/null | grep -v '^$' >"$PERF_DIR/$label-$client.txt" || true
  else
    echo "$line" >>"$OUT"
    echo "$line" >&2
  fi
}

echo "# $(e2e_machine_notes)" >&2
for label in "${LABELS[@]}"; do echo "# $label: ${BUILD_OF[$label]}/etrnd" >&2; done
echo "# etrnd --threads=2 --fsync=true --max_connections_per_ip=1000, .test hold" >&2
for client in $CLIENTS; do
  echo "# $client: $(client_cmd "$client" N PORT)" >&2
done
printf '%s\t' build client round messages accepted cpu_s cpu_us_per_msg wall_s msgs_per_s loadavg1 \
  reactor_us_per_msg iowq_us_per_msg >"$OUT"
printf 'system_us_per_msg\n' >>"$OUT"

read -ra client_list <<<"$CLIENTS"
# Every (client, build) pair once per round, the order rotated each round.
pairs=()
for client in "${client_list[@]}"; do
  for label in "${LABELS[@]}"; do pairs+=("$label $client"); done
done
for round in $(seq "$RUNS"); do
  count=${#pairs[@]}
  for i in $(seq 0 $((count - 1))); do
    read -r label client <<<"${pairs[$(((i + round - 1) % count))]}"
    run_one "$label" "$client" "$round"
  done
done

# column_median LABEL CLIENT COLUMN
column_median() {
  local values
  mapfile -t values < <(awk -F'\t' -v b="$1" -v c="$2" -v k="$3" \
    'NR > 1 && $1 == b && $2 == c {print $k}' "$OUT")
  e2e_median "${values[@]}"
}

echo
echo "# medians over $RUNS rounds: server CPU us per accepted message (msgs/s)"
printf '%-15s' client
for label in "${LABELS[@]}"; do printf ' %22s' "$label"; done
[ "${#LABELS[@]}" -eq 2 ] && printf ' %10s' "${LABELS[1]}/${LABELS[0]}"
echo
for client in "${client_list[@]}"; do
  printf '%-15s' "$client"
  cpus=()
  for label in "${LABELS[@]}"; do
    cpu="$(column_median "$label" "$client" 7)"
    rate="$(column_median "$label" "$client" 9)"
    cpus+=("$cpu")
    printf ' %22s' "$cpu ($rate/s)"
  done
  if [ "${#LABELS[@]}" -eq 2 ]; then
    awk -v a="${cpus[0]}" -v b="${cpus[1]}" 'BEGIN {printf " %10s", (a > 0 ? sprintf("%.2f", b / a) : "-")}'
  fi
  echo
done
echo
echo "# medians: of that, etrnd threads (reactors) + io-wq workers; and the whole machine's busy"
echo "# CPU per message (the client and everything else running too: compare at low load)"
printf '%-15s' client
for label in "${LABELS[@]}"; do printf ' %26s' "$label"; done
echo
for client in "${client_list[@]}"; do
  printf '%-15s' "$client"
  for label in "${LABELS[@]}"; do
    printf ' %26s' "$(column_median "$label" "$client" 11) + $(column_median "$label" "$client" 12), sys $(column_median "$label" "$client" 13)"
  done
  echo
done
echo "# loadavg at the end: $(cut -d' ' -f1-3 /proc/loadavg); raw results: $OUT" >&2

if [ -n "$PERF_DIR" ]; then
  mkdir -p "$PERF_DIR"
  for client in $PERF_CLIENTS; do
    for label in "${LABELS[@]}"; do run_one "$label" "$client" perf perf; done
  done
  echo "# profiles: $PERF_DIR/*.txt" >&2
fi
