// CPU kernel of inverse_mel::melscale_fbanks_triangles (schema in csrc/inverse_mel.cpp): the
// triangle weights of a mel filterbank from its corner frequencies, with the arithmetic the CUDA
// kernel shares (csrc/shared/fbanks_formula.h). The tests check it equals torchaudio's formula bit for bit.
#include "../shared/fbanks_checks.h"
#include "../shared/fbanks_formula.h"

#include <torch/csrc/stable/library.h>

#include <cstdint>

namespace inverse_mel {
namespace {

Tensor melscale_fbanks_triangles_cpu(const Tensor& hz_points, const Tensor& all_freqs, bool slaney_norm) {
  check_fbanks_inputs(hz_points, all_freqs, /*cuda=*/false);
  const int64_t n_mels = hz_points.size(0) - 2;
  const int64_t n_freqs = all_freqs.size(0);
  Tensor fb = empty_on(hz_points, {n_freqs, n_mels});
  if (fb.numel() == 0) {
    return fb;
  }
  const Tensor hz = as_contiguous(hz_points);
  const Tensor freqs = as_contiguous(all_freqs);
  const float* hz_ptr = hz.const_data_ptr<float>();
  const float* freq_ptr = freqs.const_data_ptr<float>();
  float* out = fb.mutable_data_ptr<float>();
  torch::stable::parallel_for(0, n_freqs, 64, [&](int64_t begin, int64_t end) {
    for (int64_t f = begin; f < end; ++f) {
      for (int64_t k = 0; k < n_mels; ++k) {
        out[f * n_mels + k] = mel_triangle(freq_ptr[f], hz_ptr[k], hz_ptr[k + 1], hz_ptr[k + 2], slaney_norm);
      }
    }
  });
  return fb;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("melscale_fbanks_triangles", TORCH_BOX(&melscale_fbanks_triangles_cpu));
}

}  // namespace inverse_mel
