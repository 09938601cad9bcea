#!/usr/bin/env bash
# Builds etrnd (installing missing packages) and starts it. Without flags it
# uses the embedded default: 127.0.0.1:2525, ./spool and the example domains
# table docs/examples/domains.conf. Any flags are passed through to etrnd.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/build.sh >&2
exec build/etrnd "$@"
