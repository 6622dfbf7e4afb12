// The filterbank in compacted ELL form, as the CPU kernels read it: per frequency bin, only its
// non-zero taps (mel index and weight), so zero padding never multiplies a NaN/Inf from another
// mel band into a bin. Built per call from the op's (tap_index, tap_weight) inputs, which it checks.
#pragma once

#include "../shared/stable_tensor.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace inverse_mel {

template <typename scalar_t>
struct CompactTaps {
  std::vector<int64_t> count;  // (n_freqs,) non-zero taps of each bin
  std::vector<int64_t> index;  // (n_freqs * taps): bin f's taps at f * taps .. f * taps + count[f]
  std::vector<scalar_t> weight;  // (n_freqs * taps)
  int64_t taps = 0;  // the row stride
  int64_t max_count = 0;

  // The same taps in another precision (float32 to float64 converts every weight exactly, so the
  // non-zero pattern is kept).
  template <typename other_t>
  explicit CompactTaps(const CompactTaps<other_t>& other)
      : count(other.count),
        index(other.index),
        weight(other.weight.begin(), other.weight.end()),
        taps(other.taps),
        max_count(other.max_count) {}

  // op names the calling op in the bounds-check error.
  CompactTaps(const Tensor& tap_index, const Tensor& tap_weight, int64_t n_mels, const char* op) {
    const Tensor idx = as_contiguous(tap_index);
    const Tensor w = as_contiguous(tap_weight);
    const int64_t n_freqs = idx.size(0);
    taps = idx.size(1);
    count.assign(n_freqs, 0);
    index.assign(n_freqs * taps, 0);
    weight.assign(n_freqs * taps, scalar_t(0));
    const int64_t* idx_ptr = idx.const_data_ptr<int64_t>();
    const scalar_t* w_ptr = w.const_data_ptr<scalar_t>();
    for (int64_t f = 0; f < n_freqs; ++f) {
      int64_t c = 0;
      for (int64_t j = 0; j < taps; ++j) {
        const scalar_t wj = w_ptr[f * taps + j];
        const int64_t mel = idx_ptr[f * taps + j];
        STD_TORCH_CHECK(
            mel >= 0 && mel < n_mels, op, ": tap_index entries must lie in [0, ", n_mels,
            "), found ", mel, " at (", f, ", ", j, ")");
        if (wj != scalar_t(0)) {
          index[f * taps + c] = mel;
          weight[f * taps + c] = wj;
          ++c;
        }
      }
      count[f] = c;
      max_count = std::max(max_count, c);
    }
  }
};

}  // namespace inverse_mel
