// Phase 1 of the NNLS solver (README.md: "Phase 1"): the maximum-entropy solution relative to the
// mel envelope, s = envelope * exp(A^T lam), by Newton's method on the dual in lam, for every frame
// of a tile at once. Frames leave as they finish; the rest are compacted into the leading lanes.
#pragma once

#include "../ell_taps.h"
#include "../simd.h"
#include "banded_ldlt.h"
#include "entropy_passes.h"
#include "filterbank.h"
#include "lane_ops.h"
#include "../../shared/nnls_constants.h"
#include "../../shared/nnls_stopping.h"
#include "tile.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace inverse_mel {
namespace nnls {
namespace {

template <typename scalar_t>
class EntropyNewton {
 public:
  // cap: the most frames a tile holds, rounded up to whole vectors.
  EntropyNewton(const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t n_mels,
                int64_t bands, int64_t cap)
      : taps_(taps), weights_(weights), n_mels_(n_mels), bands_(bands), m_(n_mels * cap), lam_(n_mels * cap),
        lam_c_(n_mels * cap), fit_(n_mels * cap), fit_c_(n_mels * cap), grad_(n_mels * cap), step_(n_mels * cap),
        scratch_(4 * cap), ridge_(cap), dual_(cap), dual_c_(cap), total_(cap), total_c_(cap), mel_norm_(cap),
        step_length_(cap), slope_(cap), gradient_squared_(cap), accepted_(cap), active_(cap), pending_(cap),
        steps_(cap), lane_frame_(cap), k_(n_mels, bands, cap), k_candidate_(n_mels, bands, cap) {}

  // Every frame of `frames` through phase 1: frames.lam, .residual and .steps receive each frame's
  // dual point, residual A s - m and steps. max_iter bounds the steps (with kEntropyMaxSteps).
  void solve(TileFrames<scalar_t>& frames, int64_t max_iter, double tol) {
    frames_ = &frames;
    ld_ = frames.ld;
    len_ = frames.len;
    max_steps_ = std::min<int64_t>(max_iter, kEntropyMaxSteps);
    tol_ = static_cast<scalar_t>(kEntropyTolerance * tol);
    std::copy(frames.mel.begin(), frames.mel.begin() + n_mels_ * ld_, m_.begin());
    for (int64_t t = 0; t < ld_; ++t) {
      active_[t] = t < len_;  // the padding lanes never iterate
    }
    for (int64_t t = 0; t < len_; ++t) {
      mel_norm_[t] = frames.mel_norm[t];
      steps_[t] = 0;
      lane_frame_[t] = t;
    }
    start();
    while (len_ > 0 && newton_step()) {
    }
  }

 private:
  // Lanes 0..len-1 hold the frames still iterating, in rows of ld lanes: rounded up to whole
  // vectors, the passes run over vector_lanes(len) of them.
  int64_t vector_lanes(int64_t lanes) const { return std::min(round_up_to_vector<scalar_t>(lanes), ld_); }

  void set_lanes(int64_t lanes) {
    k_.set_lanes(lanes, ld_);
    k_candidate_.set_lanes(lanes, ld_);
  }

  // lam = 0, where s is the envelope itself; the penalty's ridge is relative to this start's
  // curvature, so it scales with the frame.
  void start() {
    std::fill(lam_.begin(), lam_.begin() + n_mels_ * ld_, scalar_t(0));
    set_lanes(ld_);
    simd::dispatch<EntropyPass<true>>(taps_, weights_, n_mels_, ld_, ld_, m_.data(), lam_.data(), fit_.data(),
                                      k_.assembly(), bands_, total_.data(), scratch_.data());
    std::fill(ridge_.begin(), ridge_.begin() + ld_, scalar_t(0));
    const BandRows<scalar_t> k = k_.assembly();
    for (int64_t row = 0; row < n_mels_; ++row) {
      const scalar_t* diag = k.at(0, row);
      for (int64_t t = 0; t < ld_; ++t) {
        ridge_[t] = std::max(ridge_[t], diag[t]);
      }
    }
    for (int64_t t = 0; t < ld_; ++t) {
      ridge_[t] = diagonal_ridge(scalar_t(kEntropyPenalty), ridge_[t]);
      dual_[t] = -total_[t];  // the dual objective at lam = 0
    }
  }

  // The penalised dual's gradient m - A s - eps lam (zero at the penalised entropy solution), a copy
  // in step_ (the Newton system's right-hand side) and its squared norm per lane.
  void dual_gradient_of_lanes(int64_t vlen) {
    dual_gradient(n_mels_, vlen, ld_, m_.data(), fit_.data(), ridge_.data(), lam_.data(), grad_.data(),
                  step_.data(), gradient_squared_.data());
  }

  // One Newton step of every lane, after retiring the lanes that are done. Returns false when no
  // lane is left.
  bool newton_step() {
    int64_t vlen = vector_lanes(len_);
    dual_gradient_of_lanes(vlen);
    bool any_finished = false;
    for (int64_t t = 0; t < len_; ++t) {
      if (active_[t] && entropy_phase_done(gradient_squared_[t], tol_, mel_norm_[t], steps_[t], max_steps_)) {
        finish(t);  // converged, out of steps, or NaN (left to the NNLS tests)
        any_finished = true;
      }
    }
    if (any_finished && retire()) {
      if (len_ == 0) {
        return false;
      }
      vlen = vector_lanes(len_);
      dual_gradient_of_lanes(vlen);
    }
    // Newton step: (A S A^T + eps I) step = grad.
    k_.factor_with_ridge_and_solve(ridge_.data(), step_.data());
    lane_dot(n_mels_, vlen, ld_, grad_.data(), step_.data(), slope_.data());
    const bool all_full_steps = backtrack(vlen);
    // Accepted lanes take lam_c, with its fit, curvature and dual value (a swap when every lane
    // took its step); a lane whose step never passed has stalled and leaves the phase.
    if (all_full_steps) {
      std::swap(lam_, lam_c_);
      std::swap(fit_, fit_c_);
      k_.swap(k_candidate_);
    } else {
      for (int64_t t = 0; t < len_; ++t) {
        accepted_[t] = pending_[t] ? scalar_t(0) : scalar_t(1);
      }
      select_accepted(n_mels_, len_, ld_, accepted_.data(), lam_c_.data(), lam_.data());
      select_accepted(n_mels_, len_, ld_, accepted_.data(), fit_c_.data(), fit_.data());
      k_.take_accepted_lanes(k_candidate_, accepted_.data(), len_);
    }
    any_finished = false;
    for (int64_t t = 0; t < len_; ++t) {
      if (!active_[t]) {
        continue;
      }
      if (pending_[t]) {
        finish(t);  // its K now holds the factorisation, but it leaves
        any_finished = true;
      } else {
        ++steps_[t];
        dual_[t] = dual_c_[t];
        total_[t] = total_c_[t];
      }
    }
    if (any_finished) {
      retire();
    }
    return len_ > 0;
  }

  // Backtracking on the (concave) dual objective lam.m - sum s - eps/2 |lam|^2, per lane: leaves
  // the candidate (lam_c, fit_c, K candidate, dual_c, total_c) of every lane and pending_[t] set
  // for the lanes whose step never passed. Returns whether every lane took its full step.
  bool backtrack(int64_t vlen) {
    for (int64_t t = 0; t < vlen; ++t) {
      pending_[t] = t < len_ && active_[t];
      step_length_[t] = pending_[t] ? scalar_t(1) : scalar_t(0);  // finished and padding lanes stay put
    }
    bool all_full_steps = true;
    for (int trial = 0; trial < kMaxBacktracks; ++trial) {
      dual_candidate(n_mels_, vlen, ld_, lam_.data(), step_length_.data(), step_.data(), m_.data(), ridge_.data(),
                     lam_c_.data(), dual_c_.data());
      simd::dispatch<EntropyPass<false>>(taps_, weights_, n_mels_, vlen, ld_, m_.data(), lam_c_.data(),
                                         fit_c_.data(), k_candidate_.assembly(), bands_, total_c_.data(),
                                         scratch_.data());
      bool any_pending = false;
      for (int64_t t = 0; t < len_; ++t) {
        dual_c_[t] -= total_c_[t];
        if (!pending_[t]) {
          continue;
        }
        if (entropy_step_accepted(dual_c_[t], dual_[t], step_length_[t], slope_[t], total_[t], trial)) {
          pending_[t] = 0;
        } else {
          step_length_[t] = shorter_step(step_length_[t]);
          any_pending = true;
          all_full_steps = false;
        }
      }
      if (!any_pending) {
        break;
      }
    }
    return all_full_steps;
  }

  // A lane's frame gets its steps now and its dual point and residual at the next retire() (row
  // by row, for all lanes finished since, so the copies stay in cache).
  void finish(int64_t lane) {
    frames_->steps[lane_frame_[lane]] = steps_[lane];
    active_[lane] = 0;
    finished_.push_back(lane);
  }

  // Save the finished lanes' results; then, when that frees at least one whole vector of lanes,
  // move the active lanes beyond the active count into the finished lanes below it (so compaction
  // moves a few lanes, not the whole tile). Lanes finished but not yet moved stay in place and keep
  // computing harmless values of their own (a step length of 0, never read back). Returns whether
  // lanes moved.
  bool retire() {
    for (int64_t k = 0; k < n_mels_; ++k) {
      for (const int64_t lane : finished_) {
        const int64_t i = k * ld_ + lane;
        frames_->lam[k * ld_ + lane_frame_[lane]] = lam_[i];
        frames_->residual[k * ld_ + lane_frame_[lane]] = fit_[i] - m_[i];
      }
    }
    finished_.clear();
    int64_t n = 0;
    for (int64_t t = 0; t < len_; ++t) {
      n += active_[t];
    }
    if (n > 0 && vector_lanes(n) == vector_lanes(len_)) {
      while (!active_[len_ - 1]) {
        --len_;  // trailing finished lanes need no move
      }
      return false;
    }
    holes_.clear();
    sources_.clear();
    int64_t from = len_;
    for (int64_t hole = 0; hole < n; ++hole) {
      if (active_[hole]) {
        continue;
      }
      do {
        --from;
      } while (!active_[from]);
      holes_.push_back(hole);
      sources_.push_back(from);
    }
    const int64_t moves = static_cast<int64_t>(holes_.size());
    auto move = [&](scalar_t* a, int64_t n_rows) {
      for (int64_t row = 0; row < n_rows; ++row) {
        scalar_t* a_row = a + row * ld_;
        for (int64_t p = 0; p < moves; ++p) {
          a_row[holes_[p]] = a_row[sources_[p]];
        }
      }
    };
    move(m_.data(), n_mels_);
    move(lam_.data(), n_mels_);
    move(fit_.data(), n_mels_);  // (grad and step are recomputed from these after a move)
    k_.move_lanes(holes_, sources_);
    for (int64_t p = 0; p < moves; ++p) {
      const int64_t hole = holes_[p];
      const int64_t source = sources_[p];
      ridge_[hole] = ridge_[source];
      dual_[hole] = dual_[source];
      total_[hole] = total_[source];
      mel_norm_[hole] = mel_norm_[source];
      steps_[hole] = steps_[source];
      lane_frame_[hole] = lane_frame_[source];
      active_[hole] = 1;
      active_[source] = 0;
    }
    len_ = n;
    set_lanes(vector_lanes(len_));
    return true;
  }

  const CompactTaps<scalar_t>& taps_;
  const EntropyWeights<scalar_t>& weights_;
  const int64_t n_mels_, bands_;
  TileFrames<scalar_t>* frames_ = nullptr;
  int64_t ld_ = 0, len_ = 0, max_steps_ = 0;
  scalar_t tol_ = 0;
  // Per lane: (n_mels, ld) rows of the mel, the dual point and its candidate, the fit A s and its
  // candidate, the dual gradient and the Newton step.
  std::vector<scalar_t> m_, lam_, lam_c_, fit_, fit_c_, grad_, step_, scratch_;
  // Per lane: the penalty, the dual objective (and candidate), sum s (and candidate), ||m||, the
  // step length, the directional derivative, the squared dual gradient, the accepted flags.
  std::vector<scalar_t> ridge_, dual_, dual_c_, total_, total_c_, mel_norm_, step_length_, slope_,
      gradient_squared_, accepted_;
  std::vector<char> active_, pending_;
  std::vector<int32_t> steps_;
  std::vector<int64_t> lane_frame_;  // lane -> frame of the tile
  std::vector<int64_t> finished_, holes_, sources_;
  BandedLdlt<scalar_t> k_, k_candidate_;  // K = A diag(s) A^T at lam and at the candidate
};

}  // namespace
}  // namespace nnls
}  // namespace inverse_mel
