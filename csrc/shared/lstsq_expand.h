// The least-squares inverse's expansion, one output bin: relu(sum_j w_j y[k_j]) over the bin's
// taps, zero-weight (padding) taps and out-of-range indices skipped, so a NaN in another band never
// enters a bin. The CUDA kernel runs it per output element (cuda/lstsq_apply.cu); the CPU op
// _lstsq_apply_per_frame runs it too (cpu/per_frame.cpp), so the CPU tests check the GPU's arithmetic.
#pragma once

#include "host_device.h"

#include <cstdint>

namespace inverse_mel {

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
