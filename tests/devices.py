"""The devices every device-parametrised test runs on (torchvision's cpu_and_cuda() style): CPU
always, CUDA when a GPU is present (skipped cleanly otherwise). A new backend adds one entry."""
import pytest
import torch

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
needs_two_cuda_devices = pytest.mark.skipif(not HAS_CUDA or torch.cuda.device_count() < 2,
                                            reason="needs a second CUDA device")


def cpu_and_cuda():
    return ("cpu", pytest.param("cuda", marks=needs_cuda))


DEVICES = cpu_and_cuda()
