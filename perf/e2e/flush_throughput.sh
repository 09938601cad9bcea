#!/usr/bin/env bash
# Flush throughput, side by side: queue MESSAGES messages of SIZE bytes for
# the held domain d0.test (smtp-source -d fills the queue), then start Postfix's
# smtp-sink as the next hop, send ETRN d0.test and time from just before the
# ETRN to the moment the sink has received the last message.
#   etrnd:   `.test 127.0.0.1:SINK hold` (defaults: --connections_per_destination=4)
#   postfix: relay_transport = hold:[127.0.0.1]:SINK, defer_transports = hold,
#            fast_flush_domains = test; ETRN against its smtpd (flush(8) moves
#            the deferred files to incoming, qmgr delivers with the smtp client;
#            default concurrency: initial 5, limit 20 per destination).
# Each round gets fresh queues; the order of systems alternates per round.
# The sink's running counter (smtp-sink -c) is polled every POLL_S seconds,
# which bounds the timing resolution.
#
# Usage (as root, for Postfix): perf/e2e/flush_throughput.sh
# Knobs: MESSAGES=10000 SIZE=4096 RUNS=3 SYSTEMS="etrnd postfix"
#   FILL_CONNECTIONS=32 FILLER=smtp-source|blaster ETRND_FLAGS="" FLUSH_TIMEOUT_S=300 OUT=file.tsv
set -euo pipefail
source "$(dirname "$0")/lib.sh"

MESSAGES="${MESSAGES:-10000}"
SIZE="${SIZE:-4096}"
RUNS="${RUNS:-3}"
SYSTEMS="${SYSTEMS:-etrnd postfix}"
FILL_CONNECTIONS="${FILL_CONNECTIONS:-32}"
ETRND_FLAGS="${ETRND_FLAGS:-}"
FLUSH_TIMEOUT_S="${FLUSH_TIMEOUT_S:-300}"
SETTLE_TIMEOUT_S="${SETTLE_TIMEOUT_S:-300}"
FILL_TIMEOUT_S="${FILL_TIMEOUT_S:-600}"
POLL_S="${POLL_S:-0.05}"

e2e_init
OUT="${OUT:-$E2E_TMP/flush.tsv}"
SINK_PORT="$(e2e_free_port)"
POSTFIX_PORT="$(e2e_free_port)"
echo ".test 127.0.0.1:$SINK_PORT hold" >"$E2E_TMP/domains.conf"

# Messages the sink has received so far (last "mesg=N" of smtp-sink -c).
sink_count() {
  local tail_text
  tail_text="$(tail -c 80 "$E2E_TMP/sink-$SINK_PORT.out" 2>/dev/null || true)"
  tail_text="${tail_text##*mesg=}"
  tail_text="${tail_text%%[!0-9]*}"
  echo "${tail_text:-0}"
}

# Postfix: waits until the queue manager has moved every accepted message to
# the deferred queue (incoming and active empty), so the flush starts from the
# same state as etrnd's: everything durably queued and indexed, nothing moving.
postfix_settle() {
  local queue="$E2E_TMP/postfix/queue" i busy
  for i in $(seq $((SETTLE_TIMEOUT_S * 4))); do
    busy="$(find "$queue/incoming" "$queue/active" -type f | wc -l)"
    [ "$busy" = 0 ] && return 0
    sleep 0.25
  done
  echo "postfix queue did not settle ($busy busy)" >&2
  return 1
}

# Queues MESSAGES messages for d0.test through PORT; prints how many were
# accepted. smtp-source by default (FILLER=blaster uses smtp-blaster).
fill() {
  local port="$1"
  if [ "${FILLER:-smtp-source}" = blaster ]; then
    "$BLASTER_BIN" --target="127.0.0.1:$port" --connections="$FILL_CONNECTIONS" \
      --messages="$MESSAGES" --size="$SIZE" --domains=1 --domain_pattern='d%d.test' \
      --progress=false --json --seed=1 >"$E2E_TMP/fill.json" 2>"$E2E_TMP/fill.err" || {
      echo "fill failed: $(head -c 300 "$E2E_TMP/fill.err")" >&2
      return 1
    }
    grep -o '"messages_ok":[0-9]*' "$E2E_TMP/fill.json" | cut -d: -f2
  else
    timeout "$FILL_TIMEOUT_S" "$SMTP_SOURCE" -d -s "$FILL_CONNECTIONS" -m "$MESSAGES" \
      -l "$SIZE" -f s@x.test -t r@d0.test "127.0.0.1:$port" >/dev/null 2>"$E2E_TMP/fill.err" || {
      echo "fill failed: $(head -c 300 "$E2E_TMP/fill.err")" >&2
      return 1
    }
    echo "$MESSAGES"
  fi
}

measure() {
  local system="$1" round="$2" port ok reply start end count load i
  load="$(cut -d' ' -f1 /proc/loadavg)"
  case "$system" in
    etrnd)
      port="$(e2e_free_port)"
      # shellcheck disable=SC2086
      e2e_start_etrnd etrnd "$port" true "$E2E_TMP/domains.conf" $ETRND_FLAGS
      ;;
    postfix)
      port="$POSTFIX_PORT"
      local conf="$E2E_TMP/postfix/conf"
      [ -d "$conf" ] || e2e_postfix_create postfix "$POSTFIX_PORT" "$SINK_PORT" >/dev/null
      e2e_postfix_empty "$conf"
      e2e_postfix_start "$conf"
      ;;
  esac
  ok="$(fill "$port")"
  [ "$system" = postfix ] && postfix_settle
  e2e_start_sink "$SINK_PORT"
  start="$EPOCHREALTIME"
  reply="$(e2e_smtp_etrn "$port" d0.test)"
  count=0
  for i in $(seq "$(awk -v t="$FLUSH_TIMEOUT_S" -v p="$POLL_S" 'BEGIN{print int(t/p)}')"); do
    count="$(sink_count)"
    [ "$count" -ge "$ok" ] && break
    sleep "$POLL_S"
  done
  end="$EPOCHREALTIME"
  e2e_stop_pid "$SINK_PID"
  case "$system" in
    etrnd) e2e_stop_pid "$ETRND_PID" ;;
    postfix) e2e_postfix_stop "$E2E_TMP/postfix/conf" ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$system" "$round" "$ok" "$count" \
    "$(awk -v s="$start" -v e="$end" 'BEGIN{printf "%.2f", e-s}')" \
    "$(awk -v s="$start" -v e="$end" -v m="$count" 'BEGIN{printf "%.0f", m/(e-s)}')" \
    "$load" "${reply:0:60}" | tee -a "$OUT"
}

echo "# $(e2e_machine_notes)"
if [ "${FILLER:-smtp-source}" = blaster ]; then
  echo "# fill: smtp-blaster --connections=$FILL_CONNECTIONS --messages=$MESSAGES --size=$SIZE --domains=1 --domain_pattern=d%d.test (= d0.test); then ETRN d0.test"
else
  echo "# fill: smtp-source -d -s $FILL_CONNECTIONS -m $MESSAGES -l $SIZE -f s@x.test -t r@d0.test; then ETRN d0.test"
fi
printf 'system\tround\tqueued\tdelivered\tseconds\tmsgs_per_s\tloadavg1\tetrn_reply\n' | tee "$OUT"
read -r -a systems <<<"$SYSTEMS"
n=${#systems[@]}
for round in $(seq "$RUNS"); do
  for i in $(seq 0 $((n - 1))); do
    measure "${systems[$(((i + round - 1) % n))]}" "$round"
  done
done

echo
echo "# medians over $RUNS rounds (ETRN to last message at the sink)"
printf 'system\tseconds\tmsgs_per_s\n'
for s in "${systems[@]}"; do
  # shellcheck disable=SC2046
  printf '%s\t%s\t%s\n' "$s" \
    "$(e2e_median $(awk -F'\t' -v s="$s" '$1==s && $4>=$3 {print $5}' "$OUT"))" \
    "$(e2e_median $(awk -F'\t' -v s="$s" '$1==s && $4>=$3 {print $6}' "$OUT"))"
done
