#!/usr/bin/env bash
# Build the wheel a package index accepts: `pip wheel` against the installed torch, then
# `auditwheel repair` to a manylinux tag. torch's own libraries (libc10, libtorch*, and the CUDA
# libraries torch's CUDA builds bring) are excluded, as torch extension projects do: the wheel pins
# the exact torch that provides them (Requires-Dist: torch==<version>).
#
#   bash tools/build_wheel.sh [OUTDIR]        (default dist/; needs auditwheel and patchelf)
#
# The tag follows the glibc of the build machine (manylinux_2_34 here); build in a manylinux
# container for an older one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/dist}
mkdir -p "$out"
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
python -m pip wheel --no-build-isolation --no-deps -q -w "$raw" "$root"
python -m auditwheel repair -w "$out" \
  --exclude 'libc10.so' --exclude 'libc10_cuda.so' --exclude 'libtorch*.so' \
  --exclude 'libcudart.so.*' --exclude 'libcublas*.so.*' --exclude 'libnvrtc*.so.*' --exclude 'libnvToolsExt*.so.*' \
  "$raw"/*.whl
