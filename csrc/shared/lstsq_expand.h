// The least-squares inverse per frame, as the CUDA kernel computes it (cuda/lstsq_apply.cu) and the
// CPU op _lstsq_apply_per_frame does too (cpu/per_frame.cpp), so the CPU tests check the GPU's
// arithmetic bit for bit:
//   projected_mel: y[k] = sum_j gram_pinv[k, j] m[j], j ascending (no fused multiply-add on either
//                  side), so the result does not depend on the batch, the strides or the tiling;
//   expanded_bin:  relu(sum_j w_j y[k_j]) over one bin's taps, zero-weight (padding) taps and
//                  out-of-range indices skipped, so a NaN in another band never enters a bin.
#pragma once

#include "host_device.h"

#include <cstdint>

namespace inverse_mel {

template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE scalar_t projected_mel(const scalar_t* gram_row, const scalar_t* mel,
                                                                        int64_t mel_stride, int64_t n_mels) {
  scalar_t acc = scalar_t(0);
  for (int64_t j = 0; j < n_mels; ++j) {
    acc = acc + gram_row[j] * mel[j * mel_stride];
  }
  return acc;
}

template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE scalar_t expanded_bin(const int64_t* index, const scalar_t* weight,
                                                                       int64_t taps, int64_t n_mels, const scalar_t* y,
                                                                       int64_t y_stride) {
  scalar_t acc = scalar_t(0);
  bool any = false;
  for (int64_t j = 0; j < taps; ++j) {
    const scalar_t w = weight[j];
    const int64_t k = index[j];
    if (w != scalar_t(0) && k >= 0 && k < n_mels) {
      const scalar_t term = w * y[k * y_stride];
      acc = any ? acc + term : term;
      any = true;
    }
  }
  return acc < scalar_t(0) ? scalar_t(0) : acc;  // relu that keeps NaN
}

}  // namespace inverse_mel
