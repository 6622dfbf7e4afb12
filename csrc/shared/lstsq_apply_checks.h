// Input checks of inverse_mel::lstsq_apply, shared by its CPU and CUDA kernels.
#pragma once

#include "stable_tensor.h"

#include <optional>
#include <vector>

namespace inverse_mel {

inline void check_lstsq_apply_inputs(
    const Tensor& melspec,
    const Tensor& gram_pinv,
    const Tensor& tap_index,
    const Tensor& tap_weight,
    const std::optional<Tensor>& band,
    bool cuda) {
  const char* backend = backend_name(cuda);
  STD_TORCH_CHECK(
      melspec.dim() >= 2,
      "lstsq_apply: melspec must have shape (..., n_mels, time) with at least 2 dims, found ",
      melspec.dim(), " dim(s)");
  STD_TORCH_CHECK(
      is_float_or_double(melspec.scalar_type()),
      "lstsq_apply: melspec must be float32 or float64, found ", melspec.scalar_type(),
      "; cast it first (the Python API computes float16/bfloat16 in float32)");
  STD_TORCH_CHECK(
      gram_pinv.dim() == 2 && gram_pinv.size(0) == gram_pinv.size(1),
      "lstsq_apply: gram_pinv must be a square (n_mels, n_mels) matrix, found shape ", shape_of(gram_pinv));
  const int64_t n_mels = melspec.size(-2);
  STD_TORCH_CHECK(
      gram_pinv.size(0) == n_mels,
      "lstsq_apply: expected an input with ", gram_pinv.size(0), " mel bins. Found: ", n_mels);
  STD_TORCH_CHECK(
      tap_index.dim() == 2 && tap_weight.dim() == 2 && same_sizes(tap_index, tap_weight),
      "lstsq_apply: tap_index and tap_weight must both have shape (n_freqs, taps), found ",
      shape_of(tap_index), " and ", shape_of(tap_weight));
  STD_TORCH_CHECK(
      tap_index.scalar_type() == ScalarType::Long,
      "lstsq_apply: tap_index must be int64, found ", tap_index.scalar_type());
  STD_TORCH_CHECK(
      gram_pinv.scalar_type() == melspec.scalar_type() &&
          tap_weight.scalar_type() == melspec.scalar_type(),
      "lstsq_apply: gram_pinv and tap_weight must have melspec's dtype ", melspec.scalar_type(),
      ", found ", gram_pinv.scalar_type(), " and ", tap_weight.scalar_type());
  for (const Tensor* t : {&melspec, &gram_pinv, &tap_index, &tap_weight}) {
    STD_TORCH_CHECK(
        t->is_cuda() == cuda && same_device(*t, melspec), "lstsq_apply (", backend,
        " kernel): all inputs must be on melspec's device ", device_text(melspec), ", found ", device_text(*t));
  }
  if (band.has_value()) {
    STD_TORCH_CHECK(
        band->dim() == 2 && band->size(0) >= 1 && band->size(1) == n_mels,
        "lstsq_apply: gram_cholesky_band must have shape (bands, n_mels) = (bands, ", n_mels,
        "), found ", shape_of(*band));
    STD_TORCH_CHECK(
        band->scalar_type() == melspec.scalar_type() && same_device(*band, melspec),
        "lstsq_apply: gram_cholesky_band must be a ", backend, " tensor of melspec's dtype ",
        melspec.scalar_type(), ", found ", band->scalar_type(), " on ", device_text(*band));
  }
  // tap_index bounds are checked by each kernel (on CPU while the taps are compacted).
}

// Shape of the output: (..., n_freqs, time) for melspec (..., n_mels, time).
inline std::vector<int64_t> lstsq_apply_output_sizes(const Tensor& melspec, const Tensor& tap_index) {
  return with_last_two(leading_sizes(melspec), tap_index.size(0), melspec.size(-1));
}

// The caller's buffer of lstsq_apply_out: right shape, dtype and device, contiguous, and not
// sharing memory with melspec (the kernel reads melspec while it writes out).
inline void check_lstsq_apply_out(const Tensor& melspec, const Tensor& tap_index, const Tensor& out) {
  const auto expected = lstsq_apply_output_sizes(melspec, tap_index);
  const char* backend = backend_name(melspec.is_cuda());
  STD_TORCH_CHECK(
      has_sizes(out, expected), "lstsq_apply_out: out must have shape ", shape_of(expected), ", found ",
      shape_of(out));
  STD_TORCH_CHECK(
      out.scalar_type() == melspec.scalar_type() && same_device(out, melspec),
      "lstsq_apply_out: out must be a ", backend, " tensor of melspec's dtype ", melspec.scalar_type(),
      " on melspec's device, found ", out.scalar_type(), " on ", device_text(out));
  STD_TORCH_CHECK(out.is_contiguous(), "lstsq_apply_out: out must be contiguous");
  STD_TORCH_CHECK(!memory_overlaps(out, melspec), "lstsq_apply_out: out must not share memory with melspec");
}

}  // namespace inverse_mel
