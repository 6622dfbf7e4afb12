// Input checks of inverse_mel::lstsq_apply, shared by its CPU and CUDA kernels.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <vector>

namespace inverse_mel {

inline void check_lstsq_apply_inputs(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& band,
    c10::DeviceType device_type) {
  const char* backend = device_type == at::kCUDA ? "CUDA" : "CPU";
  TORCH_CHECK(
      melspec.dim() >= 2,
      "lstsq_apply: melspec must have shape (..., n_mels, time) with at least 2 dims, found ",
      melspec.dim(), " dim(s)");
  TORCH_CHECK(
      melspec.scalar_type() == at::kFloat || melspec.scalar_type() == at::kDouble,
      "lstsq_apply: melspec must be float32 or float64, found ", melspec.scalar_type(),
      "; cast it first (the Python API computes float16/bfloat16 in float32)");
  TORCH_CHECK(
      gram_pinv.dim() == 2 && gram_pinv.size(0) == gram_pinv.size(1),
      "lstsq_apply: gram_pinv must be a square (n_mels, n_mels) matrix, found shape ",
      gram_pinv.sizes());
  const int64_t n_mels = melspec.size(-2);
  TORCH_CHECK(
      gram_pinv.size(0) == n_mels,
      "lstsq_apply: expected an input with ", gram_pinv.size(0), " mel bins. Found: ", n_mels);
  TORCH_CHECK(
      tap_index.dim() == 2 && tap_weight.dim() == 2 && tap_index.sizes() == tap_weight.sizes(),
      "lstsq_apply: tap_index and tap_weight must both have shape (n_freqs, taps), found ",
      tap_index.sizes(), " and ", tap_weight.sizes());
  TORCH_CHECK(
      tap_index.scalar_type() == at::kLong,
      "lstsq_apply: tap_index must be int64, found ", tap_index.scalar_type());
  TORCH_CHECK(
      gram_pinv.scalar_type() == melspec.scalar_type() &&
          tap_weight.scalar_type() == melspec.scalar_type(),
      "lstsq_apply: gram_pinv and tap_weight must have melspec's dtype ", melspec.scalar_type(),
      ", found ", gram_pinv.scalar_type(), " and ", tap_weight.scalar_type());
  for (const at::Tensor* t : {&melspec, &gram_pinv, &tap_index, &tap_weight}) {
    TORCH_CHECK(
        t->device().type() == device_type && t->device() == melspec.device(), "lstsq_apply (", backend,
        " kernel): all inputs must be on melspec's device ", melspec.device(), ", found ", t->device());
  }
  if (band.has_value()) {
    TORCH_CHECK(
        band->dim() == 2 && band->size(0) >= 1 && band->size(1) == n_mels,
        "lstsq_apply: gram_cholesky_band must have shape (bands, n_mels) = (bands, ", n_mels,
        "), found ", band->sizes());
    TORCH_CHECK(
        band->scalar_type() == melspec.scalar_type() && band->device() == melspec.device(),
        "lstsq_apply: gram_cholesky_band must be a ", backend, " tensor of melspec's dtype ",
        melspec.scalar_type(), ", found ", band->scalar_type(), " on ", band->device());
  }
  // tap_index bounds are checked by each kernel (on CPU while the taps are compacted).
}


// Shape of the output: (..., n_freqs, time) for melspec (..., n_mels, time).
inline std::vector<int64_t> lstsq_apply_output_sizes(const at::Tensor& melspec, const at::Tensor& tap_index) {
  std::vector<int64_t> sizes(melspec.sizes().begin(), melspec.sizes().end() - 2);
  sizes.push_back(tap_index.size(0));
  sizes.push_back(melspec.size(-1));
  return sizes;
}

// The caller's buffer of lstsq_apply_out: right shape, dtype and device, contiguous, and not
// sharing memory with melspec (the kernel reads melspec while it writes out).
inline void check_lstsq_apply_out(const at::Tensor& melspec, const at::Tensor& tap_index, const at::Tensor& out) {
  const auto expected = lstsq_apply_output_sizes(melspec, tap_index);
  const char* backend = melspec.is_cuda() ? "CUDA" : "CPU";
  TORCH_CHECK(
      out.sizes() == at::IntArrayRef(expected), "lstsq_apply_out: out must have shape ",
      at::IntArrayRef(expected), ", found ", out.sizes());
  TORCH_CHECK(
      out.scalar_type() == melspec.scalar_type() && out.device() == melspec.device(),
      "lstsq_apply_out: out must be a ", backend, " tensor of melspec's dtype ", melspec.scalar_type(),
      " on melspec's device, found ", out.scalar_type(), " on ", out.device());
  TORCH_CHECK(out.is_contiguous(), "lstsq_apply_out: out must be contiguous");
  TORCH_CHECK(!out.is_alias_of(melspec), "lstsq_apply_out: out must not share memory with melspec");
}

}  // namespace inverse_mel
