// Input checks of inverse_mel::nnls and inverse_mel::nnls_backward that need no data reads, shared
// by the CPU and CUDA entry points. (The CPU kernel also checks the data: tap bounds, negative
// weights, fill_from's entries; on CUDA that would sync the host, so the Python layer checks the
// filterbank once, when it builds the operator, and the kernels never read out of bounds.)
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

namespace inverse_mel {

inline const char* backend_name(c10::DeviceType device_type) {
  return device_type == at::kCUDA ? "CUDA" : "CPU";
}

inline void check_nnls_taps(const at::Tensor& tap_index, const at::Tensor& tap_weight, const at::Tensor& like,
                            const char* op, c10::DeviceType device_type) {
  TORCH_CHECK(
      tap_index.dim() == 2 && tap_weight.dim() == 2 && tap_index.sizes() == tap_weight.sizes(), op,
      ": tap_index and tap_weight must both have shape (n_freqs, taps), found ", tap_index.sizes(), " and ",
      tap_weight.sizes());
  TORCH_CHECK(tap_index.scalar_type() == at::kLong, op, ": tap_index must be int64, found ", tap_index.scalar_type());
  TORCH_CHECK(
      tap_weight.scalar_type() == like.scalar_type(), op, ": tap_weight must have the input's dtype ",
      like.scalar_type(), ", found ", tap_weight.scalar_type());
  TORCH_CHECK(
      tap_index.device() == like.device() && tap_weight.device() == like.device(), op, " (",
      backend_name(device_type), " kernel): tap_index and tap_weight must be on the input's device ", like.device(),
      ", found ", tap_index.device(), " and ", tap_weight.device());
}

inline void check_nnls_inputs(const at::Tensor& melspec, const at::Tensor& tap_index, const at::Tensor& tap_weight,
                              int64_t max_iter, double tol, const std::optional<at::Tensor>& fill_from,
                              c10::DeviceType device_type) {
  TORCH_CHECK(
      melspec.dim() >= 2, "nnls: melspec must have shape (..., n_mels, time), found ", melspec.dim(), " dim(s)");
  TORCH_CHECK(
      melspec.scalar_type() == at::kFloat || melspec.scalar_type() == at::kDouble,
      "nnls: melspec must be float32 or float64, found ", melspec.scalar_type());
  TORCH_CHECK(
      melspec.device().type() == device_type, "nnls (", backend_name(device_type), " kernel): melspec must be on a ",
      backend_name(device_type), " device, found ", melspec.device());
  TORCH_CHECK(max_iter >= 0, "nnls: max_iter must be >= 0, found ", max_iter);
  TORCH_CHECK(std::isfinite(tol) && tol >= 0.0, "nnls: tol must be a finite number >= 0, found ", tol);
  check_nnls_taps(tap_index, tap_weight, melspec, "nnls", device_type);
  if (fill_from.has_value()) {
    const at::Tensor& fill = *fill_from;
    const int64_t n_freqs = tap_weight.size(0);
    TORCH_CHECK(
        fill.dim() == 1 && fill.size(0) == n_freqs && fill.scalar_type() == at::kLong &&
            fill.device() == melspec.device(),
        "nnls: fill_from must be a ", backend_name(device_type), " int64 tensor of shape (", n_freqs,
        ",) (one entry per frequency bin) on melspec's device, found ", fill.scalar_type(), " of shape ", fill.sizes(),
        " on ", fill.device());
  }
}

inline void check_nnls_backward_inputs(const at::Tensor& grad, const at::Tensor& solution,
                                       const at::Tensor& tap_index, const at::Tensor& tap_weight, int64_t n_mels,
                                       c10::DeviceType device_type) {
  TORCH_CHECK(
      grad.sizes() == solution.sizes() && grad.dim() >= 2, "nnls_backward: grad and solution must have the same shape "
      "(..., n_freqs, time), found ", grad.sizes(), " and ", solution.sizes());
  TORCH_CHECK(
      (grad.scalar_type() == at::kFloat || grad.scalar_type() == at::kDouble) &&
          solution.scalar_type() == grad.scalar_type(),
      "nnls_backward: grad and solution must have one dtype, float32 or float64, found ", grad.scalar_type(), " and ",
      solution.scalar_type());
  TORCH_CHECK(
      grad.device().type() == device_type && solution.device() == grad.device(), "nnls_backward (",
      backend_name(device_type), " kernel): grad and solution must be on one ", backend_name(device_type),
      " device, found ", grad.device(), " and ", solution.device());
  TORCH_CHECK(
      tap_index.dim() == 2 && tap_index.size(0) == grad.size(-2), "nnls_backward: tap_index must have shape (",
      grad.size(-2), ", taps), found ", tap_index.sizes());
  TORCH_CHECK(n_mels >= 0, "nnls_backward: n_mels must be >= 0, found ", n_mels);
  check_nnls_taps(tap_index, tap_weight, grad, "nnls_backward", device_type);
}

inline void check_mel_projection_inputs(const at::Tensor& melspec, const at::Tensor& prior, const at::Tensor& tap_index,
                                        const at::Tensor& tap_weight, double penalty, int64_t steps,
                                        c10::DeviceType device_type) {
  TORCH_CHECK(melspec.dim() >= 2, "mel_projection: melspec must have shape (..., n_mels, time), found ",
              melspec.sizes());
  TORCH_CHECK(melspec.scalar_type() == at::kFloat || melspec.scalar_type() == at::kDouble,
              "mel_projection: melspec must be float32 or float64, found ", melspec.scalar_type());
  TORCH_CHECK(melspec.device().type() == device_type, "mel_projection (", backend_name(device_type),
              " kernel): melspec must be on a ", backend_name(device_type), " device, found ", melspec.device());
  check_nnls_taps(tap_index, tap_weight, melspec, "mel_projection", device_type);
  std::vector<int64_t> sizes(melspec.sizes().begin(), melspec.sizes().end() - 2);
  sizes.push_back(tap_index.size(0));
  sizes.push_back(melspec.size(-1));
  TORCH_CHECK(prior.sizes() == at::IntArrayRef(sizes) && prior.scalar_type() == melspec.scalar_type() &&
                  prior.device() == melspec.device(),
              "mel_projection: prior must have shape ", at::IntArrayRef(sizes), " (..., n_freqs, time), melspec's dtype ",
              "and device, found ", prior.sizes(), ", ", prior.scalar_type(), ", ", prior.device());
  TORCH_CHECK(std::isfinite(penalty) && penalty > 0.0, "mel_projection: penalty must be a finite number > 0, found ",
              penalty);
  TORCH_CHECK(steps >= 0, "mel_projection: steps must be >= 0, found ", steps);
}

// (..., n_freqs, time) and (..., time) for melspec (..., n_mels, time).
inline std::vector<int64_t> nnls_output_sizes(const at::Tensor& melspec, int64_t n_freqs) {
  std::vector<int64_t> sizes(melspec.sizes().begin(), melspec.sizes().end() - 2);
  sizes.push_back(n_freqs);
  sizes.push_back(melspec.size(-1));
  return sizes;
}

inline std::vector<int64_t> nnls_frame_sizes(const at::Tensor& melspec) {
  std::vector<int64_t> sizes(melspec.sizes().begin(), melspec.sizes().end() - 2);
  sizes.push_back(melspec.size(-1));
  return sizes;
}

}  // namespace inverse_mel
