#!/usr/bin/env bash
# Ingest A/B: two etrnd builds side by side, alternating inside each round so
# that load from other users of the machine hits both alike. Prints msgs/s,
# p50 and p99 (us) per run; take the medians.
#
# Usage: perf/e2e/ingest_ab.sh OLD_BUILD_DIR NEW_BUILD_DIR
# Knobs: SIZE=1024 N=30000 ROUNDS=3 CONNECTIONS=32
set -euo pipefail
readonly OLD="$1" NEW="$2"
readonly SIZE="${SIZE:-1024}" N="${N:-30000}" ROUNDS="${ROUNDS:-3}" CONNECTIONS="${CONNECTIONS:-32}"
blaster="${NEW}/smtp-blaster"
for round in $(seq "${ROUNDS}"); do
  for which in old new; do
    dir="${OLD}"
    [[ "${which}" == new ]] && dir="${NEW}"
    work="$(mktemp -d)"
    echo ".test 127.0.0.1:9 hold" >"${work}/domains.conf"
    port=$((20000 + RANDOM % 9000))
    "${dir}/etrnd" --listen="127.0.0.1:${port}" --spool_dir="${work}/spool" \
      --domains_file="${work}/domains.conf" --threads=2 --max_connections_per_ip=1000 \
      --log_level=warning >"${work}/log" 2>&1 &
    pid=$!
    sleep 0.7
    result="$("${blaster}" --target="127.0.0.1:${port}" --connections="${CONNECTIONS}" \
      --messages="${N}" --size="${SIZE}" --domains=100 --domain_pattern='d%d.test' --json |
      python3 -c 'import json,sys; j=json.load(sys.stdin); print(round(j["messages_per_second"]), j["latency_us"]["p50"], j["latency_us"]["p99"])')"
    echo "${which} size=${SIZE} round=${round} msgs/s p50_us p99_us: ${result}"
    kill "${pid}"
    wait "${pid}" 2>/dev/null || true
    rm -rf "${work}"
  done
done
