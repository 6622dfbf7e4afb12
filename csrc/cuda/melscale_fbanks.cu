// CUDA kernel of inverse_mel::melscale_fbanks_triangles (schema in csrc/inverse_mel.cpp): the
// filterbank built directly on the GPU, one thread per weight, with the arithmetic of the CPU
// kernel (csrc/shared/fbanks_formula.h; built with -fmad=false), so both give the same bits.
#include "../shared/fbanks_formula.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>

namespace inverse_mel {

void check_fbanks_inputs(const at::Tensor& hz_points, const at::Tensor& all_freqs, c10::DeviceType device_type);

namespace {

__global__ void triangles_kernel(
    const float* __restrict__ hz, const float* __restrict__ freqs, float* __restrict__ out, int64_t n_freqs,
    int64_t n_mels, bool slaney_norm) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_freqs * n_mels) {
    return;
  }
  const int64_t f = i / n_mels;
  const int64_t k = i - f * n_mels;
  out[i] = mel_triangle(freqs[f], hz[k], hz[k + 1], hz[k + 2], slaney_norm);
}

at::Tensor melscale_fbanks_triangles_cuda(const at::Tensor& hz_points, const at::Tensor& all_freqs, bool slaney_norm) {
  check_fbanks_inputs(hz_points, all_freqs, at::kCUDA);
  const c10::cuda::CUDAGuard guard(hz_points.device());
  const int64_t n_mels = hz_points.size(0) - 2;
  const int64_t n_freqs = all_freqs.size(0);
  at::Tensor fb = at::empty({n_freqs, n_mels}, hz_points.options());
  if (fb.numel() == 0) {
    return fb;
  }
  const at::Tensor hz = hz_points.contiguous();
  const at::Tensor freqs = all_freqs.contiguous();
  constexpr int kThreads = 256;
  const int64_t blocks = (fb.numel() + kThreads - 1) / kThreads;
  triangles_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
      hz.data_ptr<float>(), freqs.data_ptr<float>(), fb.data_ptr<float>(), n_freqs, n_mels, slaney_norm);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return fb;
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CUDA, m) {
  m.impl("melscale_fbanks_triangles", &melscale_fbanks_triangles_cuda);
}

}  // namespace inverse_mel
