// CPU builds of the per-frame code the CUDA kernels run (schemas in csrc/inverse_mel.cpp):
// _nnls_per_frame and _nnls_backward_per_frame run shared/nnls_frame.h one frame at a time,
// _lstsq_apply_per_frame runs shared/lstsq_expand.h one frame at a time. They exist for the tests
// (tests/test_per_frame.py), which hold them to the CPU kernels.
#include "../shared/lstsq_apply_checks.h"
#include "../shared/lstsq_expand.h"
#include "../shared/nnls_bank.h"
#include "../shared/nnls_checks.h"
#include "../shared/nnls_frame.h"
#include "nnls/data_checks.h"
#include "prepared_bank.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <tuple>
#include <vector>

namespace inverse_mel {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> nnls_per_frame_cpu(
    const at::Tensor& melspec, const at::Tensor& tap_index, const at::Tensor& tap_weight, int64_t max_iter, double tol,
    const std::optional<at::Tensor>& fill_from) {
  check_nnls_inputs(melspec, tap_index, tap_weight, max_iter, tol, fill_from, at::kCPU);
  check_nonnegative_weights(tap_weight, "nnls");
  const int64_t n_mels = melspec.size(-2);
  check_tap_bounds(tap_index, tap_weight, n_mels, "nnls");
  const std::vector<int64_t> fill = fill_from_entries(fill_from, tap_weight);
  const int64_t time = melspec.size(-1);
  const int64_t n_freqs = tap_index.size(0);
  const std::vector<int64_t> frame_sizes = nnls_frame_sizes(melspec);
  at::Tensor out = at::empty(nnls_output_sizes(melspec, n_freqs), melspec.options());
  at::Tensor iterations = at::zeros(frame_sizes, melspec.options().dtype(at::kInt));
  at::Tensor residual = at::zeros(frame_sizes, melspec.options());
  at::Tensor converged = at::ones(frame_sizes, melspec.options().dtype(at::kBool));
  if (out.numel() == 0 || n_mels == 0) {
    out.zero_();
    return {out, iterations, residual, converged};
  }
  const at::Tensor mel3 = melspec.reshape({-1, n_mels, time});
  const int64_t frames = mel3.size(0) * time;
  AT_DISPATCH_FLOATING_TYPES(melspec.scalar_type(), "nnls_per_frame_cpu", [&] {
    const PreparedBank<scalar_t> prepared(tap_index, tap_weight, n_mels, fill.empty() ? nullptr : fill.data());
    const nnls::FrameBank<scalar_t> bank = prepared.bank;
    const scalar_t* mel = mel3.data_ptr<scalar_t>();
    scalar_t* out_ptr = out.data_ptr<scalar_t>();
    int32_t* iter_ptr = iterations.data_ptr<int32_t>();
    scalar_t* res_ptr = residual.data_ptr<scalar_t>();
    bool* conv_ptr = converged.data_ptr<bool>();
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      at::parallel_for(0, frames, 16, [&](int64_t begin, int64_t end) {
        std::vector<double> s_work(bank.hi - bank.lo);
        auto solver = std::make_unique<nnls::FrameNnls<scalar_t, kMels, nnls::kFrameMaxBands>>(bank, max_iter, tol);
        for (int64_t frame = begin; frame < end; ++frame) {
          const int64_t b = frame / time, t = frame % time;
          const nnls::FrameReport<scalar_t> report =
              solver->solve(mel + b * mel3.stride(0) + t * mel3.stride(2), mel3.stride(1),
                            out_ptr + b * n_freqs * time + t, time, nnls::StridedRow{s_work.data(), 1});
          iter_ptr[frame] = report.steps;
          res_ptr[frame] = report.residual;
          conv_ptr[frame] = report.converged;
        }
      });
    });
  });
  return {out, iterations, residual, converged};
}

at::Tensor nnls_backward_per_frame_cpu(const at::Tensor& grad, const at::Tensor& solution, const at::Tensor& tap_index,
                                       const at::Tensor& tap_weight, int64_t n_mels) {
  check_nnls_backward_inputs(grad, solution, tap_index, tap_weight, n_mels, at::kCPU);
  check_nonnegative_weights(tap_weight, "nnls_backward");
  check_tap_bounds(tap_index, tap_weight, n_mels, "nnls_backward");
  std::vector<int64_t> sizes(grad.sizes().begin(), grad.sizes().end() - 2);
  const int64_t time = grad.size(-1);
  const int64_t n_freqs = grad.size(-2);
  sizes.push_back(n_mels);
  sizes.push_back(time);
  at::Tensor grad_mel = at::zeros(sizes, grad.options());
  if (grad_mel.numel() == 0 || n_freqs == 0) {
    return grad_mel;
  }
  const at::Tensor grad3 = grad.reshape({-1, n_freqs, time}).contiguous();
  const at::Tensor sol3 = solution.reshape({-1, n_freqs, time}).contiguous();
  const int64_t frames = grad3.size(0) * time;
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "nnls_backward_per_frame_cpu", [&] {
    const PreparedBank<scalar_t> prepared(tap_index, tap_weight, n_mels, nullptr);
    const nnls::FrameBank<scalar_t> bank = prepared.bank;
    scalar_t* out = grad_mel.data_ptr<scalar_t>();
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      at::parallel_for(0, frames, 16, [&](int64_t begin, int64_t end) {
        auto solver = std::make_unique<nnls::FrameNnlsBackward<scalar_t, kMels, nnls::kFrameMaxBands>>(bank);
        for (int64_t frame = begin; frame < end; ++frame) {
          const int64_t b = frame / time, t = frame % time;
          const int64_t offset = b * n_freqs * time + t;
          solver->solve(grad3.data_ptr<scalar_t>() + offset, sol3.data_ptr<scalar_t>() + offset, time,
                        out + b * n_mels * time + t, time);
        }
      });
    });
  });
  return grad_mel;
}

at::Tensor lstsq_apply_per_frame_cpu(const at::Tensor& melspec, const at::Tensor& gram_pinv, const at::Tensor& tap_index,
                                     const at::Tensor& tap_weight, const std::optional<at::Tensor>& band) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, band, at::kCPU);
  at::Tensor out = at::empty(lstsq_apply_output_sizes(melspec, tap_index), melspec.options());
  const int64_t n_mels = melspec.size(-2), time = melspec.size(-1), n_freqs = tap_index.size(0);
  if (out.numel() == 0) {
    return out;
  }
  // Per frame, as the CUDA kernel does: y = gram_pinv @ m (shared/lstsq_expand.h), then the expansion.
  const at::Tensor mel3 = melspec.reshape({-1, n_mels, time});
  const at::Tensor gram = gram_pinv.contiguous();
  const at::Tensor index = tap_index.contiguous();
  const at::Tensor weight = tap_weight.contiguous();
  const int64_t batch = mel3.size(0), taps = index.size(1);
  const int64_t s_b = mel3.stride(0), s_k = mel3.stride(1), s_t = mel3.stride(2);
  AT_DISPATCH_FLOATING_TYPES(melspec.scalar_type(), "lstsq_apply_per_frame_cpu", [&] {
    const scalar_t* mel_ptr = mel3.data_ptr<scalar_t>();
    const scalar_t* gram_ptr = gram.data_ptr<scalar_t>();
    scalar_t* out_ptr = out.data_ptr<scalar_t>();
    at::parallel_for(0, batch * time, 64, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> y(static_cast<size_t>(n_mels));
      for (int64_t frame = begin; frame < end; ++frame) {
        const int64_t b = frame / time, t = frame % time;
        const scalar_t* m = mel_ptr + b * s_b + t * s_t;
        for (int64_t k = 0; k < n_mels; ++k) {
          y[k] = projected_mel(gram_ptr + k * n_mels, m, s_k, n_mels);
        }
        for (int64_t f = 0; f < n_freqs; ++f) {
          out_ptr[(b * n_freqs + f) * time + t] = expanded_bin(index.data_ptr<int64_t>() + f * taps,
                                                               weight.data_ptr<scalar_t>() + f * taps, taps, n_mels,
                                                               y.data(), 1);
        }
      }
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("_nnls_per_frame", &nnls_per_frame_cpu);
  m.impl("_nnls_backward_per_frame", &nnls_backward_per_frame_cpu);
  m.impl("_lstsq_apply_per_frame", &lstsq_apply_per_frame_cpu);
}

}  // namespace inverse_mel
