#!/bin/bash
# Does the kernel snapshot see a one-ulp move of a named NNLS constant? For each constant of
# csrc/shared/nnls_constants.h named on the command line (default: every constexpr double and
# integer there), build a copy of the committed tree with that constant moved up by one ulp (an
# integer: by one) and count the snapshot digests (tests/data/kernel_snapshot.npz,
# tests/data/per_frame_snapshot.json) that change. Where one ulp changes none (a threshold no input
# lies within one ulp of), the constant is moved again by 1% to show the snapshot reads it at all.
# As was done for the exp2 coefficients (705056d); results in benchmarks/results/one_ulp_constants.md.
#   tools/one_ulp_constants.sh [kArmijo kMetricFloor ...]      (PY: the python with torch; MAX_JOBS)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-python}
work=$(mktemp -d)
git -C "$root" archive HEAD | tar -x -C "$work"
cd "$work" || exit 1
header=csrc/shared/nnls_constants.h
constants=${*:-$(grep -oP "^constexpr (double|int|int64_t) \K\w+(?= = )" $header)}
cp $header "$work/constants.orig"
# "changed of all | changed of all" for the kernel and the per-frame snapshot
digest() {
  PYTHONPATH="$work" $PY -c "
import sys, json, numpy as np; sys.path.insert(0, 'tests')
from snapshot_cases import digests_of_all_cases, digests_of_per_frame_cases
a = dict(np.load('tests/data/kernel_snapshot.npz')); expected = json.loads(str(a.pop('digests')))
per_frame = json.load(open('tests/data/per_frame_snapshot.json'))
got, got_per_frame = digests_of_all_cases(a), digests_of_per_frame_cases(a)
print('%d of %d | %d of %d' % (sum(got[k] != expected[k] for k in expected), len(expected),
      sum(got_per_frame[k] != per_frame[k] for k in per_frame), len(per_frame)))"
}
# move TYPE NAME TO: rebuild with NAME set to TO
move() {
  cp "$work/constants.orig" $header
  sed -i -E "s/(constexpr $1 $2) = [^;]+;/\1 = $3;/" $header
  grep -qF "constexpr $1 $2 = $3;" $header || { echo "| $2 | could not be moved | | |"; return 1; }
  MAX_JOBS=${MAX_JOBS:-2} $PY setup.py -q build_ext --inplace >>"$work/build.log" 2>&1 || { echo "| $2 | build failed | | |"; return 1; }
}
echo "| constant moved one ulp up (an integer: by one) | kernel snapshot digests changed | per-frame snapshot digests changed | where one ulp changes none: kernel / per-frame at +1% |"
echo "|---|---|---|---|"
MAX_JOBS=${MAX_JOBS:-2} $PY setup.py -q build_ext --inplace >"$work/build.log" 2>&1 || { echo "build failed"; exit 1; }
echo "| (none) | $(digest) | |"
for name in $constants; do
  type=$(grep -oP "constexpr \K(double|int|int64_t)(?= $name = )" "$work/constants.orig")
  value=$(grep -oP "constexpr $type $name = \K[^;]+" "$work/constants.orig")
  if [ "$type" = double ]; then
    moved=$($PY -c "import math; print(math.nextafter(float('$value'), math.inf).hex())")
  else
    moved=$((value + 1))
  fi
  move $type $name $moved || continue
  counts=$(digest)
  extra=""
  if [[ "$type" = double && "$counts" == "0 of "*"| 0 of "* ]]; then
    percent=$($PY -c "print(repr(float('$value') * 1.01))")
    move $type $name $percent && extra="$(digest | sed 's/ | / \/ /') (to $percent)"
  fi
  echo "| $name $value -> $moved | $counts | $extra |"
done
rm -rf "$work"
