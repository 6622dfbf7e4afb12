// CUDA kernel of inverse_mel::melscale_fbanks_triangles (schema in csrc/inverse_mel.cpp): the
// filterbank built directly on the GPU, one thread per weight, with the arithmetic of the CPU
// kernel (csrc/shared/fbanks_formula.h; built with -fmad=false), so both give the same bits.
#include "../shared/fbanks_checks.h"
#include "../shared/fbanks_formula.h"
#include "launch.h"

#include <torch/csrc/stable/library.h>

#include <cstdint>

namespace inverse_mel {

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

Tensor melscale_fbanks_triangles_cuda(const Tensor& hz_points, const Tensor& all_freqs, bool slaney_norm) {
  check_fbanks_inputs(hz_points, all_freqs, /*cuda=*/true);
  const auto guard = device_guard(hz_points);
  const int64_t n_mels = hz_points.size(0) - 2;
  const int64_t n_freqs = all_freqs.size(0);
  Tensor fb = empty_on(hz_points, {n_freqs, n_mels});
  if (fb.numel() == 0) {
    return fb;
  }
  const Tensor hz = as_contiguous(hz_points);
  const Tensor freqs = as_contiguous(all_freqs);
  constexpr int kThreads = 256;
  const int64_t blocks = (fb.numel() + kThreads - 1) / kThreads;
  triangles_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, current_stream(hz_points)>>>(
      hz.const_data_ptr<float>(), freqs.const_data_ptr<float>(), fb.mutable_data_ptr<float>(), n_freqs, n_mels,
      slaney_norm);
  STD_CUDA_KERNEL_LAUNCH_CHECK();
  return fb;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(inverse_mel, CUDA, m) {
  m.impl("melscale_fbanks_triangles", TORCH_BOX(&melscale_fbanks_triangles_cuda));
}

}  // namespace inverse_mel
