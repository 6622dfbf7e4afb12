// CPU kernel of inverse_mel::lstsq_apply (schema in csrc/inverse_mel.cpp).
//
//   out[b, f, t] = relu( sum_j tap_weight[f, j] * Y[b, tap_index[f, j], t] ),
//   Y[b]         = gram_pinv @ melspec[b]                      (n_mels x time)
//
// or, when the Cholesky band of fb^T fb is given, Y[b] solves (L L^T) Y = melspec[b]
// by banded forward/back substitution, vectorised over time: a triangular bank
// has a tridiagonal Gram, so that is ~6 n_mels flops per frame instead of 2 n_mels^2.
//
// With F = fb and gram_pinv = (fb^T fb)^+ this is relu(pinv(fb^T) @ melspec),
// because pinv(A) = A^T (A A^T)^+. A triangular mel bank has at most two
// non-zero weights per frequency bin, so the expansion costs 2 multiply-adds
// per output instead of n_mels, and the output is written exactly once.
//
// Work is split into fixed tiles of (batch item, time range). The tiling
// depends only on the shapes, never on the thread count, so results are
// bit-identical for any number of threads.
#include "../lstsq_apply_checks.h"
#include "lstsq_tile.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace inverse_mel {
namespace {

template <typename scalar_t>
void lstsq_apply_kernel(
    const at::Tensor& melspec3,  // (batch, n_mels, time), any strides
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& band,
    at::Tensor& out) {  // (batch, n_freqs, time), contiguous
  const int64_t batch = melspec3.size(0);
  const int64_t n_mels = melspec3.size(1);
  const int64_t time = melspec3.size(2);
  const int64_t n_freqs = out.size(1);
  const LstsqTile<scalar_t> solver(melspec3, gram_pinv, tap_index, tap_weight, band);

  const int64_t tile_time = std::clamp<int64_t>(
      (kTileBytes / (n_mels * static_cast<int64_t>(sizeof(scalar_t)))) / 16 * 16, 16, 1024);
  const int64_t tiles_per_item = (time + tile_time - 1) / tile_time;
  scalar_t* out_ptr = out.data_ptr<scalar_t>();
  at::parallel_for(0, batch * tiles_per_item, 1, [&](int64_t tile_begin, int64_t tile_end) {
    auto scratch = solver.make_scratch(std::min(tile_time, time));
    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
      const int64_t b = tile / tiles_per_item;
      const int64_t t0 = (tile % tiles_per_item) * tile_time;
      const int64_t len = std::min(tile_time, time - t0);
      solver.solve_and_expand(b, t0, len, out_ptr + b * n_freqs * time + t0, time, scratch);
    }
  });
}

void run_lstsq_apply(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& gram_cholesky_band,
    at::Tensor& out) {
  if (out.numel() == 0) {
    return;
  }
  const int64_t n_mels = melspec.size(-2);
  if (n_mels == 0) {  // nothing to invert from: the minimum-norm solution is zero
    out.zero_();
    return;
  }
  const int64_t time = melspec.size(-1);
  const at::Tensor melspec3 = melspec.reshape({-1, n_mels, time});
  at::Tensor out3 = out.view({-1, tap_index.size(0), time});
  AT_DISPATCH_FLOATING_TYPES(melspec.scalar_type(), "lstsq_apply_cpu", [&] {
    lstsq_apply_kernel<scalar_t>(
        melspec3, gram_pinv, tap_index, tap_weight, gram_cholesky_band, out3);
  });
}

at::Tensor lstsq_apply_cpu(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& gram_cholesky_band) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, at::kCPU);
  at::Tensor out = empty_output(lstsq_apply_output_sizes(melspec, tap_index), melspec.options());
  run_lstsq_apply(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, out);
  return out;
}

void lstsq_apply_out_cpu(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& gram_cholesky_band,
    at::Tensor out) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, at::kCPU);
  check_lstsq_apply_out(melspec, tap_index, out);
  run_lstsq_apply(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, out);
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("lstsq_apply", &lstsq_apply_cpu);
  m.impl("lstsq_apply_out", &lstsq_apply_out_cpu);
}

}  // namespace inverse_mel
