#!/usr/bin/env bash
# The one-shot GPU check: on a fresh GPU machine (no network, a preinstalled torch with CUDA), build
# inverse_mel against that torch for Hopper with every core, run the CUDA tests and the GPU
# benchmark, and write the logs and results into OUTDIR. Without a GPU it stops at once.
#
#   bash tools/gpu_check.sh OUTDIR [--skip-tests] [--skip-bench] [--prebuilt DIR | --wheel FILE]
#
# --prebuilt DIR: use the extension built elsewhere (DIR/_C.abi3.so and DIR/_C_cuda.abi3.so, e.g.
# built here with `FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST=9.0 python setup.py build_ext --inplace`)
# instead of building, which saves the build's minutes of GPU time. The libraries are on the stable
# ABI, so any torch >= 2.11 with CUDA 13 loads them. If they do not load with CUDA kernels, the
# script builds as usual.
# --wheel FILE: the same with the libraries of a built wheel (tools/build_wheel.sh), unchanged.
#
# OUTDIR gets (8 files at most, for the device tool's $OUT): summary.txt, environment.txt,
# build.log, tests.log (failures summarised at its end), sanitizer.log, bench.log, cuda.md,
# cuda.json. Each step has its own timeout; the measured times of the runs so far are in
# benchmarks/results/gpu_check.md. BENCH_ARGS passes arguments to bench_cuda.py (e.g.
# "--repeats 10"), BENCH_TIMEOUT sets its limit in seconds (300).
set -uo pipefail

usage() { echo "usage: bash tools/gpu_check.sh OUTDIR [--skip-tests] [--skip-bench] [--prebuilt DIR | --wheel FILE]" >&2; exit 2; }
[ $# -ge 1 ] || usage
out=$1; shift
run_tests=1; run_bench=1; prebuilt=
while [ $# -gt 0 ]; do
  case $1 in
    --skip-tests) run_tests=0 ;;
    --skip-bench) run_bench=0 ;;
    --prebuilt) [ $# -ge 2 ] || usage; prebuilt=$(cd "$2" && pwd); shift ;;
    --wheel)
      [ $# -ge 2 ] || usage
      prebuilt=$(mktemp -d)
      python3 -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [open(sys.argv[2] + '/' + n.split('/')[-1], 'wb').write(z.read(n)) for n in z.namelist() if n.startswith('inverse_mel/_C') and n.endswith('.so')]" "$2" "$prebuilt" || usage
      shift ;;
    *) usage ;;
  esac
  shift
done
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$root"
# The scripts below import inverse_mel from this checkout (an in-place or prebuilt extension).
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
python=${PYTHON:-python3}
summary=$out/summary.txt
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
started=$SECONDS

# 1. A GPU, seen by the installed torch: otherwise stop now, before a long build.
if ! $python - >"$out/environment.txt" 2>&1 <<'EOF'
import sys
import torch
print("python", sys.version.split()[0], "| torch", torch.__version__, "| torch CUDA", torch.version.cuda)
if not torch.cuda.is_available():
    sys.exit("no CUDA device is visible to torch (torch.cuda.is_available() is False): run this on a GPU machine")
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"cuda:{i} {p.name}, sm_{p.major}{p.minor}, {p.multi_processor_count} SMs, {p.total_memory / 2**30:.0f} GiB")
EOF
then
  cat "$out/environment.txt" >&2
  note "gpu_check: FAILED before the build: $(tail -1 "$out/environment.txt")"
  exit 1
fi
{ nvidia-smi -L 2>/dev/null; nvcc --version 2>/dev/null | tail -2; nproc; } >>"$out/environment.txt"
note "gpu_check: $(head -2 "$out/environment.txt" | tr '\n' ' ')"

# 2. Build against the installed torch (no network: no build isolation, no dependencies fetched).
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
export FORCE_CUDA=1
# torch finds CUDA from `which nvcc`; a wrapper script in /usr/local/bin would make that /usr/local,
# where the link finds no libcudart.
if [ -z "${CUDA_HOME:-}" ]; then
  for dir in /usr/local/cuda /opt/cuda; do
    if [ -x "$dir/bin/nvcc" ]; then export CUDA_HOME=$dir; break; fi
  done
fi
cuda_smoke() {
  $python -c "
import torch, inverse_mel
x = torch.rand(1, 80, 3, device='cuda')
m = inverse_mel.InverseMelScale(513, 80, 22050, solver='nnls').cuda()
assert m(x).is_cuda and inverse_mel.InverseMelScale(513, 80, 22050).cuda()(x).is_cuda
import sys
assert 'inverse_mel._C_cuda' in sys.modules, 'inverse_mel._C_cuda did not load: ' + str(inverse_mel._extension.CUDA_UNAVAILABLE_REASON)
print('extension', inverse_mel._extension._C.__file__, inverse_mel._C_cuda.__file__, 'runs on', torch.cuda.get_device_name())
"
}
built=0
if [ -n "$prebuilt" ]; then
  cp "$prebuilt"/_C*.so inverse_mel/ 2>>"$out/build.log"
  if cuda_smoke >>"$out/build.log" 2>&1; then
    note "build: skipped, the prebuilt extension from $prebuilt loads and runs on the GPU"
    built=1
  else
    note "build: the prebuilt extension does not run here (see build.log); building"
    rm -f inverse_mel/_C*.so
  fi
fi
if [ $built = 0 ]; then
  build_start=$SECONDS
  if timeout 420 $python -m pip install --no-build-isolation --no-deps --no-index -e . >"$out/build.log" 2>&1; then
    note "build: pip install -e . ok in $((SECONDS - build_start)) s (TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST, MAX_JOBS=$MAX_JOBS)"
  else
    # An old setuptools without editable wheels: build in place instead (the tests import from here).
    echo "--- pip install -e . failed; falling back to setup.py build_ext --inplace ---" >>"$out/build.log"
    if timeout 420 $python setup.py build_ext --inplace >>"$out/build.log" 2>&1; then
      note "build: pip failed, setup.py build_ext --inplace ok in $((SECONDS - build_start)) s"
    else
      note "build: FAILED after $((SECONDS - build_start)) s; see build.log"
      tail -30 "$out/build.log" >&2
      exit 1
    fi
  fi
fi
if ! cuda_smoke >>"$out/build.log" 2>&1; then
  note "build: the extension has no working CUDA kernels; see the end of build.log"
  tail -30 "$out/build.log" >&2
  exit 1
fi

status=0
# 3. The CUDA tests: every device-parametrised case, the CUDA-only ones and test_cuda.py.
if [ $run_tests = 1 ]; then
  tests_start=$SECONDS
  timeout 240 $python -m pytest -q -p no:cacheprovider -m "not slow" -k "cuda" -rfE \
    tests/test_cuda.py tests/test_ops.py tests/test_cli.py tests/test_phase_reconstruction.py tests/test_per_frame.py \
    >"$out/tests.log" 2>&1
  rc=$?
  note "tests: exit $rc in $((SECONDS - tests_start)) s: $(tail -1 "$out/tests.log")"
  [ $rc = 0 ] || status=1
fi

# 3b. Every CUDA op once under compute-sanitizer's memcheck (out-of-bounds and misaligned accesses).
if [ $run_tests = 1 ] && command -v compute-sanitizer >/dev/null; then
  sanitizer_start=$SECONDS
  timeout 120 compute-sanitizer --tool memcheck --error-exitcode 3 $python tools/cuda_ops_once.py \
    >"$out/sanitizer.log" 2>&1
  rc=$?
  note "memcheck: exit $rc in $((SECONDS - sanitizer_start)) s: $(grep -E 'ERROR SUMMARY|cuda_ops_once' "$out/sanitizer.log" | tr '\n' ' ')"
  [ $rc = 0 ] || status=1
fi

# 4. The GPU benchmark.
if [ $run_bench = 1 ]; then
  bench_start=$SECONDS
  PYTHONUNBUFFERED=1 timeout ${BENCH_TIMEOUT:-300} $python benchmarks/bench_cuda.py --out "$out/cuda.md" ${BENCH_ARGS:-} \
    >"$out/bench.log" 2>&1
  rc=$?
  note "benchmark: exit $rc in $((SECONDS - bench_start)) s"
  if [ $rc = 0 ]; then
    sed -n '/## Goals/,/## CPU/p' "$out/cuda.md" | grep '^| [a-zN]' | tee -a "$summary"
  else
    tail -20 "$out/bench.log" >&2
    status=1
  fi
fi
note "gpu_check: $([ $status = 0 ] && echo passed || echo FAILED) in $((SECONDS - started)) s"
exit $status
