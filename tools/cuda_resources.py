"""Registers, stack frame and spills of every CUDA kernel of two source trees, side by side.

Without a GPU this is the proxy for "the GPU kernels are not slower" a refactoring of the shared
per-frame code can give: ptxas's resource report (`-Xptxas -v`, through nvcc's NVCC_APPEND_FLAGS)
for each kernel instantiation, from a CUDA build of each tree with the build's own flags.

    python tools/cuda_resources.py OLD_TREE NEW_TREE --python VENV/bin/python \
        [--arch 9.0] [--logs DIR] [--out benchmarks/results/nnls_rules_cuda_resources.md]

--python: an interpreter whose torch is a CUDA build (e.g. torch 2.11.0+cu130, the GPU image's);
CUDA_HOME defaults to /usr/local/cuda. Each tree is copied (without its build outputs) to a
temporary folder and built there with FORCE_CUDA=1.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))
from common import write_results  # noqa: E402

ENTRY = re.compile(r"Compiling entry function '(\w+)' for '(sm_\w+)'")
PROPERTIES = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
REGISTERS = re.compile(r"Used (\d+) registers")
KERNEL = re.compile(r"(\w+_kernel)(?:<([^>]*)>)?")


def build_log(tree: str, python: str, arch: str) -> str:
    """The output of a CUDA build of a copy of `tree`, with ptxas's resource report."""
    with tempfile.TemporaryDirectory() as work:
        copy = os.path.join(work, "tree")
        shutil.copytree(tree, copy, ignore=shutil.ignore_patterns("build", "*.so", ".git", ".venv", "docs"))
        env = dict(os.environ, FORCE_CUDA="1", TORCH_CUDA_ARCH_LIST=arch, NVCC_APPEND_FLAGS="-Xptxas=-v",
                   CUDA_HOME=os.environ.get("CUDA_HOME", "/usr/local/cuda"), MAX_JOBS=os.environ.get("MAX_JOBS", "2"))
        result = subprocess.run([python, "setup.py", "build_ext", "--inplace"], cwd=copy, env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"the CUDA build of {tree} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result.stdout + result.stderr


def demangle(names):
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def resources(log: str) -> dict:
    """{(kernel, template arguments): (registers, stack frame, spill stores, spill loads)}."""
    entries, current, properties = [], None, None
    for line in log.splitlines():
        entry = ENTRY.search(line)
        if entry:
            current, properties = entry.group(1), None
            continue
        if current is None:
            continue
        found = PROPERTIES.search(line)
        if found:
            properties = tuple(int(v) for v in found.groups())
            continue
        found = REGISTERS.search(line)
        if found and properties is not None:
            entries.append((current, (int(found.group(1)),) + properties))
            current = None
    table = {}
    for readable, (_, values) in zip(demangle([name for name, _ in entries]), entries):
        signature = readable.replace("(anonymous namespace)::", "").split("(")[0]
        kernel = KERNEL.search(signature)
        key = (kernel.group(1), kernel.group(2) or "-") if kernel else (signature.replace("void ", ""), "-")
        table[key] = values
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--python", required=True)
    parser.add_argument("--arch", default="9.0")
    parser.add_argument("--logs", help="keep the build logs here (old.log, new.log) and reuse those that exist")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "benchmarks", "results",
                                                      "nnls_rules_cuda_resources.md"))
    args = parser.parse_args()
    versions = subprocess.run([args.python, "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
                              capture_output=True, text=True, check=True).stdout.split()
    nvcc = subprocess.run([os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvcc"), "--version"],
                          capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    logs = {}
    for which in ("old", "new"):
        path = os.path.join(args.logs, f"{which}.log") if args.logs else None
        if path and os.path.exists(path):
            logs[which] = open(path).read()
            continue
        logs[which] = build_log(getattr(args, which), args.python, args.arch)
        if path:
            os.makedirs(args.logs, exist_ok=True)
            with open(path, "w") as f:
                f.write(logs[which])
    old, new = resources(logs["old"]), resources(logs["new"])

    def cell(a, b):
        return str(a) if a == b else f"{a} -> {b}"

    lines = ["# CUDA resources of the kernels, two trees side by side (`tools/cuda_resources.py`)", "",
             f"ptxas -v for sm_{args.arch.replace('.', '')}, torch {versions[0]} (CUDA {versions[1]}), {nvcc}, "
             "the build's own flags. No GPU ran: registers per thread, stack frame bytes and spill "
             "stores / loads (bytes) per kernel instantiation, old -> new where they differ.", "",
             f"old: `{args.old}`, new: `{args.new}`.", "",
             "| kernel | template arguments | registers | stack frame | spill stores | spill loads |",
             "|---|---|---|---|---|---|"]
    data = {}
    def natural(key):  # (kernel, "float, 64") sorts 64 before 128
        return key[0], [int(part) if part.strip().isdigit() else part for part in key[1].split(",")]

    for key in sorted(set(old) | set(new), key=natural):
        a, b = old.get(key), new.get(key)
        if a is None or b is None:
            lines.append(f"| {key[0]} | {key[1]} | {'only in new' if a is None else 'only in old'} | | | |")
        else:
            lines.append(f"| {key[0]} | {key[1]} | " + " | ".join(cell(x, y) for x, y in zip(a, b)) + " |")
        data[f"{key[0]}<{key[1]}>"] = dict(old=a, new=b)
    write_results(args.out, "\n".join(lines) + "\n", dict(torch=versions, nvcc=nvcc, kernels=data))


if __name__ == "__main__":
    main()
