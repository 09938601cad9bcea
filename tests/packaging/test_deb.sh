#!/usr/bin/env bash
# Packaging test: builds the Debian package from a copy of the working tree,
# checks it with lintian, installs it on this (throwaway CI) machine with
# apt-get, verifies the systemd unit, then runs the unit's ExecStart by hand
# (no systemd PID 1 here) as root with --user=etrnd on a loopback port and a
# temporary spool, and sends it one message with swaks. Purges the package
# at the end unless ETRND_KEEP_PACKAGE=1.
#
# Skips (exit 0) where dpkg-buildpackage is not installed.
set -euo pipefail
cd "$(dirname "$0")/../.."

readonly REPO="${PWD}"
# A fixed build path: the compiler's debug info names it, so ccache only
# hits again when it stays the same.
readonly WORK="${ETRND_PKG_WORK:-${TMPDIR:-/tmp}/etrnd-pkg-test}"
readonly JOBS="${ETRND_BUILD_JOBS:-2}"
readonly START_TIMEOUT_S=30
readonly STOP_TIMEOUT_S=15

log() { echo "test_deb: $*"; }
fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }

if ! command -v dpkg-buildpackage >/dev/null; then
  log "SKIP: dpkg-buildpackage not installed"
  exit 0
fi
SUDO=()
[[ ${EUID} -ne 0 ]] && SUDO=(sudo -n)

server_pid=""
made_policy=0
cleanup() {
  if [[ -n "${server_pid}" ]] && kill -0 "${server_pid}" 2>/dev/null; then
    "${SUDO[@]}" kill -KILL "${server_pid}" 2>/dev/null || true
  fi
  if [[ ${made_policy} -eq 1 ]]; then "${SUDO[@]}" rm -f /usr/sbin/policy-rc.d; fi
  if [[ "${ETRND_KEEP_PACKAGE:-0}" != 1 ]] && dpkg-query -W etrnd >/dev/null 2>&1; then
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q etrnd </dev/null \
      >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

# The version lives in meson.build only; the changelog must follow it.
version="$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" meson.build | head -1)"
[[ -n "${version}" ]] || fail "no version in meson.build"
changelog_version="$(dpkg-parsechangelog -l debian/changelog -S Version)"
[[ "${changelog_version}" == "${version}" ]] ||
  fail "debian/changelog has ${changelog_version}, meson.build ${version}"

log "building etrnd ${version} in ${WORK}"
src="${WORK}/etrnd-${version}"
rm -rf "${WORK}"
mkdir -p "${src}"
# Tracked and new files of the working tree, without build products.
git ls-files -z --cached --others --exclude-standard |
  (cd "${REPO}" && xargs -0 tar --no-recursion -cf - --ignore-failed-read 2>/dev/null) |
  tar -xf - -C "${src}"
# noopt: this checks the packaging, not the code; -O0 halves the build.
(cd "${src}" && DEB_BUILD_OPTIONS="nocheck noopt parallel=${JOBS}" \
  dpkg-buildpackage -us -uc -b >"${WORK}/build.log" 2>&1) ||
  { tail -40 "${WORK}/build.log"; fail "dpkg-buildpackage"; }
arch="$(dpkg --print-architecture)"
deb="${WORK}/etrnd_${version}_${arch}.deb"
[[ -f "${deb}" ]] || fail "no ${deb}"
dpkg-deb -c "${deb}" >"${WORK}/contents"
for f in ./usr/sbin/etrnd ./usr/bin/smtp-blaster ./etc/etrnd/domains.conf \
  ./lib/systemd/system/etrnd.service ./usr/share/man/man8/etrnd.8.gz \
  ./usr/share/man/man8/etrnctl.8.gz ./usr/share/man/man1/smtp-blaster.1.gz \
  ./usr/share/man/man5/domains.conf.5.gz; do
  grep -q " ${f}\$" "${WORK}/contents" || fail "${f} missing from the package"
done

if command -v lintian >/dev/null; then
  log "lintian"
  lintian --fail-on error --no-tag-display-limit "${deb}" || fail "lintian reports errors"
else
  log "lintian not installed: not checked"
fi

log "installing ${deb}"
# Debian's policy-rc.d protocol: no service start during the install.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${deb}" </dev/null \
  >"${WORK}/install.log" 2>&1 || { cat "${WORK}/install.log"; fail "apt-get install"; }

[[ "$(/usr/sbin/etrnd --version)" == "etrnd ${version}" ]] ||
  fail "etrnd --version says '$(/usr/sbin/etrnd --version)'"
getent passwd etrnd >/dev/null || fail "no etrnd user"
[[ "$(stat -c %U /var/spool/etrnd)" == etrnd ]] || fail "/var/spool/etrnd not owned by etrnd"
dpkg-query -W -f='${Conffiles}\n' etrnd | grep -q /etc/etrnd/domains.conf ||
  fail "/etc/etrnd/domains.conf is not a conffile"

log "systemd-analyze verify"
if command -v systemd-analyze >/dev/null; then
  verify_out="$(systemd-analyze verify /lib/systemd/system/etrnd.service 2>&1)" ||
    { echo "${verify_out}"; fail "systemd-analyze verify"; }
  # Complaints about other units of this machine are not ours.
  if grep -i 'etrnd' <<<"${verify_out}"; then fail "systemd-analyze verify warns"; fi
else
  fail "systemd-analyze not installed (package systemd)"
fi

# The unit's ExecStart, by hand, as root dropping to etrnd (--user).
exec_start="$(sed -n 's/^ExecStart=//p' /lib/systemd/system/etrnd.service)"
[[ "${exec_start}" == /usr/sbin/etrnd* ]] || fail "unexpected ExecStart: ${exec_start}"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
run_dir="${WORK}/run"
mkdir -p "${run_dir}"
chmod 755 "${WORK}" "${run_dir}"  # the etrnd user must reach its spool
read -r -a argv <<<"${exec_start//\$ETRND_OPTS/}"
argv=("${argv[@]/--spool_dir=*/--spool_dir=${run_dir}/spool}")
argv+=("--listen=127.0.0.1:${port}" --threads=2 --user=etrnd)
log "starting ${argv[*]}"
"${SUDO[@]}" "${argv[@]}" >"${run_dir}/etrnd.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + START_TIMEOUT_S))
until grep -q "listening on" "${run_dir}/etrnd.log"; do
  kill -0 "${server_pid}" 2>/dev/null || { cat "${run_dir}/etrnd.log"; fail "etrnd exited"; }
  ((SECONDS < deadline)) || { cat "${run_dir}/etrnd.log"; fail "etrnd did not start"; }
  sleep 0.1
done
etrnd_pid="$(pgrep -P "${server_pid}" -x etrnd || echo "${server_pid}")"
[[ "$(ps -o user= -p "${etrnd_pid}" | tr -d ' ')" == etrnd ]] ||
  fail "etrnd does not run as user etrnd"
[[ "$(stat -c %U "${run_dir}/spool")" == etrnd ]] || fail "spool not given to etrnd"

swaks_out="$(timeout 30 swaks --server 127.0.0.1 --port "${port}" --from a@x.test \
  --to user@example.com --body 'packaging test' 2>&1)" || true
grep -q '<-  250 2.0.0 Ok: queued as' <<<"${swaks_out}" ||
  { echo "${swaks_out}"; cat "${run_dir}/etrnd.log"; fail "message not accepted"; }

"${SUDO[@]}" kill -TERM "${server_pid}"
deadline=$((SECONDS + STOP_TIMEOUT_S))
while kill -0 "${server_pid}" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "etrnd did not stop within ${STOP_TIMEOUT_S} s"
  sleep 0.1
done
wait "${server_pid}" || { cat "${run_dir}/etrnd.log"; fail "etrnd exited non-zero"; }
server_pid=""
log "PASS: etrnd ${version} packaged, installed, served one message as user etrnd"
