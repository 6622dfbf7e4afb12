// Input checks of inverse_mel::pghi_integrate that need no data reads, shared by the CPU and CUDA
// entry points.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <cstdint>

namespace inverse_mel {

inline void check_pghi_inputs(const at::Tensor& magnitude, const at::Tensor& time_step, const at::Tensor& freq_step,
                              const at::Tensor& order, const at::Tensor& init_phase, double relative_tol,
                              c10::DeviceType device_type) {
  const char* backend = device_type == at::kCUDA ? "CUDA" : "CPU";
  TORCH_CHECK(magnitude.dim() >= 2, "pghi_integrate: magnitude must have shape (..., n_freqs, frames), found ",
              magnitude.sizes());
  TORCH_CHECK(magnitude.scalar_type() == at::kFloat || magnitude.scalar_type() == at::kDouble,
              "pghi_integrate: magnitude must be float32 or float64, found ", magnitude.scalar_type());
  TORCH_CHECK(magnitude.device().type() == device_type, "pghi_integrate (", backend, " kernel): magnitude must be on a ",
              backend, " device, found ", magnitude.device());
  for (const at::Tensor* t : {&time_step, &freq_step, &init_phase}) {
    TORCH_CHECK(t->sizes() == magnitude.sizes() && t->scalar_type() == magnitude.scalar_type() &&
                    t->device() == magnitude.device(),
                "pghi_integrate: time_step, freq_step and init_phase must match magnitude (shape ", magnitude.sizes(),
                ", ", magnitude.scalar_type(), ", ", magnitude.device(), "), found ", t->sizes(), ", ",
                t->scalar_type(), ", ", t->device());
  }
  std::vector<int64_t> order_sizes(magnitude.sizes().begin(), magnitude.sizes().end() - 2);
  order_sizes.push_back(magnitude.size(-2) * magnitude.size(-1));
  TORCH_CHECK(order.sizes() == at::IntArrayRef(order_sizes) && order.scalar_type() == at::kLong &&
                  order.device() == magnitude.device(),
              "pghi_integrate: order must be an int64 tensor of shape ", at::IntArrayRef(order_sizes),
              " (each signal's coefficients by decreasing magnitude) on magnitude's device, found ",
              order.scalar_type(), " of shape ", order.sizes(), " on ", order.device());
  TORCH_CHECK(std::isfinite(relative_tol) && relative_tol >= 0.0 && relative_tol <= 1.0,
              "pghi_integrate: relative_tol must lie in [0, 1], found ", relative_tol);
}

}  // namespace inverse_mel
