// CPU builds of the per-frame code the CUDA kernels run (schemas in csrc/inverse_mel.cpp):
// _nnls_per_frame and _nnls_backward_per_frame run shared/nnls_frame.h one frame at a time,
// _lstsq_apply_per_frame runs shared/lstsq_expand.h one frame at a time. They exist for the tests
// (tests/test_per_frame.py), which hold them to the CPU kernels.
#include "../shared/lstsq_apply_checks.h"
#include "../shared/lstsq_expand.h"
#include "../shared/nnls_bank.h"
#include "../shared/nnls_checks.h"
#include "../shared/nnls_frame.h"
#include "../shared/nnls_frame_backward.h"
#include "nnls/data_checks.h"
#include "output.h"
#include "prepared_bank.h"

#include <torch/csrc/stable/library.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

namespace inverse_mel {
namespace {

std::tuple<Tensor, Tensor, Tensor, Tensor> nnls_per_frame_cpu(const Tensor& melspec, const Tensor& tap_index,
                                                               const Tensor& tap_weight, int64_t max_iter, double tol,
                                                               const std::optional<Tensor>& band_edge_fill) {
  check_nnls_inputs(melspec, tap_index, tap_weight, max_iter, tol, band_edge_fill, /*cuda=*/false);
  check_nonnegative_weights(tap_weight, "nnls");
  const int64_t n_mels = melspec.size(-2);
  check_tap_bounds(tap_index, tap_weight, n_mels, "nnls");
  const std::vector<int64_t> fill = band_edge_fill_entries(band_edge_fill, tap_weight);
  const int64_t time = melspec.size(-1);
  const int64_t n_freqs = tap_index.size(0);
  Tensor out, iterations, residual, converged;
  std::tie(out, iterations, residual, converged) = nnls_outputs(melspec, n_freqs);
  if (out.numel() == 0 || n_mels == 0) {
    zero_(out);
    return {out, iterations, residual, converged};
  }
  THO_DISPATCH_V2(melspec.scalar_type(), "nnls_per_frame_cpu", AT_WRAP([&] {
    const Batched3<scalar_t> mel3(melspec);
    const int64_t frames = mel3.batch * time;
    const PreparedBank<scalar_t> prepared(tap_index, tap_weight, n_mels, fill.empty() ? nullptr : fill.data());
    const nnls::FrameBank<scalar_t> bank = prepared.bank;
    scalar_t* out_ptr = out.mutable_data_ptr<scalar_t>();
    int32_t* iter_ptr = iterations.mutable_data_ptr<int32_t>();
    scalar_t* res_ptr = residual.mutable_data_ptr<scalar_t>();
    bool* conv_ptr = converged.mutable_data_ptr<bool>();
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      torch::stable::parallel_for(0, frames, 16, [&](int64_t begin, int64_t end) {
        std::vector<double> s_work(bank.hi - bank.lo);
        auto solver = std::make_unique<nnls::FrameNnls<scalar_t, kMels, nnls::kFrameMaxBands>>(bank, max_iter, tol);
        for (int64_t frame = begin; frame < end; ++frame) {
          const int64_t b = frame / time, t = frame % time;
          const nnls::FrameReport<scalar_t> report =
              solver->solve(mel3.data + b * mel3.stride_batch + t * mel3.stride_col, mel3.stride_row,
                            out_ptr + b * n_freqs * time + t, time, nnls::StridedRow{s_work.data(), 1});
          iter_ptr[frame] = report.steps;
          res_ptr[frame] = report.residual;
          conv_ptr[frame] = report.converged;
        }
      });
    });
  }), AT_FLOATING_TYPES);
  return {out, iterations, residual, converged};
}

Tensor nnls_backward_per_frame_cpu(const Tensor& grad, const Tensor& solution, const Tensor& tap_index,
                                   const Tensor& tap_weight, int64_t n_mels) {
  check_nnls_backward_inputs(grad, solution, tap_index, tap_weight, n_mels, /*cuda=*/false);
  check_nonnegative_weights(tap_weight, "nnls_backward");
  check_tap_bounds(tap_index, tap_weight, n_mels, "nnls_backward");
  const int64_t time = grad.size(-1);
  const int64_t n_freqs = grad.size(-2);
  Tensor grad_mel = empty_on(grad, with_last_two(leading_sizes(grad), n_mels, time));
  zero_(grad_mel);
  if (grad_mel.numel() == 0 || n_freqs == 0) {
    return grad_mel;
  }
  const Tensor grad_c = as_contiguous(grad);
  const Tensor sol_c = as_contiguous(solution);
  const int64_t frames = grad_c.numel() / n_freqs;
  THO_DISPATCH_V2(grad.scalar_type(), "nnls_backward_per_frame_cpu", AT_WRAP([&] {
    const PreparedBank<scalar_t> prepared(tap_index, tap_weight, n_mels, nullptr);
    const nnls::FrameBank<scalar_t> bank = prepared.bank;
    const scalar_t* grad_ptr = grad_c.const_data_ptr<scalar_t>();
    const scalar_t* sol_ptr = sol_c.const_data_ptr<scalar_t>();
    scalar_t* out = grad_mel.mutable_data_ptr<scalar_t>();
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      torch::stable::parallel_for(0, frames, 16, [&](int64_t begin, int64_t end) {
        auto solver = std::make_unique<nnls::FrameNnlsBackward<scalar_t, kMels, nnls::kFrameMaxBands>>(bank);
        for (int64_t frame = begin; frame < end; ++frame) {
          const int64_t b = frame / time, t = frame % time;
          const int64_t offset = b * n_freqs * time + t;
          solver->solve(grad_ptr + offset, sol_ptr + offset, time, out + b * n_mels * time + t, time);
        }
      });
    });
  }), AT_FLOATING_TYPES);
  return grad_mel;
}

Tensor lstsq_apply_per_frame_cpu(const Tensor& melspec, const Tensor& gram_pinv, const Tensor& tap_index,
                                 const Tensor& tap_weight, const std::optional<Tensor>& band) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, band, /*cuda=*/false);
  Tensor out = empty_on(melspec, lstsq_apply_output_sizes(melspec, tap_index));
  const int64_t n_mels = melspec.size(-2), time = melspec.size(-1), n_freqs = tap_index.size(0);
  if (out.numel() == 0) {
    return out;
  }
  // Per frame, as the CUDA kernel does: y = gram_pinv @ m (shared/lstsq_expand.h), then the expansion.
  const Tensor gram = as_contiguous(gram_pinv);
  const Tensor index = as_contiguous(tap_index);
  const Tensor weight = as_contiguous(tap_weight);
  const int64_t taps = index.size(1);
  THO_DISPATCH_V2(melspec.scalar_type(), "lstsq_apply_per_frame_cpu", AT_WRAP([&] {
    const Batched3<scalar_t> mel3(melspec);
    const scalar_t* gram_ptr = gram.const_data_ptr<scalar_t>();
    const int64_t* index_ptr = index.const_data_ptr<int64_t>();
    const scalar_t* weight_ptr = weight.const_data_ptr<scalar_t>();
    scalar_t* out_ptr = out.mutable_data_ptr<scalar_t>();
    torch::stable::parallel_for(0, mel3.batch * time, 64, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> y(static_cast<size_t>(n_mels));
      for (int64_t frame = begin; frame < end; ++frame) {
        const int64_t b = frame / time, t = frame % time;
        const scalar_t* m = mel3.data + b * mel3.stride_batch + t * mel3.stride_col;
        for (int64_t k = 0; k < n_mels; ++k) {
          y[k] = projected_mel(gram_ptr + k * n_mels, m, mel3.stride_row, n_mels);
        }
        for (int64_t f = 0; f < n_freqs; ++f) {
          out_ptr[(b * n_freqs + f) * time + t] =
              expanded_bin(index_ptr + f * taps, weight_ptr + f * taps, taps, n_mels, y.data(), 1);
        }
      }
    });
  }), AT_FLOATING_TYPES);
  return out;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("_nnls_per_frame", TORCH_BOX(&nnls_per_frame_cpu));
  m.impl("_nnls_backward_per_frame", TORCH_BOX(&nnls_backward_per_frame_cpu));
  m.impl("_lstsq_apply_per_frame", TORCH_BOX(&lstsq_apply_per_frame_cpu));
}

}  // namespace inverse_mel
