"""The devices every device-parametrised test runs on (torchvision's cpu_and_cuda() style): CPU
always, CUDA when a GPU is present (skipped cleanly otherwise). A new backend adds one entry."""
import pytest
import torch

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
needs_two_cuda_devices = pytest.mark.skipif(not HAS_CUDA or torch.cuda.device_count() < 2,
                                            reason="needs a second CUDA device")


def cpu_and_cuda(slow_on_cpu=False):
    """The device parameters. ``slow_on_cpu`` marks only the CPU variant slow (``-m "not slow"``
    skips it), for tests that take tens of seconds on a CPU and little on a GPU: the CUDA variant
    stays in the fast selection that tools/gpu_check.sh runs (``-m "not slow" -k cuda``)."""
    cpu = pytest.param("cpu", marks=pytest.mark.slow) if slow_on_cpu else "cpu"
    return (cpu, pytest.param("cuda", marks=needs_cuda))


DEVICES = cpu_and_cuda()
