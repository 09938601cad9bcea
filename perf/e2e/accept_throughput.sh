#!/usr/bin/env bash
# Accept throughput, side by side: Postfix's smtp-source against
#   etrnd --fsync=true, etrnd --fsync=false, Postfix smtp-sink (stores
#   nothing: the protocol-only reference), and a private Postfix instance
#   that relays *.test into its deferred queue (defer_transports).
# Every measurement starts from an empty queue; the systems are alternated
# inside each round (rotating order) so that load from other users of the
# machine hits all of them alike. Reports messages/s from the wall time of
# smtp-source, the median over the rounds, and etrnd/postfix ratios.
#
# Usage (as root, for Postfix): perf/e2e/accept_throughput.sh
# Knobs (environment): SESSIONS=32 MESSAGES=20000 SIZES="1024 16384" RUNS=3
#   SYSTEMS="etrnd_fsync etrnd_nofsync smtp_sink postfix"
#   SOURCE_OPTS="" (e.g. "-d" to reuse connections) OUT=file.tsv
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SESSIONS="${SESSIONS:-32}"
MESSAGES="${MESSAGES:-20000}"
SIZES="${SIZES:-1024 16384}"
RUNS="${RUNS:-3}"
SYSTEMS="${SYSTEMS:-etrnd_fsync etrnd_nofsync smtp_sink postfix}"
SOURCE_OPTS="${SOURCE_OPTS:-}"
RUN_TIMEOUT_S="${RUN_TIMEOUT_S:-120}"

e2e_init
OUT="${OUT:-$E2E_TMP/accept.tsv}"
NEXTHOP_PORT="$(e2e_free_port)" # nothing listens: held mail stays queued
POSTFIX_PORT="$(e2e_free_port)"
echo ".test 127.0.0.1:$NEXTHOP_PORT hold" >"$E2E_TMP/domains.conf"

# Starts SYSTEM on PORT with an empty queue; sets STOP_CMD.
start_system() {
  local system="$1" port="$2"
  case "$system" in
    etrnd_fsync | etrnd_nofsync)
      local fsync=true
      [ "$system" = etrnd_nofsync ] && fsync=false
      e2e_start_etrnd "$system" "$port" "$fsync" "$E2E_TMP/domains.conf"
      STOP_CMD="e2e_stop_pid $ETRND_PID"
      ;;
    smtp_sink)
      e2e_start_sink "$port"
      STOP_CMD="e2e_stop_pid $SINK_PID"
      ;;
    postfix)
      # One instance for the whole script (creating one costs ~15 s of
      # set-permissions); its queue is emptied before every measurement.
      local conf="$E2E_TMP/postfix/conf"
      if [ ! -d "$conf" ]; then
        e2e_postfix_create postfix "$POSTFIX_PORT" "$NEXTHOP_PORT" >/dev/null
      fi
      e2e_postfix_empty "$conf"
      e2e_postfix_start "$conf"
      STOP_CMD="e2e_postfix_stop $conf"
      ;;
    *)
      echo "unknown system $system" >&2
      return 1
      ;;
  esac
}

# How many messages SYSTEM holds after a run (a check that nothing was lost).
stored_count() {
  local system="$1" port="$2" reply
  case "$system" in
    etrnd_*)
      # The ETRN reply carries the exact queued count for the domain.
      reply="$(e2e_smtp_etrn "$port" d1.test)"
      if [[ "$reply" =~ ([0-9]+)\ pending ]]; then echo "${BASH_REMATCH[1]}"; else echo 0; fi
      ;;
    postfix)
      # Every accepted message is one queue file (fsynced before the 250).
      e2e_postfix_queued "$E2E_TMP/postfix/conf"
      ;;
    *) echo "-" ;;
  esac
}

measure() {
  local system="$1" size="$2" round="$3" port start end rate stored load rc=0
  port="$(e2e_free_port)"
  [ "$system" = postfix ] && port="$POSTFIX_PORT"
  load="$(cut -d' ' -f1 /proc/loadavg)"
  start_system "$system" "$port"
  start="$EPOCHREALTIME"
  # shellcheck disable=SC2086
  timeout "$RUN_TIMEOUT_S" "$SMTP_SOURCE" $SOURCE_OPTS -s "$SESSIONS" -m "$MESSAGES" \
    -l "$size" -c -f s@x.test -t r@d1.test "127.0.0.1:$port" \
    >/dev/null 2>"$E2E_TMP/source.err" || rc=$?
  end="$EPOCHREALTIME"
  rate="$(awk -v s="$start" -v e="$end" -v m="$MESSAGES" 'BEGIN{printf "%.0f", m/(e-s)}')"
  stored="$(stored_count "$system" "$port")"
  $STOP_CMD
  if [ "$rc" != 0 ]; then
    echo "  ! smtp-source exit $rc: $(head -c 300 "$E2E_TMP/source.err")" >&2
    rate=nan
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$size" "$round" "$rate" \
    "$(awk -v s="$start" -v e="$end" 'BEGIN{printf "%.2f", e-s}')" "$stored" "$load" |
    tee -a "$OUT"
}

echo "# $(e2e_machine_notes)"
echo "# smtp-source $SOURCE_OPTS -s $SESSIONS -m $MESSAGES -l SIZE -c -f s@x.test -t r@d1.test 127.0.0.1:PORT"
printf 'system\tsize\tround\tmsgs_per_s\tseconds\tstored\tloadavg1\n' | tee "$OUT"
read -r -a systems <<<"$SYSTEMS"
n=${#systems[@]}
for round in $(seq "$RUNS"); do
  for size in $SIZES; do
    for i in $(seq 0 $((n - 1))); do
      # Rotate the order each round so no system always runs first or last.
      measure "${systems[$(((i + round - 1) % n))]}" "$size" "$round"
    done
  done
done

echo
echo "# medians (msgs/s) over $RUNS rounds"
printf 'size'
for s in "${systems[@]}"; do printf '\t%s' "$s"; done
printf '\tetrnd_fsync/postfix\tetrnd_nofsync/postfix\n'
for size in $SIZES; do
  printf '%s' "$size"
  declare -A med=()
  for s in "${systems[@]}"; do
    # shellcheck disable=SC2046
    med[$s]="$(e2e_median $(awk -F'\t' -v s="$s" -v z="$size" \
      '$1==s && $2==z && $4!="nan"{print $4}' "$OUT"))"
    printf '\t%s' "${med[$s]}"
  done
  for s in etrnd_fsync etrnd_nofsync; do
    awk -v a="${med[$s]:-nan}" -v b="${med[postfix]:-nan}" \
      'BEGIN{ if (b+0 > 0 && a+0 > 0) printf "\t%.2f", a/b; else printf "\t-" }'
  done
  echo
  unset med
done
