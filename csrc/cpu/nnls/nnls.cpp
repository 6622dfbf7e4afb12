// CPU entry points of inverse_mel::nnls and inverse_mel::nnls_backward (schemas in
// csrc/inverse_mel.cpp): checks, outputs, dispatch to the kernels (forward.cpp, backward.cpp) and
// registration. The solver is described in README.md beside this file.
#include "../../shared/nnls_checks.h"
#include "../output.h"
#include "data_checks.h"
#include "kernels.h"

#include <torch/csrc/stable/library.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

namespace inverse_mel {
namespace {

std::tuple<Tensor, Tensor, Tensor, Tensor> nnls_cpu(
    const Tensor& melspec,
    const Tensor& tap_index,
    const Tensor& tap_weight,
    int64_t max_iter,
    double tol,
    const std::optional<Tensor>& band_edge_fill) {
  check_nnls_inputs(melspec, tap_index, tap_weight, max_iter, tol, band_edge_fill, /*cuda=*/false);
  check_nonnegative_weights(tap_weight, "nnls");
  const std::vector<int64_t> fill = band_edge_fill_entries(band_edge_fill, tap_weight);
  const int64_t n_mels = melspec.size(-2);
  const int64_t n_freqs = tap_index.size(0);
  Tensor out, iterations, residual, converged;
  std::tie(out, iterations, residual, converged) = nnls_outputs(melspec, n_freqs);
  if (out.numel() == 0 || n_mels == 0) {
    zero_(out);
    return {out, iterations, residual, converged};
  }
  THO_DISPATCH_V2(melspec.scalar_type(), "nnls_cpu", AT_WRAP([&] {
    const Batched3<scalar_t> mel3(melspec);
    nnls::nnls_forward_kernel<scalar_t>(mel3, tap_index, tap_weight, fill, max_iter, tol, n_freqs,
                                        out.mutable_data_ptr<scalar_t>(), iterations.mutable_data_ptr<int32_t>(),
                                        residual.mutable_data_ptr<scalar_t>(), converged.mutable_data_ptr<bool>());
  }), AT_FLOATING_TYPES);
  return {out, iterations, residual, converged};
}

Tensor nnls_backward_cpu(
    const Tensor& grad,
    const Tensor& solution,
    const Tensor& tap_index,
    const Tensor& tap_weight,
    int64_t n_mels) {
  check_nnls_backward_inputs(grad, solution, tap_index, tap_weight, n_mels, /*cuda=*/false);
  check_nonnegative_weights(tap_weight, "nnls_backward");
  const int64_t n_freqs = grad.size(-2);
  const int64_t time = grad.size(-1);
  Tensor grad_mel = empty_on(grad, with_last_two(leading_sizes(grad), n_mels, time));
  if (grad_mel.numel() == 0 || n_freqs == 0) {
    zero_(grad_mel);
    return grad_mel;
  }
  const Tensor grad_c = as_contiguous(grad);
  const Tensor sol_c = as_contiguous(solution);
  const int64_t batch = grad_c.numel() / (n_freqs * time);
  THO_DISPATCH_V2(grad.scalar_type(), "nnls_backward_cpu", AT_WRAP([&] {
    nnls::nnls_backward_kernel<scalar_t>(grad_c.const_data_ptr<scalar_t>(), sol_c.const_data_ptr<scalar_t>(), batch,
                                         n_freqs, time, tap_index, tap_weight, n_mels,
                                         grad_mel.mutable_data_ptr<scalar_t>());
  }), AT_FLOATING_TYPES);
  return grad_mel;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("nnls", TORCH_BOX(&nnls_cpu));
  m.impl("nnls_backward", TORCH_BOX(&nnls_backward_cpu));
}

}  // namespace inverse_mel
