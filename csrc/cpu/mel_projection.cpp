// CPU kernel of inverse_mel::mel_projection (schema in csrc/inverse_mel.cpp): mel-consistent
// Griffin-Lim's magnitude step, the maximum-entropy projection of a prior spectrum onto the spectra
// that fit the mel. It is the NNLS solver's phase 1 with the prior as its envelope
// (nnls::FrameNnls::project in shared/nnls_frame.h), run per frame; the CUDA kernel runs the same.
#include "../shared/nnls_checks.h"
#include "../shared/nnls_constants.h"
#include "../shared/nnls_frame.h"
#include "nnls/data_checks.h"
#include "prepared_bank.h"

#include <torch/csrc/stable/library.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

namespace inverse_mel {
namespace {

// Frames per task: a task copies its frames to frame-major scratch, projects them and copies back.
constexpr int64_t kFramesPerTask = 16;

Tensor mel_projection_cpu(const Tensor& melspec, const Tensor& prior, const Tensor& tap_index,
                          const Tensor& tap_weight, double penalty, int64_t steps) {
  check_mel_projection_inputs(melspec, prior, tap_index, tap_weight, penalty, steps, /*cuda=*/false);
  check_nonnegative_weights(tap_weight, "mel_projection");
  const int64_t n_mels = melspec.size(-2), time = melspec.size(-1), n_freqs = tap_index.size(0);
  check_tap_bounds(tap_index, tap_weight, n_mels, "mel_projection");
  Tensor out = empty_on(prior, sizes_of(prior));
  if (out.numel() == 0) {
    return out;
  }
  THO_DISPATCH_V2(melspec.scalar_type(), "mel_projection_cpu", AT_WRAP([&] {
    const Batched3<scalar_t> mel3(melspec);
    const Batched3<scalar_t> prior3(prior);
    scalar_t* out_ptr = out.mutable_data_ptr<scalar_t>();
    const int64_t frames = prior3.batch * time;
    if (n_mels == 0) {  // nothing to fit: the prior itself
      for (int64_t frame = 0; frame < frames; ++frame) {
        const int64_t b = frame / time;
        const int64_t t = frame % time;
        for (int64_t f = 0; f < n_freqs; ++f) {
          out_ptr[(b * n_freqs + f) * time + t] =
              prior3.data[b * prior3.stride_batch + f * prior3.stride_row + t * prior3.stride_col];
        }
      }
      return;
    }
    const PreparedBank<scalar_t> prepared(tap_index, tap_weight, n_mels, nullptr);
    const nnls::FrameBank<scalar_t> bank = prepared.bank;
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      const int64_t tasks = (frames + kFramesPerTask - 1) / kFramesPerTask;
      torch::stable::parallel_for(0, tasks, 1, [&](int64_t task_begin, int64_t task_end) {
        auto solver = std::make_unique<nnls::FrameNnls<scalar_t, kMels, nnls::kFrameMaxBands>>(bank);
        // Frame-major copies: a frame's mel, prior and output are then contiguous (in (..., bins,
        // time) they are `time` apart, a cache line per bin; measured 3x slower).
        std::vector<scalar_t> mel(n_mels), prior_frame(n_freqs), projected(n_freqs);
        for (int64_t frame = task_begin * kFramesPerTask; frame < std::min(frames, task_end * kFramesPerTask);
             ++frame) {
          const int64_t b = frame / time, t = frame % time;
          const scalar_t* mel_src = mel3.data + b * mel3.stride_batch + t * mel3.stride_col;
          const scalar_t* prior_src = prior3.data + b * prior3.stride_batch + t * prior3.stride_col;
          for (int64_t k = 0; k < n_mels; ++k) {
            mel[k] = mel_src[k * mel3.stride_row];
          }
          for (int64_t f = 0; f < n_freqs; ++f) {
            prior_frame[f] = prior_src[f * prior3.stride_row];
          }
          solver->project(mel.data(), 1, prior_frame.data(), 1, penalty, steps, projected.data(), 1);
          for (int64_t f = 0; f < n_freqs; ++f) {
            out_ptr[(b * n_freqs + f) * time + t] = projected[f];
          }
        }
      });
    });
  }), AT_FLOATING_TYPES);
  return out;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("mel_projection", TORCH_BOX(&mel_projection_cpu));
}

}  // namespace inverse_mel
