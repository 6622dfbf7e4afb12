#!/bin/bash
# Does the kernel snapshot see a one-ulp move of a named NNLS constant? For each constant of
# csrc/shared/nnls_constants.h named on the command line (default: every constexpr double and
# integer there), build a copy of the committed tree with that constant moved up by one ulp (an
# integer: by one) and count the snapshot digests (tests/data/kernel_snapshot.npz,
# tests/data/per_frame_snapshot.json, tests/data/edge_snapshot.npz) that change. Where one ulp
# (or one) changes none (a threshold no input lies within one ulp of), larger moves follow until
# one changes a digest, to show how far the snapshots read it: a double x1.01, x2, x10; an
# integer -1, then halved.
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
# "changed of all | changed of all | changed of all": the kernel, per-frame and edge snapshots
digest() {
  PYTHONPATH="$work" $PY -c "
import sys, json, numpy as np; sys.path.insert(0, 'tests')
from snapshot_cases import digests_of_all_cases, digests_of_edge_cases, digests_of_per_frame_cases
a = dict(np.load('tests/data/kernel_snapshot.npz')); expected = json.loads(str(a.pop('digests')))
per_frame = json.load(open('tests/data/per_frame_snapshot.json'))
e = dict(np.load('tests/data/edge_snapshot.npz')); edge = json.loads(str(e.pop('digests')))
pairs = ((digests_of_all_cases(a), expected), (digests_of_per_frame_cases(a), per_frame), (digests_of_edge_cases(e), edge))
print(' | '.join('%d of %d' % (sum(got[k] != want[k] for k in want), len(want)) for got, want in pairs))"
}
# move TYPE NAME TO: rebuild with NAME set to TO
move() {
  cp "$work/constants.orig" $header
  sed -i -E "s/(constexpr $1 $2) = [^;]+;/\1 = $3;/" $header
  grep -qF "constexpr $1 $2 = $3;" $header || { echo "| $2 | could not be moved | | | |"; return 1; }
  MAX_JOBS=${MAX_JOBS:-2} $PY setup.py -q build_ext --inplace >>"$work/build.log" 2>&1 || { echo "| $2 | build failed | | | |"; return 1; }
}
echo "| constant moved one ulp up (an integer: by one) | kernel snapshot digests changed | per-frame snapshot | edge snapshot | where one ulp changes none: kernel / per-frame / edge after larger moves |"
echo "|---|---|---|---|---|"
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
  if [[ "$counts" == "0 of "*"| 0 of "*"| 0 of "* ]]; then
    if [ "$type" = double ]; then
      ladder=$(for factor in 1.01 2.0 10.0; do $PY -c "print('x$factor=' + repr(float('$value') * $factor))"; done)
    else
      ladder="minus1=$((value - 1)) halved=$((value / 2))"
    fi
    for step in $ladder; do
      larger=${step#*=}
      move $type $name $larger || break
      larger_counts=$(digest)
      extra="$extra$(echo "$larger_counts" | sed 's/ | / \/ /g') (${step%%=*} = $larger); "
      [[ "$larger_counts" == "0 of "*"| 0 of "*"| 0 of "* ]] || break
    done
  fi
  echo "| $name $value -> $moved | $counts | ${extra%; } |"
done
rm -rf "$work"
