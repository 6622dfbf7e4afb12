#!/usr/bin/env bash
# Build inverse_mel with AddressSanitizer + UndefinedBehaviorSanitizer in a scratch copy of the
# tracked tree (the working install is untouched) and run the test suite under it.
# Not part of .ci/run (slower); run by hand:  bash tools/sanitize.sh [pytest args]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$root" archive HEAD | tar -x -C "$work"
cd "$work"
SANITIZE=1 python setup.py -q build_ext --inplace 2>&1 | grep -v "^running\|^copying" || true
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
# Python itself is not built with ASan: leak reports would be CPython's; odr/alloc-dealloc
# mismatches would come from mixing allocators across libraries we did not build.
export ASAN_OPTIONS=detect_leaks=0:alloc_dealloc_mismatch=0:halt_on_error=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LD_PRELOAD="$asan $ubsan"
export PYTHONPATH="$work"
# torch.compile tests spawn compilers under the preloaded runtime: skipped here (-k).
python -m pytest -q -p no:cacheprovider tests -k "not compile" "$@"
echo "sanitizers: clean"
