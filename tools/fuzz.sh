#!/usr/bin/env bash
# Builds the libFuzzer harnesses under tests/fuzz with clang (ASan + UBSan)
# and runs each for a bounded time on its seed corpus (the spool recovery
# harness builds real spool directories under /dev/shm). A crash, leak or
# sanitizer report fails the script. Usage: tools/fuzz.sh [seconds_per_harness]
set -euo pipefail
cd "$(dirname "$0")/.."

readonly SECONDS_PER_HARNESS="${1:-20}"
readonly OUT=build-fuzz
mkdir -p "${OUT}"

absl_flags=$(pkg-config --cflags --libs absl_strings absl_str_format absl_status absl_statusor \
  absl_time absl_hash absl_raw_hash_set)
common_sources=(src/common/*.cc)
# SMTP AUTH (src/auth): the SMTP session and the domains table's auth= use it.
auth_sources=(src/auth/*.cc $(pkg-config --cflags --libs openssl libxcrypt))

build_and_run() {
  local name="$1"
  shift
  local binary="${OUT}/${name}"
  echo "--- fuzz ${name}: build"
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iinclude "tests/fuzz/${name}.cc" "$@" "${common_sources[@]}" ${absl_flags} -o "${binary}"
  local corpus="${OUT}/corpus-${name}"
  mkdir -p "${corpus}"
  echo "--- fuzz ${name}: ${SECONDS_PER_HARNESS}s"
  "${binary}" -max_total_time="${SECONDS_PER_HARNESS}" -max_len=8192 -print_final_stats=1 \
    "${corpus}" "tests/fuzz/corpus/$(echo "${name}" | cut -d_ -f1)" 2>&1 | tail -n 12
}

build_and_run smtp_line_reader_fuzz src/smtp/*.cc "${auth_sources[@]}"
build_and_run smtp_data_decoder_fuzz src/smtp/*.cc "${auth_sources[@]}"
build_and_run smtp_server_session_fuzz src/smtp/*.cc "${auth_sources[@]}"
build_and_run auth_dialogue_fuzz src/smtp/*.cc "${auth_sources[@]}"
build_and_run smtp_client_session_fuzz src/smtp/*.cc "${auth_sources[@]}"
build_and_run metrics_http_request_fuzz src/metrics/http_request.cc
build_and_run proxy_header_fuzz src/proxy/*.cc
# The spool's pure parts: the ring reader and the group committer
# (spool_reader.cc, group_commit.cc) need a reactor.
spool_sources=()
for f in src/spool/*.cc; do
  [[ "${f}" == src/spool/spool_reader.cc || "${f}" == src/spool/group_commit.cc ]] ||
    spool_sources+=("${f}")
done
# Recovery keys messages by queue id (control_request.cc) and interns
# lower-case domains (domain_name.cc).
build_and_run spool_recovery_fuzz "${spool_sources[@]}" src/control/control_request.cc \
  src/config/domain_name.cc
if [[ -f tests/fuzz/config_domains_table_fuzz.cc ]]; then
  # The table refuses public-suffix patterns through libpsl.
  build_and_run config_domains_table_fuzz src/config/*.cc "${auth_sources[@]}" \
    $(pkg-config --cflags --libs libpsl)
fi
echo "fuzz: all harnesses ran clean"
