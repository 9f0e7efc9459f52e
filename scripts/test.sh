#!/usr/bin/env bash
# Set up a virtual environment (if needed) and run every check: lint, types, layers, tests.
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${KITLIB_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
export PATH="$PWD/$VENV/bin:$PATH"

echo "== ruff";          ruff check kitlib tests benchmarks
echo "== mypy";          mypy
echo "== import-linter"; lint-imports
# every notebook also runs live in JupyterLab in the browser tests (a bare pytest runs the tour only)
export KITLIB_LIVE_NOTEBOOKS="${KITLIB_LIVE_NOTEBOOKS:-all}"
echo "== pytest";        python -m pytest -q -p no:cacheprovider "$@"
echo "== benchmarks (quick, end states checked)"
python -m benchmarks --quick --json "${TMPDIR:-/tmp}/kitlib-bench-quick.json"
