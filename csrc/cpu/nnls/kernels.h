// The NNLS CPU kernels that nnls.cpp's entry points call (forward.cpp, backward.cpp); inputs are
// checked there.
#pragma once

#include "../../shared/stable_tensor.h"

#include <cstdint>
#include <vector>

namespace inverse_mel {
namespace nnls {

// mel: (batch, n_mels, time), any strides. Outputs, contiguous: out (batch, n_freqs, time);
// iterations, residual, converged (batch, time). band_edge_fill: (n_freqs,) or empty, bin f copies bin
// band_edge_fill[f] >= 0.
template <typename scalar_t>
void nnls_forward_kernel(const Batched3<scalar_t>& mel, const Tensor& tap_index, const Tensor& tap_weight,
                         const std::vector<int64_t>& band_edge_fill, int64_t max_iter, double tol, int64_t n_freqs,
                         scalar_t* out, int32_t* iterations, scalar_t* residual, bool* converged);

// grad, solution: (batch, n_freqs, time) contiguous; grad_mel: (batch, n_mels, time) contiguous.
template <typename scalar_t>
void nnls_backward_kernel(const scalar_t* grad, const scalar_t* solution, int64_t batch, int64_t n_freqs,
                          int64_t time, const Tensor& tap_index, const Tensor& tap_weight, int64_t n_mels,
                          scalar_t* grad_mel);

}  // namespace nnls
}  // namespace inverse_mel
