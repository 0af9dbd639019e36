#!/usr/bin/env bash
# Set up an isolated environment (see env.sh) and run the whole test suite, lint included.
#
#   bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh test

echo "==> ruff"
"$py" -m ruff check .

echo "==> pytest"
"$py" -m pytest "$@"
