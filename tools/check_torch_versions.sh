#!/usr/bin/env bash
# Proof that one wheel serves every supported torch: install it, unchanged, into a fresh venv per
# torch version and run tools/torch_version_battery.py there (opcheck of every op, the torchaudio
# fixtures, the kernel snapshot, the CLI on an .oga file; under a CUDA torch, _C_cuda and its
# kernels). Writes benchmarks/results/torch_versions.md (and .json).
#
#   bash tools/check_torch_versions.sh OUTDIR [WHEEL]
#
# WHEEL defaults to a fresh tools/build_wheel.sh build into OUTDIR/dist. TORCH_VERSIONS (default
# "2.13.0 2.14.1 2.11.0": the local CPU build, the registry's CUDA 13 build, and the minimum) picks
# the versions; one the registry does not serve is reported as not run. Venvs are kept in OUTDIR
# and reused.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: bash tools/check_torch_versions.sh OUTDIR [WHEEL]" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1" && out=$(cd "$1" && pwd)
wheel=${2:-}
if [ -z "$wheel" ]; then
  bash "$root/tools/build_wheel.sh" "$out/dist" || exit 1
  wheel=$(ls -t "$out"/dist/*.whl | head -1)
fi
wheel=$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")
results=()
status=0
for version in ${TORCH_VERSIONS:-2.13.0 2.14.1 2.11.0}; do
  venv=$out/venv-$version
  log=$out/torch-$version.log
  result=$out/result-$version.json
  echo "== torch $version" | tee "$log"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    python3 -m venv "$venv" && "$venv/bin/python" -m pip install -q --upgrade pip >>"$log" 2>&1
    if ! "$venv/bin/python" -m pip install -q "torch==$version" >>"$log" 2>&1; then
      echo "{\"torch\": \"$version\", \"error\": \"pip could not install torch==$version here\"}" >"$result"
      results+=("$result")
      echo "   torch $version: not installable here (see $log)"
      continue
    fi
  fi
  # The wheel, unchanged, with what it declares; pytest and numpy for the checks.
  "$venv/bin/python" -m pip install -q --force-reinstall --no-deps "$wheel" >>"$log" 2>&1 &&
    "$venv/bin/python" -m pip install -q "$wheel" pytest numpy hypothesis >>"$log" 2>&1 || status=1
  (cd "$out" && "$venv/bin/python" "$root/tools/torch_version_battery.py" run --root "$root" --out "$result") \
    2>&1 | tee -a "$log" || status=1
  results+=("$result")
done
python3 "$root/tools/torch_version_battery.py" summarize --wheel "$wheel" \
  --out "$root/benchmarks/results/torch_versions.md" "${results[@]}" || status=1
exit $status
