// The backward of the per-frame NNLS solver, host and device (cuda/nnls.cu runs it one thread per
// frame; the CPU op _nnls_backward_per_frame runs it for the tests). The same arithmetic as
// cpu/nnls/backward.cpp in the same order: tests/test_per_frame.py holds the two bit-identical.
#pragma once

#include "banded_ldlt_math.h"
#include "host_device.h"
#include "nnls_bank.h"
#include "nnls_constants.h"
#include "nnls_frame.h"

#include <cstdint>

namespace inverse_mel {
namespace nnls {

// grad_m = (A_F A_F^T + ridge)^-1 A (free * grad) for one frame, free = {solution > 0}, with
// kBackwardRefinements steps of iterative refinement against the undamped matrix (cpu/nnls/backward.cpp).
template <typename scalar_t, int kMaxMels, int kMaxBands>
class FrameNnlsBackward {
 public:
  INVERSE_MEL_HOST_DEVICE explicit FrameNnlsBackward(const FrameBank<scalar_t>& bank) : bank_(bank) {}

  // grad[f * stride], solution[f * stride] over every bin; writes grad_mel[k * mel_stride].
  INVERSE_MEL_HOST_DEVICE void solve(const scalar_t* grad, const scalar_t* solution, int64_t stride,
                                     scalar_t* grad_mel, int64_t mel_stride) {
    const int64_t n_mels = bank_.n_mels;
    // z = A (free * grad): the mel residual of the masked gradient against a zero target.
    for (int64_t k = 0; k < n_mels; ++k) {
      masked_grad_mel_[k] = -scalar_t(0);
    }
    scatter_masked(grad, solution, stride, masked_grad_mel_);
    assemble(solution, stride);
    for (int64_t k = 0; k < n_mels; ++k) {
      grad_mel_[k] = masked_grad_mel_[k];
    }
    const BandRows<scalar_t> rows{gram_band_, n_mels, 1};
    ldlt_solve_body(rows, bank_.bands, int64_t(1), grad_mel_);
    for (int refinement = 0; refinement < kBackwardRefinements; ++refinement) {
      // correction = z - A (free * A^T x), the residual of the undamped system.
      for (int64_t k = 0; k < n_mels; ++k) {
        correction_[k] = -masked_grad_mel_[k];
      }
      for (int64_t f = 0; f < bank_.n_freqs; ++f) {
        scalar_t masked = 0;
        gather(f, grad_mel_, &masked);
        masked *= bin_is_free_in_backward(solution[f * stride]) ? scalar_t(1) : scalar_t(0);
        scatter(f, masked, correction_);
      }
      for (int64_t k = 0; k < n_mels; ++k) {
        correction_[k] = -correction_[k];
      }
      ldlt_solve_body(rows, bank_.bands, int64_t(1), correction_);
      for (int64_t k = 0; k < n_mels; ++k) {
        grad_mel_[k] += correction_[k];
      }
    }
    for (int64_t k = 0; k < n_mels; ++k) {
      grad_mel[k * mel_stride] = grad_mel_[k];
    }
  }

 private:
  INVERSE_MEL_HOST_DEVICE void gather(int64_t f, const scalar_t* x, scalar_t* out) const {
    bool any = false;
    scalar_t sum = 0;
    for (int64_t j = 0; j < bank_.taps; ++j) {
      const int64_t i = f * bank_.taps + j;
      if (!is_tap(bank_.weight[i], bank_.index[i], bank_.n_mels)) {
        continue;
      }
      const scalar_t term = bank_.weight[i] * x[bank_.index[i]];
      sum = any ? sum + term : term;
      any = true;
    }
    *out = sum;
  }

  INVERSE_MEL_HOST_DEVICE void scatter(int64_t f, scalar_t value, scalar_t* target) const {
    add_bin_to_mel(bank_.index, bank_.weight, bank_.taps, bank_.n_mels, f, value, target);
  }

  INVERSE_MEL_HOST_DEVICE void scatter_masked(const scalar_t* grad, const scalar_t* solution, int64_t stride,
                                              scalar_t* target) const {
    for (int64_t f = 0; f < bank_.n_freqs; ++f) {
      const bool free = bin_is_free_in_backward(solution[f * stride]);
      scatter(f, free ? grad[f * stride] : scalar_t(0), target);
    }
  }

  // K = A diag(free) A^T + ridge * max diag + tiny, factored.
  INVERSE_MEL_HOST_DEVICE void assemble(const scalar_t* solution, int64_t stride) {
    const int64_t n_mels = bank_.n_mels;
    for (int64_t i = 0; i < bank_.bands * n_mels; ++i) {
      gram_band_[i] = 0;
    }
    for (int64_t f = 0; f < bank_.n_freqs; ++f) {
      const scalar_t free = bin_is_free_in_backward(solution[f * stride]) ? scalar_t(1) : scalar_t(0);
      add_bin_to_band_gram(bank_.index, bank_.weight, bank_.taps, n_mels, f, free, gram_band_);
    }
    add_ridge_and_factor(gram_band_, n_mels, bank_.bands, static_cast<scalar_t>(backward_ridge<scalar_t>()));
  }

  const FrameBank<scalar_t> bank_;
  scalar_t masked_grad_mel_[kMaxMels], grad_mel_[kMaxMels], correction_[kMaxMels];
  scalar_t gram_band_[kMaxBands * kMaxMels];
};

}  // namespace nnls
}  // namespace inverse_mel
