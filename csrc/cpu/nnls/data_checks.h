// The CPU NNLS ops' checks of the filterbank's data (reading it is free on the CPU; on CUDA the
// Python layer checks it once, when it builds the operator): used by nnls.cpp and ../per_frame.cpp.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace inverse_mel {

inline void check_nonnegative_weights(const at::Tensor& tap_weight, const char* op) {
  TORCH_CHECK(
      tap_weight.numel() == 0 || tap_weight.min().item<double>() >= 0.0, op,
      ": the filterbank has negative weights; NNLS needs a non-negative filterbank (use solver=\"lstsq\" for others)");
}

// fill_from: (n_freqs,) int64 or absent. fill_from[f] = j >= 0 makes bin f, which no filter may
// weigh, a copy of bin j, which some filter must weigh; -1 leaves bin f at 0.
inline std::vector<int64_t> fill_from_entries(const std::optional<at::Tensor>& fill_from, const at::Tensor& tap_weight) {
  if (!fill_from.has_value()) {
    return {};
  }
  const int64_t n_freqs = tap_weight.size(0);
  const at::Tensor weighed = tap_weight.ne(0).any(1).contiguous();
  const bool* weighed_ptr = weighed.data_ptr<bool>();
  const at::Tensor fill_c = fill_from->contiguous();
  std::vector<int64_t> result(fill_c.data_ptr<int64_t>(), fill_c.data_ptr<int64_t>() + n_freqs);
  for (int64_t f = 0; f < n_freqs; ++f) {
    const int64_t j = result[f];
    if (j < 0) {
      TORCH_CHECK(j == -1, "nnls: fill_from entries must be -1 or a bin index, found ", j, " at ", f);
      continue;
    }
    TORCH_CHECK(j < n_freqs, "nnls: fill_from[", f, "] = ", j, " is not a bin index (n_freqs = ", n_freqs, ")");
    TORCH_CHECK(
        !weighed_ptr[f], "nnls: fill_from may only fill bins that no filter weighs, but bin ", f, " has weights");
    TORCH_CHECK(
        weighed_ptr[j], "nnls: fill_from[", f, "] = ", j, " must name a bin that some filter weighs");
  }
  return result;
}

// Every tap with a non-zero weight names a mel band in [0, n_mels).
inline void check_tap_bounds(const at::Tensor& tap_index, const at::Tensor& tap_weight, int64_t n_mels, const char* op) {
  const at::Tensor named = tap_index.masked_select(tap_weight.ne(0));
  if (named.numel() == 0) {
    return;
  }
  const int64_t lo = named.min().item<int64_t>();
  const int64_t hi = named.max().item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < n_mels, op, ": tap_index entries must lie in [0, ", n_mels, "), found ", lo < 0 ? lo : hi);
}

}  // namespace inverse_mel
