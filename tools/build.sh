#!/usr/bin/env bash
# Installs missing Debian packages, then builds etrnd and smtp-blaster in
# ./build (release). Extra arguments go to `meson setup`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
readonly BUILD_DIR=build
readonly JOBS="${ETRND_BUILD_JOBS:-2}"  # the reference machine has 2 cores

if [[ -f "${BUILD_DIR}/build.ninja" ]]; then
  meson setup --reconfigure "${BUILD_DIR}" --buildtype=release "$@"
else
  meson setup "${BUILD_DIR}" --buildtype=release "$@"
fi
ninja -C "${BUILD_DIR}" -j"${JOBS}"
