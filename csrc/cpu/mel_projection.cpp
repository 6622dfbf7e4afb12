// CPU kernel of inverse_mel::mel_projection (schema in csrc/inverse_mel.cpp): mel-consistent
// Griffin-Lim's magnitude step, the maximum-entropy projection of a prior spectrum onto the spectra
// that fit the mel. It is the NNLS solver's phase 1 with the prior as its envelope
// (nnls::FrameNnls::project in shared/nnls_frame.h), run per frame; the CUDA kernel runs the same.
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

namespace inverse_mel {
namespace {

// The dual Newton's early stop (dual gradient below this times ||m||), as NNLS's default tol.
constexpr double kProjectionTolerance = 1e-4;

at::Tensor mel_projection_cpu(const at::Tensor& melspec, const at::Tensor& prior, const at::Tensor& tap_index,
                              const at::Tensor& tap_weight, double penalty, int64_t steps) {
  check_mel_projection_inputs(melspec, prior, tap_index, tap_weight, penalty, steps, at::kCPU);
  check_nonnegative_weights(tap_weight, "mel_projection");
  const int64_t n_mels = melspec.size(-2), time = melspec.size(-1), n_freqs = tap_index.size(0);
  check_tap_bounds(tap_index, tap_weight, n_mels, "mel_projection");
  at::Tensor out = at::empty(prior.sizes(), prior.options());
  if (out.numel() == 0) {
    return out;
  }
  if (n_mels == 0) {
    return out.copy_(prior);
  }
  // Frame-major copies: a frame's mel, prior and output are then contiguous (in (..., bins, time)
  // they are `time` apart, a cache line per bin; measured 3x slower).
  const at::Tensor mel_frames = melspec.reshape({-1, n_mels, time}).transpose(1, 2).contiguous();
  const at::Tensor prior_frames = prior.reshape({-1, n_freqs, time}).transpose(1, 2).contiguous();
  at::Tensor out_frames = at::empty_like(prior_frames);
  const int64_t frames = mel_frames.size(0) * time;
  AT_DISPATCH_FLOATING_TYPES(melspec.scalar_type(), "mel_projection_cpu", [&] {
    const PreparedBank<scalar_t> prepared(tap_index, tap_weight, n_mels, nullptr);
    const nnls::FrameBank<scalar_t> bank = prepared.bank;
    const scalar_t* mel = mel_frames.data_ptr<scalar_t>();
    const scalar_t* prior_ptr = prior_frames.data_ptr<scalar_t>();
    scalar_t* out_ptr = out_frames.data_ptr<scalar_t>();
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      at::parallel_for(0, frames, 16, [&](int64_t begin, int64_t end) {
        auto solver = std::make_unique<nnls::FrameNnls<scalar_t, kMels, nnls::kFrameMaxBands>>(
            bank, steps, kProjectionTolerance);
        for (int64_t frame = begin; frame < end; ++frame) {
          solver->project(mel + frame * n_mels, 1, prior_ptr + frame * n_freqs, 1, penalty, steps,
                          out_ptr + frame * n_freqs, 1);
        }
      });
    });
  });
  out.view({-1, n_freqs, time}).copy_(out_frames.transpose(1, 2));
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("mel_projection", &mel_projection_cpu);
}

}  // namespace inverse_mel
