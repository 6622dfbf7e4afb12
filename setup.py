"""Build inverse_mel._C, the compiled op library, with torch.utils.cpp_extension.

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


def get_extensions():
    debug = os.environ.get("DEBUG", "0") == "1"
    use_cuda = _want_cuda()
    # csrc/*.cpp (the schemas), csrc/cpu/**/*.cpp (CPU kernels), csrc/cuda/**/*.cu (CUDA kernels).
    sources = sorted(glob.glob(os.path.join(CSRC, "*.cpp"))) + sorted(
        glob.glob(os.path.join(CSRC, "cpu", "**", "*.cpp"), recursive=True)
    )
    cuda_sources = sorted(glob.glob(os.path.join(CSRC, "cuda", "**", "*.cu"), recursive=True))
    opt = ["-O0", "-g"] if debug else ["-O3"]
    extra_compile_args = {
        # py_limited_api=True below makes torch define Py_LIMITED_API (CPython 3.10's stable
        # ABI): the module uses only the stable C API (see csrc/inverse_mel.cpp), so one wheel
        # serves every CPython >= 3.10 for a given torch version.
        # -ffp-contract=off: no fused multiply-adds, so a vectorised loop body and its scalar
        # tail round alike. Results then do not depend on where a frame sits in a SIMD tile,
        # so batch, per-item and any-thread-count results are bit-identical.
        # -fno-trapping-math: lets GCC turn the clamps of the NNLS kernel's vector exp into
        # selects so those loops vectorise; it drops no IEEE semantics the library relies on
        # (no code reads the floating-point exception flags), so results are unchanged.
        "cxx": opt + ["-ffp-contract=off", "-fno-trapping-math", "-fdiagnostics-color=always"],
    }
    extra_link_args = []
    if os.environ.get("SANITIZE", "0") == "1":
        sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"]
        extra_compile_args["cxx"] = ["-O1", "-g"] + sanitize + extra_compile_args["cxx"][1:]
        extra_link_args += sanitize
    extension = CppExtension
    if use_cuda:
        extension = CUDAExtension
        sources += cuda_sources
        # -fmad=false: no fused multiply-adds, as on CPU, so shared formulas give the same bits.
        extra_compile_args["nvcc"] = opt + ["-lineinfo", "-fmad=false"]
    print(
        f"[inverse_mel] torch {torch.__version__}, CUDA build: {use_cuda} "
        f"(torch.version.cuda={torch.version.cuda}, CUDA_HOME={CUDA_HOME}, "
        f"TORCH_CUDA_ARCH_LIST={os.environ.get('TORCH_CUDA_ARCH_LIST')}), debug: {debug}, "
        f"{len(sources)} sources"
    )
    return [
        extension(
            "inverse_mel._C",
            sources,
            extra_compile_args=extra_compile_args,
            extra_link_args=extra_link_args,
            py_limited_api=True,
        )
    ]


def _torch_requirement() -> str:
    # A compiled extension only loads into the torch it was built against.
    return f"torch=={torch.__version__.split('+')[0]}"


# What the inverse-mel command needs (imported on first use: `import inverse_mel` needs only torch).
CLI_REQUIREMENTS = ["numpy", "soundfile>=0.12", "soxr>=0.3", "tqdm>=4.60"]

setup(
    ext_modules=get_extensions(),
    install_requires=[_torch_requirement()] + CLI_REQUIREMENTS,
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    options={"bdist_wheel": {"py_limited_api": "cp310"}},
)
