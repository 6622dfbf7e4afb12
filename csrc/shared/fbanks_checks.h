// Input checks of inverse_mel::melscale_fbanks_triangles, shared by its CPU and CUDA kernels.
#pragma once

#include "stable_tensor.h"

namespace inverse_mel {

inline void check_fbanks_inputs(const Tensor& hz_points, const Tensor& all_freqs, bool cuda) {
  STD_TORCH_CHECK(
      hz_points.dim() == 1 && hz_points.size(0) >= 3,
      "melscale_fbanks_triangles: hz_points must have shape (n_mels + 2,) with n_mels >= 1, found ",
      shape_of(hz_points));
  STD_TORCH_CHECK(all_freqs.dim() == 1, "melscale_fbanks_triangles: all_freqs must have shape (n_freqs,), found ",
                  shape_of(all_freqs));
  STD_TORCH_CHECK(
      hz_points.scalar_type() == ScalarType::Float && all_freqs.scalar_type() == ScalarType::Float,
      "melscale_fbanks_triangles: hz_points and all_freqs must be float32 (torchaudio's precision), found ",
      hz_points.scalar_type(), " and ", all_freqs.scalar_type());
  STD_TORCH_CHECK(
      hz_points.is_cuda() == cuda && same_device(all_freqs, hz_points),
      "melscale_fbanks_triangles: hz_points and all_freqs must be on one ", backend_name(cuda), " device, found ",
      device_text(hz_points), " and ", device_text(all_freqs));
}

}  // namespace inverse_mel
