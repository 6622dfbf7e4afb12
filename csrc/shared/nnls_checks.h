// Input checks of inverse_mel::nnls and inverse_mel::nnls_backward that need no data reads, shared
// by the CPU and CUDA entry points. (The CPU kernel also checks the data: tap bounds, negative
// weights, band_edge_fill's entries; on CUDA that would sync the host, so the Python layer checks the
// filterbank once, when it builds the operator, and the kernels never read out of bounds.)
#pragma once

#include "stable_tensor.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

namespace inverse_mel {

inline void check_nnls_taps(const Tensor& tap_index, const Tensor& tap_weight, const Tensor& like, const char* op,
                            bool cuda) {
  STD_TORCH_CHECK(
      tap_index.dim() == 2 && tap_weight.dim() == 2 && same_sizes(tap_index, tap_weight), op,
      ": tap_index and tap_weight must both have shape (n_freqs, taps), found ", shape_of(tap_index), " and ",
      shape_of(tap_weight));
  STD_TORCH_CHECK(tap_index.scalar_type() == ScalarType::Long, op, ": tap_index must be int64, found ",
                  tap_index.scalar_type());
  STD_TORCH_CHECK(
      tap_weight.scalar_type() == like.scalar_type(), op, ": tap_weight must have the input's dtype ",
      like.scalar_type(), ", found ", tap_weight.scalar_type());
  STD_TORCH_CHECK(
      same_device(tap_index, like) && same_device(tap_weight, like), op, " (", backend_name(cuda),
      " kernel): tap_index and tap_weight must be on the input's device ", device_text(like), ", found ",
      device_text(tap_index), " and ", device_text(tap_weight));
}

inline void check_nnls_inputs(const Tensor& melspec, const Tensor& tap_index, const Tensor& tap_weight,
                              int64_t max_iter, double tol, const std::optional<Tensor>& band_edge_fill, bool cuda) {
  STD_TORCH_CHECK(
      melspec.dim() >= 2, "nnls: melspec must have shape (..., n_mels, time), found ", melspec.dim(), " dim(s)");
  STD_TORCH_CHECK(is_float_or_double(melspec.scalar_type()), "nnls: melspec must be float32 or float64, found ",
                  melspec.scalar_type());
  STD_TORCH_CHECK(
      melspec.is_cuda() == cuda, "nnls (", backend_name(cuda), " kernel): melspec must be on a ",
      backend_name(cuda), " device, found ", device_text(melspec));
  STD_TORCH_CHECK(max_iter >= 0, "nnls: max_iter must be >= 0, found ", max_iter);
  STD_TORCH_CHECK(std::isfinite(tol) && tol >= 0.0, "nnls: tol must be a finite number >= 0, found ", tol);
  check_nnls_taps(tap_index, tap_weight, melspec, "nnls", cuda);
  if (band_edge_fill.has_value()) {
    const Tensor& fill = *band_edge_fill;
    const int64_t n_freqs = tap_weight.size(0);
    STD_TORCH_CHECK(
        fill.dim() == 1 && fill.size(0) == n_freqs && fill.scalar_type() == ScalarType::Long &&
            same_device(fill, melspec),
        "nnls: band_edge_fill must be a ", backend_name(cuda), " int64 tensor of shape (", n_freqs,
        ",) (one entry per frequency bin) on melspec's device, found ", fill.scalar_type(), " of shape ",
        shape_of(fill), " on ", device_text(fill));
  }
}

inline void check_nnls_backward_inputs(const Tensor& grad, const Tensor& solution, const Tensor& tap_index,
                                       const Tensor& tap_weight, int64_t n_mels, bool cuda) {
  STD_TORCH_CHECK(
      same_sizes(grad, solution) && grad.dim() >= 2, "nnls_backward: grad and solution must have the same shape "
      "(..., n_freqs, time), found ", shape_of(grad), " and ", shape_of(solution));
  STD_TORCH_CHECK(
      is_float_or_double(grad.scalar_type()) && solution.scalar_type() == grad.scalar_type(),
      "nnls_backward: grad and solution must have one dtype, float32 or float64, found ", grad.scalar_type(), " and ",
      solution.scalar_type());
  STD_TORCH_CHECK(
      grad.is_cuda() == cuda && same_device(solution, grad), "nnls_backward (", backend_name(cuda),
      " kernel): grad and solution must be on one ", backend_name(cuda), " device, found ", device_text(grad),
      " and ", device_text(solution));
  STD_TORCH_CHECK(
      tap_index.dim() == 2 && tap_index.size(0) == grad.size(-2), "nnls_backward: tap_index must have shape (",
      grad.size(-2), ", taps), found ", shape_of(tap_index));
  STD_TORCH_CHECK(n_mels >= 0, "nnls_backward: n_mels must be >= 0, found ", n_mels);
  check_nnls_taps(tap_index, tap_weight, grad, "nnls_backward", cuda);
}

inline void check_mel_projection_inputs(const Tensor& melspec, const Tensor& prior, const Tensor& tap_index,
                                        const Tensor& tap_weight, double penalty, int64_t steps, bool cuda) {
  STD_TORCH_CHECK(melspec.dim() >= 2, "mel_projection: melspec must have shape (..., n_mels, time), found ",
                  shape_of(melspec));
  STD_TORCH_CHECK(is_float_or_double(melspec.scalar_type()),
                  "mel_projection: melspec must be float32 or float64, found ", melspec.scalar_type());
  STD_TORCH_CHECK(melspec.is_cuda() == cuda, "mel_projection (", backend_name(cuda),
                  " kernel): melspec must be on a ", backend_name(cuda), " device, found ", device_text(melspec));
  check_nnls_taps(tap_index, tap_weight, melspec, "mel_projection", cuda);
  const std::vector<int64_t> sizes = with_last_two(leading_sizes(melspec), tap_index.size(0), melspec.size(-1));
  STD_TORCH_CHECK(has_sizes(prior, sizes) && prior.scalar_type() == melspec.scalar_type() &&
                      same_device(prior, melspec),
                  "mel_projection: prior must have shape ", shape_of(sizes), " (..., n_freqs, time), melspec's dtype ",
                  "and device, found ", shape_of(prior), ", ", prior.scalar_type(), ", ", device_text(prior));
  STD_TORCH_CHECK(std::isfinite(penalty) && penalty > 0.0,
                  "mel_projection: penalty must be a finite number > 0, found ", penalty);
  STD_TORCH_CHECK(steps >= 0, "mel_projection: steps must be >= 0, found ", steps);
}

// (..., n_freqs, time) and (..., time) for melspec (..., n_mels, time).
inline std::vector<int64_t> nnls_output_sizes(const Tensor& melspec, int64_t n_freqs) {
  return with_last_two(leading_sizes(melspec), n_freqs, melspec.size(-1));
}

inline std::vector<int64_t> nnls_frame_sizes(const Tensor& melspec) {
  std::vector<int64_t> sizes = leading_sizes(melspec);
  sizes.push_back(melspec.size(-1));
  return sizes;
}

}  // namespace inverse_mel
