#!/usr/bin/env bash
# Installs the Debian 12 packages etrnd needs.
#   install-deps.sh            everything: building, running and testing
#   install-deps.sh --build    only what building and running need
#                              (tools/build.sh, tools/run.sh)
# Idempotent: when everything is already installed it only runs dpkg-query.
# Works as root with no stdin (CI); uses sudo when run as another user.
set -euo pipefail

# Building and running etrnd and smtp-blaster (python3: tools/embed_file.py).
readonly BUILD_PACKAGES=(
  g++ meson ninja-build pkg-config python3
  liburing-dev libmimalloc-dev libabsl-dev libc-ares-dev libpsl-dev publicsuffix
  libssl-dev libcrypt-dev
)
# The test suite (tools/test.sh): unit tests and benchmarks, the integration
# tests' peers, the fuzzers' compiler, the packaging test's tools.
readonly TEST_PACKAGES=(
  clang libgtest-dev libgmock-dev libbenchmark-dev
  python3-pytest swaks postfix fetchmail dnsmasq-base haproxy prometheus
  openssl dovecot-core iproute2
  dpkg-dev debhelper fakeroot lintian systemd
)
# Only for the libFuzzer harnesses; skipped where the archive lacks it.
readonly OPTIONAL_TEST_PACKAGES=(libclang-rt-14-dev)

PACKAGES=("${BUILD_PACKAGES[@]}")
OPTIONAL_PACKAGES=()
case "${1:-}" in
  --build) ;;
  "")
    PACKAGES+=("${TEST_PACKAGES[@]}")
    OPTIONAL_PACKAGES+=("${OPTIONAL_TEST_PACKAGES[@]}")
    ;;
  *)
    echo "usage: $0 [--build]" >&2
    exit 2
    ;;
esac
readonly PACKAGES OPTIONAL_PACKAGES

SUDO=()
if [[ ${EUID} -ne 0 ]]; then
  SUDO=(sudo -n)
fi

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing_from() {
  local p
  for p in "$@"; do
    is_installed "$p" || echo "$p"
  done
}

# Postfix is installed only for its smtp-source / smtp-sink test tools: keep
# its daemon from being configured as a mailer or left running.
stop_postfix_daemon() {
  if [[ -x /usr/sbin/postfix ]] && "${SUDO[@]}" /usr/sbin/postfix status >/dev/null 2>&1; then
    "${SUDO[@]}" /usr/sbin/postfix stop >/dev/null 2>&1 || true
  fi
}

main() {
  mapfile -t missing < <(missing_from "${PACKAGES[@]}")
  mapfile -t missing_optional < <(missing_from "${OPTIONAL_PACKAGES[@]+"${OPTIONAL_PACKAGES[@]}"}")
  if [[ ${#missing[@]} -eq 0 && ${#missing_optional[@]} -eq 0 ]]; then
    echo "install-deps: all packages present"
    stop_postfix_daemon
    return 0
  fi

  export DEBIAN_FRONTEND=noninteractive
  echo "install-deps: installing ${missing[*]} ${missing_optional[*]}"
  "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -q </dev/null

  local p
  for p in "${missing_optional[@]+"${missing_optional[@]}"}"; do
    if [[ -n "$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"')" ]]; then
      missing+=("$p")
    else
      echo "install-deps: optional package $p not available, skipping"
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  echo 'postfix postfix/main_mailer_type select No configuration' |
    "${SUDO[@]}" debconf-set-selections

  # Forbid service starts during the install (Debian's policy-rc.d protocol);
  # remove our guard afterwards only if we created it.
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
    --no-install-recommends "${missing[@]}" </dev/null || rc=$?
  if [[ ${made_policy} -eq 1 ]]; then
    "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d
  fi
  stop_postfix_daemon
  return "${rc}"
}

main "$@"
