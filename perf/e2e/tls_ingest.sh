#!/usr/bin/env bash
# Ingest over STARTTLS against plaintext, side by side in one run: each round
# runs the four cases in turn against a fresh etrnd (same build), so load
# from other users of the machine hits them alike. Prints msgs/s and the
# server's CPU per message (user+system time of the etrnd process over the
# run, divided by the messages); take the medians.
#
# Cases: plain / tls with connection reuse (--connections sessions, many
# messages each), and plain / tls with a new connection per message
# (--messages_per_connection=1: the TLS handshake is in every message).
#
# Usage: perf/e2e/tls_ingest.sh BUILD_DIR
# Knobs: SIZE=1024 N=20000 N_NEWCONN=3000 ROUNDS=3 CONNECTIONS=32 KEY=rsa|ec
# (KEY=ec: an ECDSA P-256 certificate, whose handshakes cost far less CPU)
set -euo pipefail
readonly BUILD="$1"
readonly SIZE="${SIZE:-1024}" N="${N:-20000}" N_NEWCONN="${N_NEWCONN:-3000}"
readonly ROUNDS="${ROUNDS:-3}" CONNECTIONS="${CONNECTIONS:-32}" KEY="${KEY:-rsa}"
readonly TICKS="$(getconf CLK_TCK)"
certs="$(mktemp -d)"
trap 'rm -rf "${certs}"' EXIT
key_options=(-newkey rsa:2048)
[[ "${KEY}" == ec ]] && key_options=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
openssl req -x509 "${key_options[@]}" -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
  -keyout "${certs}/key.pem" -out "${certs}/cert.pem" 2>/dev/null

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_case() {  # name tls(0|1) messages per_connection
  local name="$1" tls="$2" messages="$3" per_connection="$4"
  local work port pid before after result tls_flags=() blaster_flags=()
  work="$(mktemp -d)"
  echo ".test 127.0.0.1:9 hold" >"${work}/domains.conf"
  port=$((20000 + RANDOM % 9000))
  if [[ "${tls}" == 1 ]]; then
    tls_flags=(--tls_cert="${certs}/cert.pem" --tls_key="${certs}/key.pem")
    blaster_flags=(--starttls)
  fi
  "${BUILD}/etrnd" --listen="127.0.0.1:${port}" --spool_dir="${work}/spool" \
    --domains_file="${work}/domains.conf" --threads=2 --max_connections_per_ip=1000 \
    --log_level=warning "${tls_flags[@]}" >"${work}/log" 2>&1 &
  pid=$!
  sleep 0.7
  before="$(cpu_ticks "${pid}")"
  result="$("${BUILD}/smtp-blaster" --target="127.0.0.1:${port}" --connections="${CONNECTIONS}" \
    --messages="${messages}" --messages_per_connection="${per_connection}" --size="${SIZE}" \
    --domains=100 --domain_pattern='d%d.test' --progress=false --json "${blaster_flags[@]}" |
    python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["messages_ok"], round(j["messages_per_second"]))')"
  after="$(cpu_ticks "${pid}")"
  kill "${pid}"
  wait "${pid}" 2>/dev/null || true
  rm -rf "${work}"
  read -r ok rate <<<"${result}"
  python3 - "${name}" "${ok}" "${rate}" "$((after - before))" "${TICKS}" <<'PY'
import sys
name, ok, rate, ticks, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cpu_us = ticks / hz * 1e6 / max(ok, 1)
print(f"{name:<22} ok={ok:<6} msgs/s={rate:<7} server_cpu_us/msg={cpu_us:.1f}")
PY
}

for round in $(seq "${ROUNDS}"); do
  echo "round ${round}"
  run_case "plain reuse" 0 "${N}" 0
  run_case "starttls reuse" 1 "${N}" 0
  run_case "plain new-conn" 0 "${N_NEWCONN}" 1
  run_case "starttls new-conn" 1 "${N_NEWCONN}" 1
done
