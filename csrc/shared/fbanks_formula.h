// The triangular mel filter weight, shared by the CPU and CUDA kernels of
// inverse_mel::melscale_fbanks_triangles, so the GPU runs the very arithmetic that the CPU
// tests check against torchaudio's formula (float32, one IEEE operation at a time, in the
// order torchaudio's tensor code does them; the CUDA build uses -fmad=false).
#pragma once

#include "host_device.h"

namespace inverse_mel {

// torch.min / torch.max semantics: NaN if either operand is NaN.
template <typename T>
INVERSE_MEL_HOST_DEVICE inline T nan_min(T a, T b) {
  return (a != a || b != b) ? (a != a ? a : b) : (b < a ? b : a);
}
template <typename T>
INVERSE_MEL_HOST_DEVICE inline T nan_max(T a, T b) {
  return (a != a || b != b) ? (a != a ? a : b) : (b > a ? b : a);
}

// fb[f, k] for bin frequency `freq` and mel corner frequencies hz[k], hz[k + 1], hz[k + 2]:
//   down = (-1 * (hz[k] - freq)) / (hz[k + 1] - hz[k]);  up = (hz[k + 2] - freq) / (hz[k + 2] - hz[k + 1])
//   fb = max(0, min(down, up)), times 2 / (hz[k + 2] - hz[k]) with slaney norm.
template <typename T>
INVERSE_MEL_HOST_DEVICE inline T mel_triangle(T freq, T lo, T centre, T hi, bool slaney_norm) {
  const T down = (T(-1) * (lo - freq)) / (centre - lo);
  const T up = (hi - freq) / (hi - centre);
  T w = nan_max(T(0), nan_min(down, up));
  if (slaney_norm) {
    w = w * (T(2) / (hi - lo));
  }
  return w;
}

}  // namespace inverse_mel
