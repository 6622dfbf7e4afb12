// CPU entry points of inverse_mel::nnls and inverse_mel::nnls_backward (schemas in
// csrc/inverse_mel.cpp): checks, outputs, dispatch to the kernels (forward.cpp, backward.cpp) and
// registration. The solver is described in README.md beside this file.
#include "../../shared/nnls_checks.h"
#include "../output.h"
#include "data_checks.h"
#include "kernels.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

namespace inverse_mel {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> nnls_cpu(
    const at::Tensor& melspec,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    int64_t max_iter,
    double tol,
    const std::optional<at::Tensor>& fill_from) {
  check_nnls_inputs(melspec, tap_index, tap_weight, max_iter, tol, fill_from, at::kCPU);
  check_nonnegative_weights(tap_weight, "nnls");
  const std::vector<int64_t> fill = fill_from_entries(fill_from, tap_weight);
  const int64_t n_mels = melspec.size(-2);
  const int64_t time = melspec.size(-1);
  const std::vector<int64_t> frame_sizes = nnls_frame_sizes(melspec);
  at::Tensor out = empty_output(nnls_output_sizes(melspec, tap_index.size(0)), melspec.options());
  at::Tensor iterations = at::zeros(frame_sizes, melspec.options().dtype(at::kInt));
  at::Tensor residual = at::zeros(frame_sizes, melspec.options());
  at::Tensor converged = at::ones(frame_sizes, melspec.options().dtype(at::kBool));
  if (out.numel() == 0 || n_mels == 0) {
    out.zero_();
    return {out, iterations, residual, converged};
  }
  const at::Tensor melspec3 = melspec.reshape({-1, n_mels, time});
  at::Tensor out3 = out.view({-1, tap_index.size(0), time});
  at::Tensor iter2 = iterations.view({-1, time});
  at::Tensor res2 = residual.view({-1, time});
  at::Tensor conv2 = converged.view({-1, time});
  AT_DISPATCH_FLOATING_TYPES(melspec.scalar_type(), "nnls_cpu", [&] {
    nnls::nnls_forward_kernel<scalar_t>(melspec3, tap_index, tap_weight, fill, max_iter, tol, out3, iter2, res2, conv2);
  });
  return {out, iterations, residual, converged};
}

at::Tensor nnls_backward_cpu(
    const at::Tensor& grad,
    const at::Tensor& solution,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    int64_t n_mels) {
  check_nnls_backward_inputs(grad, solution, tap_index, tap_weight, n_mels, at::kCPU);
  check_nonnegative_weights(tap_weight, "nnls_backward");
  std::vector<int64_t> sizes(grad.sizes().begin(), grad.sizes().end() - 2);
  const int64_t time = grad.size(-1);
  sizes.push_back(n_mels);
  sizes.push_back(time);
  at::Tensor grad_mel = at::zeros(sizes, grad.options());
  if (grad_mel.numel() == 0 || grad.size(-2) == 0) {
    return grad_mel;
  }
  const int64_t n_freqs = grad.size(-2);
  at::Tensor out3 = grad_mel.view({-1, n_mels, time});
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "nnls_backward_cpu", [&] {
    nnls::nnls_backward_kernel<scalar_t>(
        grad.reshape({-1, n_freqs, time}), solution.reshape({-1, n_freqs, time}), tap_index, tap_weight, out3);
  });
  return grad_mel;
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("nnls", &nnls_cpu);
  m.impl("nnls_backward", &nnls_backward_cpu);
}

}  // namespace inverse_mel
