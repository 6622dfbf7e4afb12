"""Build inverse_mel._C (schemas, CPU kernels) and inverse_mel._C_cuda (CUDA kernels), the compiled op
library on the LibTorch stable ABI, with torch.utils.cpp_extension.

Switches (environment variables):
  FORCE_CUDA=1            build the CUDA kernels even if torch.version.cuda is unset
  FORCE_CUDA=0            never build them
  TORCH_CUDA_ARCH_LIST    e.g. "9.0" for H100/H200 (read by torch's build helpers)
  DEBUG=1                 -O0 -g
  SANITIZE=1              -fsanitize=address,undefined (see tools/sanitize.sh)
CUDA is chosen from the installed torch and the toolkit, never from a visible GPU.
"""
import glob
import os

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("csrc")


def _want_cuda() -> bool:
    force = os.environ.get("FORCE_CUDA")
    if force is not None and force != "":
        return force == "1"
    return torch.version.cuda is not None and CUDA_HOME is not None


# The oldest torch whose stable ABI (torch/csrc/stable, torch/headeronly) covers every call the
# library makes: 2.11 (torch::stable::parallel_for, empty/contiguous/copy_ and the CUDA stream shim
# are older; csrc/README.md lists what each needs). The binary then loads into every torch from it on.
# Keep inverse_mel/_extension.py's MIN_TORCH equal.
MIN_TORCH = (2, 11)
TORCH_TARGET_VERSION = f"0x{MIN_TORCH[0]:02x}{MIN_TORCH[1]:02x}000000000000"


def get_extensions():
    debug = os.environ.get("DEBUG", "0") == "1"
    use_cuda = _want_cuda()
    # _C: the schemas and the CPU kernels (csrc/*.cpp, csrc/cpu/**/*.cpp); links no CUDA library.
    sources = sorted(glob.glob(os.path.join(CSRC, "*.cpp"))) + sorted(
        glob.glob(os.path.join(CSRC, "cpu", "**", "*.cpp"), recursive=True)
    )
    # _C_cuda: the CUDA kernels (csrc/cuda/**), a library of its own so that _C loads without CUDA.
    cuda_sources = sorted(glob.glob(os.path.join(CSRC, "cuda", "**", "*.cu"), recursive=True)) + sorted(
        glob.glob(os.path.join(CSRC, "cuda", "**", "*.cpp"), recursive=True)
    )
    opt = ["-O0", "-g"] if debug else ["-O3"]
    # Both compilers: the stable ABI only, from MIN_TORCH on. With TORCH_TARGET_VERSION set, torch's
    # headers refuse the unstable ones (torch/script.h, ...), and torch/csrc/stable exposes only what
    # that version has.
    # -fvisibility=hidden: the stable ABI's types live in hidden namespaces, and the library exports
    # nothing but its PyInit functions.
    stable_abi = [f"-DTORCH_TARGET_VERSION={TORCH_TARGET_VERSION}"]
    extra_compile_args = {
        # py_limited_api=True below makes torch define Py_LIMITED_API (CPython's stable ABI): the
        # modules use only the limited C API (csrc/python_module.cpp), so one wheel serves every
        # CPython >= 3.10.
        # -ffp-contract=off: no fused multiply-adds, so a vectorised loop body and its scalar
        # tail round alike. Results then do not depend on where a frame sits in a SIMD tile,
        # so batch, per-item and any-thread-count results are bit-identical.
        # -fno-trapping-math: lets GCC turn the clamps of the NNLS kernel's vector exp into
        # selects so those loops vectorise; it drops no IEEE semantics the library relies on
        # (no code reads the floating-point exception flags), so results are unchanged.
        "cxx": opt + stable_abi + ["-fvisibility=hidden", "-ffp-contract=off", "-fno-trapping-math", "-fdiagnostics-color=always"],
    }
    extra_link_args = []
    if os.environ.get("SANITIZE", "0") == "1":
        sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
        extra_compile_args["cxx"] = ["-O1", "-g"] + sanitize + extra_compile_args["cxx"][1:]
        extra_link_args += sanitize
    print(
        f"[inverse_mel] torch {torch.__version__}, CUDA build: {use_cuda} "
        f"(torch.version.cuda={torch.version.cuda}, CUDA_HOME={CUDA_HOME}, "
        f"TORCH_CUDA_ARCH_LIST={os.environ.get('TORCH_CUDA_ARCH_LIST')}), debug: {debug}, "
        f"stable ABI target {TORCH_TARGET_VERSION}, {len(sources)} CPU sources"
    )
    extensions = [
        CppExtension(
            "inverse_mel._C",
            sources,
            extra_compile_args=extra_compile_args,
            extra_link_args=extra_link_args,
            py_limited_api=True,
        )
    ]
    if use_cuda:
        # USE_CUDA: the stable C shim declares its CUDA functions (the current stream, the error
        # check of STD_CUDA_CHECK) only with it.
        cuda_args = {"cxx": extra_compile_args["cxx"] + ["-DUSE_CUDA"]}
        # -fmad=false: no fused multiply-adds, as on CPU, so shared formulas give the same bits.
        cuda_args["nvcc"] = opt + stable_abi + ["-DUSE_CUDA", "-Xcompiler=-fvisibility=hidden", "-lineinfo",
                                                "-fmad=false"]
        extensions.append(
            CUDAExtension(
                "inverse_mel._C_cuda",
                cuda_sources,
                extra_compile_args=cuda_args,
                extra_link_args=extra_link_args,
                py_limited_api=True,
            )
        )
    return extensions


def _torch_requirement() -> str:
    # The stable ABI: the binary loads into every torch from MIN_TORCH on, never an exact pin.
    return f"torch>={MIN_TORCH[0]}.{MIN_TORCH[1]}"


# What the inverse-mel command needs (imported on first use: `import inverse_mel` needs only torch).
CLI_REQUIREMENTS = ["numpy", "soundfile>=0.12", "soxr>=0.3", "tqdm>=4.60"]

setup(
    ext_modules=get_extensions(),
    install_requires=[_torch_requirement()] + CLI_REQUIREMENTS,
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    options={"bdist_wheel": {"py_limited_api": "cp310"}},
)
