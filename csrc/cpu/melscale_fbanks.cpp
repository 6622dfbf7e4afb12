// CPU kernel of inverse_mel::melscale_fbanks_triangles (schema in csrc/inverse_mel.cpp): the
// triangle weights of a mel filterbank from its corner frequencies, with the arithmetic the CUDA
// kernel shares (csrc/shared/fbanks_formula.h). The tests check it equals torchaudio's formula bit for bit.
#include "../shared/fbanks_formula.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstdint>

namespace inverse_mel {

void check_fbanks_inputs(const at::Tensor& hz_points, const at::Tensor& all_freqs, c10::DeviceType device_type) {
  TORCH_CHECK(
      hz_points.dim() == 1 && hz_points.size(0) >= 3,
      "melscale_fbanks_triangles: hz_points must have shape (n_mels + 2,) with n_mels >= 1, found ", hz_points.sizes());
  TORCH_CHECK(all_freqs.dim() == 1, "melscale_fbanks_triangles: all_freqs must have shape (n_freqs,), found ",
              all_freqs.sizes());
  TORCH_CHECK(
      hz_points.scalar_type() == at::kFloat && all_freqs.scalar_type() == at::kFloat,
      "melscale_fbanks_triangles: hz_points and all_freqs must be float32 (torchaudio's precision), found ",
      hz_points.scalar_type(), " and ", all_freqs.scalar_type());
  TORCH_CHECK(
      hz_points.device().type() == device_type && all_freqs.device() == hz_points.device(),
      "melscale_fbanks_triangles: hz_points and all_freqs must be on one ", c10::DeviceTypeName(device_type),
      " device, found ", hz_points.device(), " and ", all_freqs.device());
}

namespace {

at::Tensor melscale_fbanks_triangles_cpu(const at::Tensor& hz_points, const at::Tensor& all_freqs, bool slaney_norm) {
  check_fbanks_inputs(hz_points, all_freqs, at::kCPU);
  const int64_t n_mels = hz_points.size(0) - 2;
  const int64_t n_freqs = all_freqs.size(0);
  at::Tensor fb = at::empty({n_freqs, n_mels}, hz_points.options());
  if (fb.numel() == 0) {
    return fb;
  }
  const at::Tensor hz = hz_points.contiguous();
  const at::Tensor freqs = all_freqs.contiguous();
  const float* hz_ptr = hz.data_ptr<float>();
  const float* freq_ptr = freqs.data_ptr<float>();
  float* out = fb.data_ptr<float>();
  at::parallel_for(0, n_freqs, 64, [&](int64_t begin, int64_t end) {
    for (int64_t f = begin; f < end; ++f) {
      for (int64_t k = 0; k < n_mels; ++k) {
        out[f * n_mels + k] = mel_triangle(freq_ptr[f], hz_ptr[k], hz_ptr[k + 1], hz_ptr[k + 2], slaney_norm);
      }
    }
  });
  return fb;
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("melscale_fbanks_triangles", &melscale_fbanks_triangles_cpu);
}

}  // namespace inverse_mel
