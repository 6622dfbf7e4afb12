#!/usr/bin/env bash
# Build the docs site into OUTDIR:  bash tools/build_docs.sh OUTDIR
#
# Run from any directory, in the environment of README's Quick start (a venv with torch==2.13.0).
# 1. installs docs/requirements.txt (pinned) into the active Python environment;
# 2. builds the extension in place (pip install --no-build-isolation -e .) if `import inverse_mel`
#    fails, as on a fresh clone; torch==2.13.0 and requirements-dev.txt are installed first if torch is missing;
# 3. runs sphinx-build with warnings as errors (-W --keep-going): docs/conf.py regenerates the pages
#    made from benchmarks/results/*.md and the API pages, and sphinx-gallery executes every
#    docs/examples/plot_*.py.
# Every build starts clean (-E; the gallery's outputs in docs/auto_examples are removed first), so
# every example runs and no warning hides in a cache. The doctrees go to OUTDIR/.doctrees. Environment: PYTHON (default python), SPHINXOPTS (extra
# options, e.g. -j 2), DOCS_SKIP_INSTALL=1 (skip step 1, for offline rebuilds).
#
# Headless Chromium for the render check in tests/test_docs.py: tools/chromium.sh prints a chromium binary,
# extracting Debian's package into .cache/chromium (no root needed) when none is installed.
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: bash tools/build_docs.sh OUTDIR" >&2
    exit 2
fi
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python}
cd "$ROOT"

if [ "${DOCS_SKIP_INSTALL:-0}" != 1 ]; then
    "$PY" -m pip install -q -r docs/requirements.txt
fi
if ! "$PY" -c "import inverse_mel" 2>/dev/null; then
    if ! "$PY" -c "import torch" 2>/dev/null; then
        "$PY" -m pip install -q torch==2.13.0
        "$PY" -m pip install -q -r requirements-dev.txt
    fi
    "$PY" -m pip install -q --no-build-isolation -e .
fi

export MPLBACKEND=Agg
start=$(date +%s)
# Every build runs every example and rereads every page (-E), so no warning hides in a cache.
rm -rf docs/auto_examples docs/_generated docs/api/generated
# shellcheck disable=SC2086
"$PY" -m sphinx -b html -E -W --keep-going -q -d "$OUT/.doctrees" ${SPHINXOPTS:-} docs "$OUT"
echo "build_docs: $OUT/index.html ($(( $(date +%s) - start )) s)"
