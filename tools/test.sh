#!/usr/bin/env bash
# The whole test suite (what .ci/run calls): release build + unit tests,
# ASan/UBSan build + unit tests, then the integration tests (pytest against
# the real etrnd and smtp-blaster binaries). Non-interactive; exits non-zero
# if any stage fails and prints one summary line at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

readonly JOBS="${ETRND_BUILD_JOBS:-2}"  # the reference machine has 2 cores
readonly PYTHON=/usr/bin/python3        # the Debian python that has pytest
export CI="${CI:-true}"

declare -a passed=() failed=()
started_at=${SECONDS}

stage() {
  local name="$1"
  shift
  echo "=== ${name}"
  local t0=${SECONDS}
  if "$@" </dev/null; then
    passed+=("${name}")
    echo "=== ${name}: ok ($((SECONDS - t0)) s)"
    return 0
  fi
  failed+=("${name}")
  echo "=== ${name}: FAILED ($((SECONDS - t0)) s)"
  return 1
}

summary_and_exit() {
  local total=$((SECONDS - started_at))
  if [[ ${#failed[@]} -eq 0 ]]; then
    echo "SUMMARY: PASS (${#passed[@]} stages: ${passed[*]}) in ${total} s"
    exit 0
  fi
  echo "SUMMARY: FAIL (failed: ${failed[*]}; passed: ${passed[*]:-none}) in ${total} s"
  exit 1
}

setup_dir() {
  local dir="$1"
  shift
  if [[ -f "${dir}/build.ninja" ]]; then
    meson setup --reconfigure "${dir}" "$@"
  else
    meson setup "${dir}" "$@"
  fi
}

build_release() {
  setup_dir build --buildtype=release && ninja -C build -j"${JOBS}"
}

build_asan() {
  setup_dir build-asan --buildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false -Dperf=false &&
    ninja -C build-asan -j"${JOBS}"
}

unit_release() {
  meson test -C build --print-errorlogs --num-processes "${JOBS}"
}

unit_asan() {
  # Make every sanitizer report fatal so it fails the test that caused it.
  ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}" \
    meson test -C build-asan --print-errorlogs --num-processes "${JOBS}" \
      --timeout-multiplier 3
}

integration() {
  ETRND_BIN="${PWD}/build/etrnd" BLASTER_BIN="${PWD}/build/smtp-blaster" \
    "${PYTHON}" -m pytest -q -p no:cacheprovider tests/integration
}

stage install-deps bash tools/install-deps.sh || summary_and_exit
stage build-release build_release || summary_and_exit
stage unit-release unit_release
if stage build-asan build_asan; then
  stage unit-asan unit_asan
fi
stage integration integration
summary_and_exit
