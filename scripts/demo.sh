#!/usr/bin/env bash
# Set up an isolated environment (see env.sh) and run the demo on the bundled Olivetti faces.
#
#   bash scripts/demo.sh [demo arguments, e.g. --out demo-output]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh plot

"$venv/bin/hypersphere-sklearn" demo "$@"
