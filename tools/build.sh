#!/usr/bin/env bash
# Installs missing Debian packages, then builds etrnd and smtp-blaster in
# ./build (release). Extra arguments go to `meson setup`.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh --build
readonly BUILD_DIR=build
readonly JOBS="${ETRND_BUILD_JOBS:-2}"  # the reference machine has 2 cores

# GCC 12 at -O3 reports a false -Wrestrict inside libstdc++ for
# `"literal" + std::string` (GCC bug 105329); every other warning stays an error.
readonly OPTIONS=(-Dbuildtype=release -Dcpp_args=-Wno-restrict)
if [[ -f "${BUILD_DIR}/build.ninja" ]]; then
  # `meson configure`: meson 1.0 ignores compiler arguments on a reconfigure.
  meson configure "${BUILD_DIR}" "${OPTIONS[@]}" "$@"
else
  meson setup "${BUILD_DIR}" "${OPTIONS[@]}" "$@"
fi
ninja -C "${BUILD_DIR}" -j"${JOBS}"
