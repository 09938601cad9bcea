#!/usr/bin/env bash
# smtp-blaster against Postfix's smtp-source, same machine, same run: each
# client sends to one Postfix smtp-sink (stores nothing) on 127.0.0.1 with
# the same number of sessions, message size and one recipient. The clients
# are alternated inside each round (rotating order) so that load from other
# users of the machine hits all of them alike.
#
# Clients ("tools"):
#   source_new      smtp-source as documented: a new connection per message
#   source_reuse    smtp-source -d: messages reuse the connection (as the
#                   blaster does)
#   blaster_pipe    smtp-blaster --pipelining=true (smtp-sink offers PIPELINING)
#   blaster_nopipe  smtp-blaster --pipelining=false
#
# Per run: wall time and CPU time (user+sys, from /usr/bin/time, which counts
# the client and everything it waited for) of the client process, and the CPU
# time smtp-sink spent during the run (from /proc/<pid>/stat). Reports
# messages/s and CPU microseconds per message, the medians over the rounds,
# and the ratios blaster/source.
#
# Usage (as root: smtp-sink drops to "nobody"): perf/e2e/blaster_vs_smtp_source.sh
# Knobs (environment): SESSIONS=32 SIZES="1024 16384" RUNS=3
#   MESSAGES_BLASTER=40000 MESSAGES_SOURCE=15000 MESSAGES_NEW_CONN=3000
#   (per client, so that each run takes roughly 5-15 s: the clients differ
#   in speed by up to 20x; all results are per message)
#   TOOLS="source_new source_reuse blaster_pipe blaster_nopipe"
#   BLASTER_BIN=build-bb/smtp-blaster RUN_TIMEOUT_S=120 OUT=file.tsv
set -euo pipefail
BLASTER_BIN="${BLASTER_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build-bb/smtp-blaster}"
# shellcheck source=perf/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

SESSIONS="${SESSIONS:-32}"
SIZES="${SIZES:-1024 16384}"
RUNS="${RUNS:-3}"
MESSAGES_BLASTER="${MESSAGES_BLASTER:-40000}"
MESSAGES_SOURCE="${MESSAGES_SOURCE:-15000}"
MESSAGES_NEW_CONN="${MESSAGES_NEW_CONN:-3000}"
TOOLS="${TOOLS:-source_new source_reuse blaster_pipe blaster_nopipe}"
RUN_TIMEOUT_S="${RUN_TIMEOUT_S:-120}"
TIME_BIN="${TIME_BIN:-/usr/bin/time}"

for bin in "$BLASTER_BIN" "$SMTP_SOURCE" "$SMTP_SINK" "$TIME_BIN"; do
  [ -x "$bin" ] || { echo "missing $bin" >&2; exit 1; }
done

e2e_init
# Outside $E2E_TMP (removed on exit) so the raw numbers survive.
OUT="${OUT:-/tmp/blaster_vs_source.$(date +%Y%m%d-%H%M%S).tsv}"
PORT="$(e2e_free_port)"
e2e_start_sink "$PORT"
CLK_TCK="$(getconf CLK_TCK)"

# CPU seconds (user+sys) smtp-sink has used so far.
sink_cpu_s() {
  # Fields 14 and 15 of /proc/PID/stat; the command name (field 2) has no
  # spaces for smtp-sink, so a plain split is safe.
  awk -v tck="$CLK_TCK" '{printf "%.2f\n", ($14 + $15) / tck}' "/proc/$SINK_PID/stat"
}

messages_for() {
  case "$1" in
    source_new) echo "$MESSAGES_NEW_CONN" ;;
    source_reuse) echo "$MESSAGES_SOURCE" ;;
    *) echo "$MESSAGES_BLASTER" ;;
  esac
}

# The client command line for TOOL, SIZE, N messages.
client_cmd() {
  local tool="$1" size="$2" n="$3"
  local source=("$SMTP_SOURCE" -s "$SESSIONS" -m "$n" -l "$size" -c
    -f s@x.test -t r@d1.test)
  local blaster=("$BLASTER_BIN" "--target=127.0.0.1:$PORT"
    "--connections=$SESSIONS" "--messages=$n" "--size=$size" --recipients=1
    --domains=1 --domain_pattern=d%d.test --threads=1 --json --progress=false)
  case "$tool" in
    source_new) echo "${source[*]} 127.0.0.1:$PORT" ;;
    source_reuse) echo "${source[*]} -d 127.0.0.1:$PORT" ;;
    blaster_pipe) echo "${blaster[*]} --pipelining=true" ;;
    blaster_nopipe) echo "${blaster[*]} --pipelining=false" ;;
    *) echo "unknown tool $tool" >&2; return 1 ;;
  esac
}

# run_one TOOL SIZE ROUND: one measurement, appended to $OUT.
run_one() {
  local tool="$1" size="$2" round="$3" n cmd sink0 sink1 ok wall user sys rc=0
  n="$(messages_for "$tool")"
  cmd="$(client_cmd "$tool" "$size" "$n")"
  local log="$E2E_TMP/$tool-$size-$round"
  sink0="$(sink_cpu_s)"
  # timeout bounds the run; /usr/bin/time's rusage includes timeout's child.
  # shellcheck disable=SC2086 # cmd is a word list without quoting needs
  "$TIME_BIN" -o "$log.time" -f '%e %U %S' \
    timeout -k 5 "$RUN_TIMEOUT_S" $cmd >"$log.out" 2>"$log.err" || rc=$?
  sink1="$(sink_cpu_s)"
  # On failure time(1) writes "Command exited ..." before the format line.
  read -r wall user sys < <(tail -n 1 "$log.time")
  case "$tool" in
    source_*)
      # smtp-source exits non-zero on any refusal or lost connection.
      if [ "$rc" = 0 ]; then ok="$n"; else ok=0; fi
      ;;
    blaster_*)
      ok="$(grep -o '"messages_ok":[0-9]*' "$log.out" | cut -d: -f2)"
      ok="${ok:-0}"
      ;;
  esac
  awk -v size="$size" -v tool="$tool" -v round="$round" -v n="$n" -v ok="$ok" \
    -v wall="$wall" -v user="$user" -v sys="$sys" -v s0="$sink0" -v s1="$sink1" \
    'BEGIN {
      cpu = user + sys
      printf "%s\t%s\t%s\t%d\t%d\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\n", size, tool,
        round, n, ok, wall, cpu, ok / wall, cpu * 1e6 / n, (s1 - s0) * 1e6 / n
    }' >>"$OUT"
  tail -n 1 "$OUT" >&2
  if [ "$ok" != "$n" ]; then
    echo "WARNING: $tool size=$size round=$round: $ok of $n messages ok" >&2
    tail -n 3 "$log.err" "$log.time" >&2 || true
  fi
}

echo "# $(e2e_machine_notes)" >&2
echo "# sink: $SMTP_SINK -u nobody -c 127.0.0.1:$PORT 1024" >&2
for tool in $TOOLS; do
  echo "# $tool: $(client_cmd "$tool" SIZE N)" >&2
done
printf 'size\ttool\tround\tmessages\tok\twall_s\tcpu_s\tmsgs_per_s\tcpu_us_per_msg\tsink_cpu_us_per_msg\n' >"$OUT"
echo "# size tool round messages ok wall_s cpu_s msgs/s cpu_us/msg sink_cpu_us/msg" >&2

read -ra tool_list <<<"$TOOLS"
for size in $SIZES; do
  for round in $(seq "$RUNS"); do
    # Rotate the order each round so no tool always runs first.
    count=${#tool_list[@]}
    for i in $(seq 0 $((count - 1))); do
      run_one "${tool_list[$(((i + round - 1) % count))]}" "$size" "$round"
    done
  done
done

# column_median SIZE TOOL COLUMN: median of COLUMN over the rounds.
column_median() {
  local values
  mapfile -t values < <(awk -F'\t' -v s="$1" -v t="$2" -v c="$3" \
    '$1 == s && $2 == t {print $c}' "$OUT")
  e2e_median "${values[@]}"
}

# Medians per (size, tool) and the ratios against smtp-source -d (same
# connection reuse as the blaster) and plain smtp-source (a connection per
# message). Ratios: msgs/s tool/source (>1: tool faster), CPU/msg
# tool/source (<1: tool cheaper).
summary() {
  local size tool rate cpu sink
  printf '\n%-6s %-15s %10s %11s %11s %9s %9s %9s %9s\n' size tool "msgs/s" \
    "cpu_us/msg" "sink_us/msg" "rate/-d" "cpu/-d" "rate/new" "cpu/new"
  for size in $SIZES; do
    local reuse_rate reuse_cpu new_rate new_cpu
    reuse_rate="$(column_median "$size" source_reuse 8)"
    reuse_cpu="$(column_median "$size" source_reuse 9)"
    new_rate="$(column_median "$size" source_new 8)"
    new_cpu="$(column_median "$size" source_new 9)"
    for tool in $TOOLS; do
      rate="$(column_median "$size" "$tool" 8)"
      cpu="$(column_median "$size" "$tool" 9)"
      sink="$(column_median "$size" "$tool" 10)"
      awk -v size="$size" -v tool="$tool" -v r="$rate" -v c="$cpu" -v k="$sink" \
        -v rr="$reuse_rate" -v rc="$reuse_cpu" -v nr="$new_rate" -v nc="$new_cpu" '
        function ratio(a, b) { return (b + 0 > 0) ? sprintf("%.2f", a / b) : "-" }
        BEGIN {
          printf "%-6s %-15s %10.1f %11.1f %11.1f %9s %9s %9s %9s\n", size, tool,
            r, c, k, ratio(r, rr), ratio(c, rc), ratio(r, nr), ratio(c, nc)
        }'
    done
  done
}
summary
echo "# raw results: $OUT" >&2
