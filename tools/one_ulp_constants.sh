#!/bin/bash
# Does the kernel snapshot see a one-ulp move of a named NNLS constant? For each constant of
# csrc/shared/nnls_constants.h named on the command line (default: a set of float ones), build a
# copy of the committed tree with that constant moved up by one ulp and count the snapshot digests
# (tests/data/kernel_snapshot.npz, tests/data/per_frame_snapshot.json) that change. As was done for
# the exp2 coefficients (705056d); results in benchmarks/results/one_ulp_constants.md.
#   tools/one_ulp_constants.sh [kArmijo kMetricFloor ...]      (PY: the python with torch; MAX_JOBS)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-python}
work=$(mktemp -d)
git -C "$root" archive HEAD | tar -x -C "$work"
cd "$work" || exit 1
constants=${*:-kArmijo kRoundOffUlps kMetricFloor kDampingHeldBackRatio kEntropyPenalty kSolverDamping}
header=csrc/shared/nnls_constants.h
cp $header "$work/constants.orig"
digest() {
  PYTHONPATH="$work" $PY -c "
import sys, json, numpy as np; sys.path.insert(0, 'tests')
from snapshot_cases import digests_of_all_cases, digests_of_per_frame_cases
a = dict(np.load('tests/data/kernel_snapshot.npz')); expected = json.loads(str(a.pop('digests')))
per_frame = json.load(open('tests/data/per_frame_snapshot.json'))
got, got_per_frame = digests_of_all_cases(a), digests_of_per_frame_cases(a)
print('| $1 | %d of %d | %d of %d |' % (sum(got[k] != expected[k] for k in expected), len(expected),
      sum(got_per_frame[k] != per_frame[k] for k in per_frame), len(per_frame)))"
}
echo "| constant moved one ulp up | kernel snapshot digests changed | per-frame snapshot digests changed |"
echo "|---|---|---|"
MAX_JOBS=${MAX_JOBS:-2} $PY setup.py -q build_ext --inplace >"$work/build.log" 2>&1 || { echo "build failed"; exit 1; }
digest "(none)"
for name in $constants; do
  cp "$work/constants.orig" $header
  value=$(grep -oP "constexpr double $name = \K[^;]+" $header)
  [ -n "$value" ] || { echo "| $name | not a constexpr double | |"; continue; }
  moved=$($PY -c "import math; print(math.nextafter(float('$value'), math.inf).hex())")
  sed -i "s/constexpr double $name = $value;/constexpr double $name = $moved;/" $header
  grep -q "$name = $moved" $header || { echo "| $name | could not be moved | |"; continue; }
  MAX_JOBS=${MAX_JOBS:-2} $PY setup.py -q build_ext --inplace >>"$work/build.log" 2>&1 || { echo "| $name | build failed | |"; continue; }
  digest "$name $value -> $moved"
done
rm -rf "$work"
