// Input checks of inverse_mel::pghi_integrate that need no data reads, shared by the CPU and CUDA
// entry points.
#pragma once

#include "stable_tensor.h"

#include <cmath>
#include <cstdint>
#include <vector>

namespace inverse_mel {

inline void check_pghi_inputs(const Tensor& magnitude, const Tensor& time_step, const Tensor& freq_step,
                              const Tensor& order, const Tensor& init_phase, double relative_tol, bool cuda) {
  const char* backend = backend_name(cuda);
  STD_TORCH_CHECK(magnitude.dim() >= 2, "pghi_integrate: magnitude must have shape (..., n_freqs, frames), found ",
                  shape_of(magnitude));
  STD_TORCH_CHECK(is_float_or_double(magnitude.scalar_type()),
                  "pghi_integrate: magnitude must be float32 or float64, found ", magnitude.scalar_type());
  STD_TORCH_CHECK(magnitude.is_cuda() == cuda, "pghi_integrate (", backend, " kernel): magnitude must be on a ",
                  backend, " device, found ", device_text(magnitude));
  for (const Tensor* t : {&time_step, &freq_step, &init_phase}) {
    STD_TORCH_CHECK(same_sizes(*t, magnitude) && t->scalar_type() == magnitude.scalar_type() &&
                        same_device(*t, magnitude),
                    "pghi_integrate: time_step, freq_step and init_phase must match magnitude (shape ",
                    shape_of(magnitude), ", ", magnitude.scalar_type(), ", ", device_text(magnitude), "), found ",
                    shape_of(*t), ", ", t->scalar_type(), ", ", device_text(*t));
  }
  std::vector<int64_t> order_sizes = leading_sizes(magnitude);
  order_sizes.push_back(magnitude.size(-2) * magnitude.size(-1));
  STD_TORCH_CHECK(has_sizes(order, order_sizes) && order.scalar_type() == ScalarType::Long &&
                      same_device(order, magnitude),
                  "pghi_integrate: order must be an int64 tensor of shape ", shape_of(order_sizes),
                  " (each signal's coefficients by decreasing magnitude) on magnitude's device, found ",
                  order.scalar_type(), " of shape ", shape_of(order), " on ", device_text(order));
  STD_TORCH_CHECK(std::isfinite(relative_tol) && relative_tol >= 0.0 && relative_tol <= 1.0,
                  "pghi_integrate: relative_tol must lie in [0, 1], found ", relative_tol);
}

}  // namespace inverse_mel
