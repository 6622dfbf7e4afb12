// The NNLS CPU kernels that nnls.cpp's entry points call (forward.cpp, backward.cpp); inputs are
// checked there.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace inverse_mel {
namespace nnls {

// melspec3 (batch, n_mels, time), any strides; out (batch, n_freqs, time) contiguous; iterations,
// residual, converged (batch, time). fill_from: (n_freqs,) or empty, bin f copies bin fill_from[f] >= 0.
template <typename scalar_t>
void nnls_forward_kernel(const at::Tensor& melspec3, const at::Tensor& tap_index, const at::Tensor& tap_weight,
                         const std::vector<int64_t>& fill_from, int64_t max_iter, double tol, at::Tensor& out,
                         at::Tensor& iterations, at::Tensor& residual, at::Tensor& converged);

// grad3, solution3 (batch, n_freqs, time); grad_mel (batch, n_mels, time) contiguous.
template <typename scalar_t>
void nnls_backward_kernel(const at::Tensor& grad3, const at::Tensor& solution3, const at::Tensor& tap_index,
                          const at::Tensor& tap_weight, at::Tensor& grad_mel);

}  // namespace nnls
}  // namespace inverse_mel
