// What every CUDA entry point needs from the stable ABI: the device guard and the current stream
// of the tensor's device (torch/csrc/stable/accelerator.h and the C shim), and the launch checks.
#pragma once

#include "../shared/stable_tensor.h"

#include <cuda_runtime.h>
#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/macros.h>

namespace inverse_mel {

// Makes `t`'s device current for the scope (restores the previous one after).
inline torch::stable::accelerator::DeviceGuard device_guard(const Tensor& t) {
  return torch::stable::accelerator::DeviceGuard(t.get_device_index());
}

// The stream torch would launch on for `t`'s device: kernels queue there, never on the default.
inline cudaStream_t current_stream(const Tensor& t) {
  void* stream = nullptr;
  TORCH_ERROR_CODE_CHECK(aoti_torch_get_current_cuda_stream(t.get_device_index(), &stream));
  return static_cast<cudaStream_t>(stream);
}

}  // namespace inverse_mel
