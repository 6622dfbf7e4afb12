// Phase 2 of the NNLS solver (README.md: "Phase 2"): projected Newton steps on the free set, in
// float64, for the frames the entropy solution leaves short of the NNLS tests.
#pragma once

#include "../ell_taps.h"
#include "../simd.h"
#include "banded_ldlt.h"
#include "filterbank.h"
#include "lane_ops.h"
#include "../../shared/nnls_constants.h"
#include "../../shared/nnls_rules.h"
#include "../../shared/nnls_stopping.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace inverse_mel {
namespace nnls {
namespace {

// Phase 2: projected Newton steps on the free set, for the frames the entropy solution leaves
// short of the NNLS tests, in `real_t` (float64 for float32 input: these frames are the
// inconsistent or ill-conditioned ones, where float32 round-off in the banded solves stalls the
// steps just short of tol; measured on noisy Whisper-bank mels, half the frames ran out of steps).
//   d = -W_F A^T (A W_F A^T + eps I)^-1 r,  s <- max(0, s + alpha d)  (Armijo on alpha),
// in the envelope metric W = envelope + floor. (Measured: the entropy solution itself is a poor
// metric here; its near-zero bins damp their directions and the steps crawl.)
template <typename real_t>
class ProjectedNewton {
 public:
  ProjectedNewton(const CompactTaps<real_t>& taps, const real_t* envelope_weight, BinRange bins, int64_t n_mels,
                  int64_t bands, real_t spectral_norm, int64_t cap)
      : taps_(taps), envelope_weight_(envelope_weight), bins_(bins), n_mels_(n_mels), rows_(bins.rows()),
        spectral_norm_(spectral_norm), gram_(n_mels, bands, cap),
        s_(rows_ * cap), g_(rows_ * cap), metric_(rows_ * cap), weight_(rows_ * cap), d_(rows_ * cap),
        cand_(rows_ * cap), m_(n_mels * cap), r_(n_mels * cap), rc_(n_mels * cap), lam_(n_mels * cap), obj_(cap),
        obj_c_(cap), mel_norm_(cap), envelope_max_(cap), alpha_(cap), decrease_(cap), accepted_(cap),
        mapping_squared_(cap), damping_(cap),
        damping_floor_(cap), pending_(cap), active_(cap), iters_(cap), id_(cap) {}

  // Inputs for `len` frames, lane i: s (rows x len, the touched bins) and m (n_mels x len),
  // both in the frame's scaled domain, written by the caller before run().
  real_t* start() { return s_.data(); }
  real_t* mel() { return m_.data(); }
  int32_t* iterations() { return iters_.data(); }

  // Runs until every frame passes the NNLS tests, stalls or has max_iter steps in total;
  // finish(id, column, stride, relative_residual, iterations, converged) receives each frame's
  // result: its bins at column[f * stride].
  template <typename Finish>
  void run(int64_t len, int64_t max_iter, real_t tol, Finish&& finish) {
    const real_t lipschitz = spectral_norm_ * spectral_norm_;
    // Residual, norms and the metric W = envelope + metric_floor(max(envelope)).
    mel_residual(taps_, bins_, n_mels_, len, s_.data(), m_.data(), r_.data());
    lane_dot(n_mels_, len, len, r_.data(), r_.data(), obj_.data());
    lane_dot(n_mels_, len, len, m_.data(), m_.data(), mel_norm_.data());
    std::fill(envelope_max_.begin(), envelope_max_.begin() + len, real_t(0));
    for (int64_t f = 0; f < rows_; ++f) {
      real_t* envelope = metric_.data() + f * len;
      const int64_t first = (bins_.lo + f) * taps_.taps;
      gather_taps(taps_.count[bins_.lo + f], taps_.index.data() + first, envelope_weight_ + first, len, len, m_.data(),
                  envelope);
      for (int64_t t = 0; t < len; ++t) {
        envelope[t] = simd::relu_keep_nan(envelope[t]);
        envelope_max_[t] = std::max(envelope_max_[t], envelope[t]);
      }
    }
    for (int64_t f = 0; f < rows_; ++f) {
      for (int64_t t = 0; t < len; ++t) {
        metric_[f * len + t] += metric_floor(envelope_max_[t]);
      }
    }
    for (int64_t t = 0; t < len; ++t) {
      mel_norm_[t] = std::sqrt(mel_norm_[t]);
      active_[t] = 1;
      id_[t] = t;
      damping_[t] = real_t(kSolverDamping);
      damping_floor_[t] = real_t(kSolverDampingFloor);
    }
    gram_.set_lanes(len, len);

    auto done = [&](int64_t lane, bool ok) {
      finish(id_[lane], s_.data() + lane, len, relative_residual(obj_[lane], mel_norm_[lane]), iters_[lane], ok);
      active_[lane] = 0;
    };
    auto compact = [&]() {
      int64_t n = 0;
      for (int64_t t = 0; t < len; ++t) {
        if (active_[t]) {
          keep_[n++] = t;
        }
      }
      if (n == len) {
        return;
      }
      auto pack = [&](std::vector<real_t>& a, int64_t n_rows) {
        for (int64_t row = 0; row < n_rows; ++row) {
          for (int64_t i = 0; i < n; ++i) {
            a[row * n + i] = a[row * len + keep_[i]];
          }
        }
      };
      auto pack_lanes = [&](auto& a) {
        for (int64_t i = 0; i < n; ++i) {
          a[i] = a[keep_[i]];
        }
      };
      pack(s_, rows_);
      pack(metric_, rows_);
      pack(g_, rows_);
      pack(weight_, rows_);
      pack(m_, n_mels_);
      pack(r_, n_mels_);
      pack_lanes(obj_);
      pack_lanes(mel_norm_);
      pack_lanes(iters_);
      pack_lanes(id_);
      pack_lanes(damping_);
      pack_lanes(damping_floor_);
      for (int64_t i = 0; i < n; ++i) {
        active_[i] = 1;
      }
      len = n;
      gram_.set_lanes(len, len);
    };
    keep_.resize(len);

    while (len > 0) {
      // Gradient, free set and optimality measure; then the per-frame stopping test.
      mel_transpose(taps_, bins_, len, r_.data(), g_.data());
      free_set_pass(rows_, len, lipschitz, s_.data(), g_.data(), metric_.data(), weight_.data(),
                    mapping_squared_.data());
      for (int64_t t = 0; t < len; ++t) {
        const Verdict verdict =
            nnls_verdict(obj_[t], mapping_squared_[t], mel_norm_[t], tol, spectral_norm_, iters_[t], max_iter);
        if (verdict != Verdict::kContinue) {
          done(t, verdict == Verdict::kConverged);
        }
      }
      compact();
      if (len == 0) {
        break;
      }
      // Newton step on the free set in the metric W, with the damping's bias on
      // small-but-nonzero directions cut by iterative refinement (each step multiplies it by
      // eps / sigma^2; a truly null direction only grows linearly).
      gram_.assemble_and_factor(taps_, bins_, weight_.data(), damping_.data());
      std::copy(r_.begin(), r_.begin() + n_mels_ * len, lam_.begin());
      gram_.solve(lam_.data());
      for (int refinement = 0; refinement <= kSolverRefinements; ++refinement) {
        mel_transpose(taps_, bins_, len, lam_.data(), d_.data());
        multiply(rows_ * len, weight_.data(), d_.data());  // d = W_F A^T lam
        if (refinement == kSolverRefinements) {
          break;
        }
        mel_residual(taps_, bins_, n_mels_, len, d_.data(), r_.data(), rc_.data());  // A W_F A^T lam - r
        negate(n_mels_ * len, rc_.data());
        gram_.solve(rc_.data());
        for (int64_t i = 0; i < n_mels_ * len; ++i) {
          lam_[i] += rc_[i];
        }
      }
      orient_step(rows_ * len, weight_.data(), s_.data(), d_.data());

      // Armijo backtracking on the projected arc, per frame.
      for (int64_t t = 0; t < len; ++t) {
        alpha_[t] = real_t(1);
        pending_[t] = 1;
      }
      for (int trial = 0; trial < kMaxBacktracks; ++trial) {
        projected_candidate(rows_, len, s_.data(), d_.data(), g_.data(), alpha_.data(), cand_.data(),
                            decrease_.data());
        mel_residual(taps_, bins_, n_mels_, len, cand_.data(), m_.data(), rc_.data());
        lane_dot(n_mels_, len, len, rc_.data(), rc_.data(), obj_c_.data());
        bool any_pending = false;
        for (int64_t t = 0; t < len; ++t) {
          if (!pending_[t]) {
            continue;
          }
          // obj is ||r||^2 = 2 f, and g . (s - cand) the first-order decrease of f; a full step
          // within round-off is taken too (nnls_rules.h).
          if (projected_step_accepted(obj_c_[t], obj_[t], decrease_[t], mel_norm_[t], trial)) {
            pending_[t] = 0;
          } else {
            alpha_[t] = shorter_step(alpha_[t]);
            any_pending = true;
          }
        }
        if (!any_pending) {
          break;
        }
      }
      // Take the accepted steps (selects, so the loops vectorise); a frame whose step never
      // passed has stalled.
      for (int64_t t = 0; t < len; ++t) {
        accepted_[t] = pending_[t] ? real_t(0) : real_t(1);
      }
      select_accepted(rows_, len, len, accepted_.data(), cand_.data(), s_.data());
      select_accepted(n_mels_, len, len, accepted_.data(), rc_.data(), r_.data());
      for (int64_t t = 0; t < len; ++t) {
        if (pending_[t] && after_stalled_projected_step(damping_lowered(damping_[t])) == Verdict::kContinue) {
          // With less damping the step is noisier (round-off along the weak directions) and
          // this one found no decrease: back to the full damping, with a higher floor. The frame
          // carries on.
          damping_floor_[t] = damping_floor_after_stall(damping_[t]);
          damping_[t] = real_t(kSolverDamping);
          ++iters_[t];  // a step's work, and max_iter bounds these too
        } else if (pending_[t]) {
          done(t, false);
        } else {
          // Levenberg-Marquardt on the damping (nnls_rules.h, next_damping). Frames that
          // converge quadratically keep kSolverDamping throughout.
          const real_t reduction = obj_[t] - obj_c_[t];
          damping_[t] = next_damping(damping_[t], damping_floor_[t], alpha_[t], reduction, decrease_[t], obj_[t],
                                     mel_norm_[t]);
          ++iters_[t];
          obj_[t] = obj_c_[t];
        }
      }
      compact();
    }
  }

 private:
  const CompactTaps<real_t>& taps_;
  const real_t* envelope_weight_;
  const BinRange bins_;
  const int64_t n_mels_, rows_;
  const real_t spectral_norm_;
  BandedLdlt<real_t> gram_;  // A W_F A^T + damping, per lane
  // Per lane, (rows, len) over the touched bins: the point, gradient, metric W, its restriction to
  // the free set, the step, the candidate; (n_mels, len): the mel, residual, candidate residual,
  // Newton system solution.
  std::vector<real_t> s_, g_, metric_, weight_, d_, cand_, m_, r_, rc_, lam_;
  // Per lane: objective ||r||^2 (and candidate), ||m||, the envelope's maximum, step length,
  // first-order decrease, accepted flags, squared gradient mapping, damping and its floor.
  std::vector<real_t> obj_, obj_c_, mel_norm_, envelope_max_, alpha_, decrease_, accepted_, mapping_squared_,
      damping_, damping_floor_;
  std::vector<char> pending_, active_;
  std::vector<int32_t> iters_;
  std::vector<int64_t> id_, keep_;
};

}  // namespace
}  // namespace nnls
}  // namespace inverse_mel
