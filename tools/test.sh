#!/usr/bin/env bash
# The whole test suite (what .ci/run calls): release build + unit tests,
# ASan/UBSan build + unit tests, then the integration tests (pytest against
# the real etrnd and smtp-blaster binaries), the Debian package test and a
# short fuzz run. Non-interactive; exits non-zero
# if any stage fails and prints one summary line at the end.
set -uo pipefail
cd "$(dirname "$0")/.."

readonly JOBS="${ETRND_BUILD_JOBS:-2}"  # the reference machine has 2 cores
readonly BUILD="${ETRND_BUILD_DIR:-build}"
readonly ASAN_BUILD="${ETRND_ASAN_BUILD_DIR:-build-asan}"
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
  if [[ -f "${dir}/build.ninja" ]] && ! grep -q 'tests/unit/' "${dir}/build.ninja"; then
    # Set up by tools/run.sh before GoogleTest was installed: meson
    # remembers the missing dependency, so start that directory afresh.
    meson setup --wipe "${dir}" "$@"
  elif [[ -f "${dir}/build.ninja" ]]; then
    # `meson configure` (not `setup --reconfigure`): meson 1.0 ignores
    # compiler arguments given on a reconfigure.
    meson configure "${dir}" "$@"
  else
    meson setup "${dir}" "$@"
  fi
}

# GCC 12 at -O3 reports a false -Wrestrict inside libstdc++ for
# `"literal" + std::string` (GCC bug 105329); every other warning stays an error.
readonly RELEASE_OPTIONS=(-Dbuildtype=release -Dcpp_args=-Wno-restrict)

build_release() {
  setup_dir "${BUILD}" "${RELEASE_OPTIONS[@]}" && ninja -C "${BUILD}" -j"${JOBS}"
}

# Warnings are gated by the release build; GCC's instrumentation for the
# sanitizers makes flow warnings (-Wmaybe-uninitialized) fire falsely, so
# this build only checks behaviour at run time. -O1 (ASan's own advice)
# compiles much faster than -O2 and keeps stack traces exact.
build_asan() {
  setup_dir "${ASAN_BUILD}" -Doptimization=1 -Ddebug=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dperf=false -Dwerror=false &&
    ninja -C "${ASAN_BUILD}" -j"${JOBS}"
}

# ThreadSanitizer over the unit tests whose threads meet (cross-core PostTo
# and Post, reactor threads against test threads, the blaster's workers, the
# lock-free connection limiter, the AUTH verifier thread, the peer links).
# Only those
# targets are built: a whole TSan build would double the CI time.
readonly TSAN_BUILD="${ETRND_TSAN_BUILD_DIR:-build-tsan}"
readonly TSAN_TESTS=(unit_reactor unit_dns unit_blaster unit_server unit_auth unit_peers_links unit_qmgr
  unit_group_commit)
build_tsan() {
  setup_dir "${TSAN_BUILD}" -Doptimization=1 -Ddebug=true -Db_sanitize=thread \
    -Db_lundef=false -Dperf=false -Dwerror=false &&
    ninja -C "${TSAN_BUILD}" -j"${JOBS}" \
      tests/unit/reactor/unit_reactor tests/unit/delivery/unit_dns tests/unit/blaster/unit_blaster \
      tests/unit/server/unit_server tests/unit/auth/unit_auth tests/unit/peers/unit_peers_links \
      tests/unit/qmgr/unit_qmgr tests/unit/spool/unit_group_commit
}

unit_tsan() {
  local t
  for t in "${TSAN_TESTS[@]}"; do
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
      meson test -C "${TSAN_BUILD}" --no-rebuild --print-errorlogs --timeout-multiplier 3 "$t" ||
      return 1
  done
}

unit_release() {
  meson test -C "${BUILD}" --print-errorlogs --num-processes "${JOBS}"
}

unit_asan() {
  with_sanitizer_options meson test -C "${ASAN_BUILD}" --print-errorlogs \
    --num-processes "${JOBS}" --timeout-multiplier 3
}

# Make every sanitizer report fatal so it fails the test that caused it.
with_sanitizer_options() {
  ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}" \
    "$@"
}

integration() {
  ETRND_BIN="${PWD}/${BUILD}/etrnd" BLASTER_BIN="${PWD}/${BUILD}/smtp-blaster" ETRNCTL_BIN="${PWD}/${BUILD}/etrnctl" \
    "${PYTHON}" -m pytest -q -p no:cacheprovider tests/integration
}

# The same tests against the sanitizer build (the harness fails a test whose
# server logged a sanitizer report); the 10,000-message load test is left to
# the release stage to keep the suite short.
integration_asan() {
  ETRND_BIN="${PWD}/${ASAN_BUILD}/etrnd" BLASTER_BIN="${PWD}/${ASAN_BUILD}/smtp-blaster" ETRNCTL_BIN="${PWD}/${ASAN_BUILD}/etrnctl" \
    ETRND_SANITIZER=1 with_sanitizer_options "${PYTHON}" -m pytest -q -p no:cacheprovider tests/integration \
      -k "not ten_thousand and not 1e5"
}

stage install-deps bash tools/install-deps.sh || summary_and_exit
stage build-release build_release || summary_and_exit
stage unit-release unit_release
if stage build-asan build_asan; then
  stage unit-asan unit_asan
fi
if stage build-tsan build_tsan; then
  stage unit-tsan unit_tsan
fi
stage integration integration
if [[ " ${passed[*]} " == *" build-asan "* ]]; then
  stage integration-asan integration_asan
fi
# The Debian package: dpkg-buildpackage, lintian, apt-get install, the
# installed etrnd serving one message as user etrnd (tests/packaging/).
stage package bash tests/packaging/test_deb.sh
# libFuzzer (clang, ASan+UBSan) over the SMTP parsers and the domains table,
# a short bounded run each; longer runs: bash tools/fuzz.sh 600.
stage fuzz bash tools/fuzz.sh "${ETRND_FUZZ_SECONDS:-10}"
summary_and_exit
