// The CPU NNLS ops' checks of the filterbank's data (reading it is free on the CPU; on CUDA the
// Python layer checks it once, when it builds the operator): used by nnls.cpp and ../per_frame.cpp.
#pragma once

#include "../../shared/stable_tensor.h"

#include <cstdint>
#include <optional>
#include <vector>

namespace inverse_mel {

// Calls body(ptr) with tap_weight's contiguous data as float* or double* (the ops' dtypes).
template <typename Body>
void with_weights(const Tensor& tap_weight, const Body& body) {
  const Tensor w = as_contiguous(tap_weight);
  THO_DISPATCH_V2(w.scalar_type(), "with_weights", AT_WRAP([&] { body(w.const_data_ptr<scalar_t>()); }),
                  AT_FLOATING_TYPES);
}

inline void check_nonnegative_weights(const Tensor& tap_weight, const char* op) {
  bool nonnegative = true;
  with_weights(tap_weight, [&](const auto* w) {
    for (int64_t i = 0, n = tap_weight.numel(); i < n; ++i) {
      nonnegative = nonnegative && w[i] >= 0;  // false for NaN too
    }
  });
  STD_TORCH_CHECK(
      nonnegative, op,
      ": the filterbank has negative weights; NNLS needs a non-negative filterbank (use solver=\"lstsq\" for others)");
}

// weighed[f]: bin f has a non-zero tap weight.
inline std::vector<bool> weighed_bins(const Tensor& tap_weight) {
  const int64_t n_freqs = tap_weight.size(0), taps = tap_weight.size(1);
  std::vector<bool> weighed(n_freqs, false);
  with_weights(tap_weight, [&](const auto* w) {
    for (int64_t f = 0; f < n_freqs; ++f) {
      for (int64_t j = 0; j < taps; ++j) {
        weighed[f] = weighed[f] || w[f * taps + j] != 0;
      }
    }
  });
  return weighed;
}

// band_edge_fill: (n_freqs,) int64 or absent. band_edge_fill[f] = j >= 0 makes bin f, which no filter may
// weigh, a copy of bin j, which some filter must weigh; -1 leaves bin f at 0.
inline std::vector<int64_t> band_edge_fill_entries(const std::optional<Tensor>& band_edge_fill,
                                                   const Tensor& tap_weight) {
  if (!band_edge_fill.has_value()) {
    return {};
  }
  const int64_t n_freqs = tap_weight.size(0);
  const std::vector<bool> weighed = weighed_bins(tap_weight);
  const Tensor fill_c = as_contiguous(*band_edge_fill);
  const int64_t* fill_ptr = fill_c.const_data_ptr<int64_t>();
  std::vector<int64_t> result(fill_ptr, fill_ptr + n_freqs);
  for (int64_t f = 0; f < n_freqs; ++f) {
    const int64_t j = result[f];
    if (j < 0) {
      STD_TORCH_CHECK(j == -1, "nnls: band_edge_fill entries must be -1 or a bin index, found ", j, " at ", f);
      continue;
    }
    STD_TORCH_CHECK(j < n_freqs, "nnls: band_edge_fill[", f, "] = ", j, " is not a bin index (n_freqs = ", n_freqs,
                    ")");
    STD_TORCH_CHECK(
        !weighed[f], "nnls: band_edge_fill may only fill bins that no filter weighs, but bin ", f, " has weights");
    STD_TORCH_CHECK(weighed[j], "nnls: band_edge_fill[", f, "] = ", j, " must name a bin that some filter weighs");
  }
  return result;
}

// Every tap with a non-zero weight names a mel band in [0, n_mels).
inline void check_tap_bounds(const Tensor& tap_index, const Tensor& tap_weight, int64_t n_mels, const char* op) {
  const Tensor idx = as_contiguous(tap_index);
  const int64_t* idx_ptr = idx.const_data_ptr<int64_t>();
  bool any = false;
  int64_t lo = 0, hi = 0;
  with_weights(tap_weight, [&](const auto* w) {
    for (int64_t i = 0, n = tap_weight.numel(); i < n; ++i) {
      if (w[i] != 0) {
        lo = any ? std::min(lo, idx_ptr[i]) : idx_ptr[i];
        hi = any ? std::max(hi, idx_ptr[i]) : idx_ptr[i];
        any = true;
      }
    }
  });
  STD_TORCH_CHECK(!any || (lo >= 0 && hi < n_mels), op, ": tap_index entries must lie in [0, ", n_mels, "), found ",
                  lo < 0 ? lo : hi);
}

}  // namespace inverse_mel
