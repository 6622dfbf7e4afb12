// The NNLS solver for one frame, host and device: what the CUDA kernels run, one thread per frame
// (cuda/nnls.cu), and what the CPU op _nnls_per_frame runs, so that the CPU tests check the very
// code the GPU runs (tests/test_per_frame.py compares it with the CPU solver, cpu/nnls/).
//
// The same algorithm as cpu/nnls/README.md describes: phase 1 (the maximum-entropy solution by
// Newton's method on the dual) and phase 2 (projected Newton on the free set, in float64), with the
// same constants (nnls_constants.h), stopping rule (nnls_stopping.h), scaling (nnls_scaling.h), 2^x
// (exp2_approx.h), banded solves (banded_ldlt_math.h) and decisions (nnls_rules.h: step acceptance,
// damping, free set, metric; tests/test_per_frame.py holds the two solvers bit-identical). It is
// written for one frame instead of a tile of SIMD lanes, and it keeps only mel-sized state: phase 2
// recomputes the per-bin quantities (gradient, free set, step) from mel-sized vectors whenever it
// needs them, so its only per-bin array is the iterate itself (`s_work`, float64).
// The backward is in nnls_frame_backward.h.
#pragma once

#include "banded_ldlt_math.h"
#include "exp2_approx.h"
#include "nnls_bank.h"
#include "nnls_capacity.h"
#include "host_device.h"
#include "nnls_constants.h"
#include "nnls_rules.h"
#include "nnls_scaling.h"
#include "nnls_stopping.h"

#include <cstdint>
#include <limits>

namespace inverse_mel {
namespace nnls {

// The filterbank as the per-frame solver reads it: the op's ELL taps and what nnls_bank.h derives
// from them once per call.
template <typename scalar_t>
struct FrameBank {
  const int64_t* index;  // (n_freqs, taps) mel index of each tap
  const scalar_t* weight;  // (n_freqs, taps); 0 for padding
  const double* envelope64;  // (n_freqs, taps) w / area / row sum (nnls_bank.h)
  const int64_t* band_edge_fill;  // (n_freqs,) or null: bin f copies bin band_edge_fill[f] >= 0
  int64_t n_freqs, taps, n_mels;
  int64_t lo, hi, bands;  // touched bins [lo, hi), 1 + the Gram's half-bandwidth
  double spectral_norm;  // ||A||_2
};

// One frame's result: Newton steps, relative mel residual, convergence.
template <typename scalar_t>
struct FrameReport {
  int32_t steps;
  scalar_t residual;
  bool converged;
};

// Phase 1's settings, passed down rather than held: NNLS's (the mel's envelope, kEntropyPenalty,
// at most kEntropyMaxSteps of max_iter, tol) or FrameNnls::project()'s (a prior spectrum, its
// penalty and step budget, kProjectionTolerance).
template <typename scalar_t>
struct EntropySettings {
  const scalar_t* prior;  // null: the envelope of the mel (nnls_bank.h); else prior[f * prior_stride]
  int64_t prior_stride;
  double penalty;  // relative to the start's largest curvature
  int64_t max_steps;
  double tol;  // the phase stops when its dual gradient is below kEntropyTolerance * tol * ||m||
};

// Phase 2's float64 iterate, one frame's row with a stride: the CPU passes stride 1, the GPU
// interleaves its threads' rows (stride = threads in the grid) so that a warp's reads of one bin
// are coalesced.
struct StridedRow {
  double* data;
  int64_t stride;
  INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE double& operator[](int64_t i) const { return data[i * stride]; }
};

template <typename value_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE value_t relu_nan(value_t v) {
  return v < value_t(0) ? value_t(0) : v;  // keeps NaN
}

// kMaxMels, kMaxBands: the capacity of the solver's arrays (thread-local on the GPU); the op picks
// the smallest instantiation that holds n_mels (and refuses banks with more bands).
// K += (ridge * max diag + tiny) I, then K = L D L^T in place (band storage, as add_bin_to_band_gram):
// the damping that keeps a Gram with empty rows (bound or untouched mels) factorable.
template <typename T>
INVERSE_MEL_HOST_DEVICE void add_ridge_and_factor(T* band, int64_t n_mels, int64_t bands, T ridge) {
  T largest = 0;
  for (int64_t k = 0; k < n_mels; ++k) {
    largest = largest < band[k] ? band[k] : largest;
  }
  for (int64_t k = 0; k < n_mels; ++k) {
    band[k] += diagonal_ridge(ridge, largest);
  }
  T row = 0;
  ldlt_factor_body(BandRows<T>{band, n_mels, 1}, bands, int64_t(1), &row);
}

template <typename scalar_t, int kMaxMels, int kMaxBands>
class FrameNnls {
 public:
  // max_iter, tol: solve()'s stopping settings; project() takes its own.
  INVERSE_MEL_HOST_DEVICE explicit FrameNnls(const FrameBank<scalar_t>& bank, int64_t max_iter = 0, double tol = 0)
      : bank_(bank), max_iter_(max_iter), tol_(tol) {}

  // Solves the frame m(k) = mel[k * mel_stride] and writes its bins to out[f * out_stride];
  // s_work: (hi - lo) doubles of scratch for phase 2.
  INVERSE_MEL_HOST_DEVICE FrameReport<scalar_t> solve(const scalar_t* mel, int64_t mel_stride, scalar_t* out,
                                                      int64_t out_stride, StridedRow s_work) {
    const int64_t n_mels = bank_.n_mels;
    load_scaled_mel(mel, mel_stride);
    const EntropySettings<scalar_t> nnls_settings{
        nullptr, 0, kEntropyPenalty, max_iter_ < kEntropyMaxSteps ? max_iter_ : kEntropyMaxSteps, tol_};
    const int32_t steps = entropy_phase(nnls_settings);
    // Write the entropy solution out with its NNLS optimality measure, then test the frame.
    const scalar_t lipschitz = static_cast<scalar_t>(bank_.spectral_norm) * static_cast<scalar_t>(bank_.spectral_norm);
    scalar_t mapping_squared = 0, objective = 0;
    for (int64_t f = bank_.lo; f < bank_.hi; ++f) {
      scalar_t s = 0, g = 0;
      const bool weighed = bin_value(nnls_settings, f, lam_, false, &s);
      gather(f, residual_, &g);
      out[f * out_stride] = weighed ? s * unscale_ : scalar_t(0);
      if (weighed) {
        const scalar_t p = entropy_measure(s, g, lipschitz);  // nnls_rules.h
        mapping_squared += p * p;
      }
    }
    for (int64_t k = 0; k < n_mels; ++k) {
      objective += residual_[k] * residual_[k];
    }
    const scalar_t spectral_norm = static_cast<scalar_t>(bank_.spectral_norm);
    const Verdict verdict =
        nnls_verdict(objective, mapping_squared, mel_norm_, static_cast<scalar_t>(tol_), spectral_norm, steps, max_iter_);
    FrameReport<scalar_t> report{steps, relative_residual(objective, mel_norm_), verdict == Verdict::kConverged};
    if (verdict == Verdict::kContinue) {
      report = projected_newton(steps, out, out_stride, s_work);
    }
    fill_unweighed_bins(out, out_stride, int64_t(1), bank_.n_freqs, bank_.lo, bank_.hi, bank_.band_edge_fill);
    return report;
  }

  // Mel-consistent Griffin-Lim's magnitude step for one frame: the maximum-entropy (KL) projection
  // of a prior spectrum q (prior[f * prior_stride], in the mel's power) onto the spectra that fit
  // the mel, s = q * exp(A^T lam), by the same penalised dual Newton as phase 1 with q in place of
  // the mel envelope: at most `steps` Newton steps, the penalty `penalty` relative to the start's
  // largest curvature diag(A diag(q) A^T) (a misfit of about that size is allowed where the mel is
  // inconsistent). Writes s to out[f * out_stride]; bins no filter touches get q. Returns the steps.
  INVERSE_MEL_HOST_DEVICE int32_t project(const scalar_t* mel, int64_t mel_stride, const scalar_t* prior,
                                          int64_t prior_stride, double penalty, int64_t steps, scalar_t* out,
                                          int64_t out_stride) {
    load_scaled_mel(mel, mel_stride);
    const EntropySettings<scalar_t> settings{prior, prior_stride, penalty, steps, kProjectionTolerance};
    const int32_t taken = entropy_phase(settings);
    for (int64_t f = 0; f < bank_.n_freqs; ++f) {
      scalar_t s = 0;
      const bool inside = f >= bank_.lo && f < bank_.hi && bin_value(settings, f, lam_, false, &s);
      out[f * out_stride] = inside ? s * unscale_ : prior[f * prior_stride];
    }
    return taken;
  }

 private:
  // mel_ = the frame scaled by a power of two (nnls_scaling.h), mel_norm_ its norm.
  INVERSE_MEL_HOST_DEVICE void load_scaled_mel(const scalar_t* mel, int64_t mel_stride) {
    const int64_t n_mels = bank_.n_mels;
    scalar_t max_abs = 0;
    for (int64_t k = 0; k < n_mels; ++k) {
      mel_[k] = mel[k * mel_stride];
      const scalar_t a = mel_[k] < scalar_t(0) ? -mel_[k] : mel_[k];
      max_abs = max_abs < a ? a : max_abs;
    }
    scale_ = frame_scale(max_abs);
    unscale_ = scalar_t(1) / scale_;  // a power of two: exact
    scalar_t norm_squared = 0;
    for (int64_t k = 0; k < n_mels; ++k) {
      mel_[k] *= scale_;
    }
    for (int64_t k = 0; k < n_mels; ++k) {
      norm_squared += mel_[k] * mel_[k];
    }
    mel_norm_ = square_root(norm_squared);
  }

  // -- the bins, through their taps ---------------------------------------------------------------
  // sum_j w_j x[k_j] over bin f's taps, in tap order (as cpu/nnls gathers); false for a bin without taps.
  template <typename value_t, typename weight_fn>
  INVERSE_MEL_HOST_DEVICE bool gather_with(int64_t f, const value_t* x, value_t* out, weight_fn weight_of) const {
    bool any = false;
    value_t sum = 0;
    for (int64_t j = 0; j < bank_.taps; ++j) {
      const int64_t i = f * bank_.taps + j;
      const int64_t k = bank_.index[i];
      if (!is_tap(bank_.weight[i], k, bank_.n_mels)) {
        continue;
      }
      const value_t term = weight_of(i) * x[k];
      sum = any ? sum + term : term;
      any = true;
    }
    *out = sum;
    return any;
  }

  // A^T x at bin f, in scalar_t (weights w) or float64 (weights double(w)).
  template <typename value_t>
  INVERSE_MEL_HOST_DEVICE bool gather(int64_t f, const value_t* x, value_t* out) const {
    return gather_with(f, x, out, [this](int64_t i) { return static_cast<value_t>(bank_.weight[i]); });
  }

  // The entropy solution at bin f: max(0, envelope) * 2^(A^T lam log2 e); the envelope alone at
  // lam = 0. False for a bin without taps.
  // With a prior (project()), the prior, scaled as the mel, is the envelope.
  INVERSE_MEL_HOST_DEVICE bool bin_value(const EntropySettings<scalar_t>& settings, int64_t f, const scalar_t* lam,
                                         bool lam_is_zero, scalar_t* s) const {
    scalar_t envelope = 0, u = 0;
    const bool any =
        gather_with(f, lam, &u, [this](int64_t i) { return exponent_weight<scalar_t>(bank_.weight[i]); });
    if (settings.prior != nullptr) {
      envelope = settings.prior[f * settings.prior_stride] * scale_;
    } else {
      gather_with(f, mel_, &envelope, [this](int64_t i) { return static_cast<scalar_t>(bank_.envelope64[i]); });
    }
    envelope = relu_nan(envelope);
    *s = lam_is_zero ? envelope : envelope * exp2_approx<scalar_t>(u);
    return any;
  }

  // -- phase 1 ------------------------------------------------------------------------------------
  // One evaluation of the entropy dual at lam: fit = A s, K = A diag(s) A^T (band storage),
  // total = sum s.
  INVERSE_MEL_HOST_DEVICE void evaluate(const EntropySettings<scalar_t>& settings, const scalar_t* lam,
                                        bool lam_is_zero, scalar_t* fit, scalar_t* k_band, scalar_t* total) const {
    const int64_t n_mels = bank_.n_mels;
    for (int64_t k = 0; k < n_mels; ++k) {
      fit[k] = 0;
    }
    for (int64_t i = 0; i < bank_.bands * n_mels; ++i) {
      k_band[i] = 0;
    }
    scalar_t sum = 0;
    for (int64_t f = bank_.lo; f < bank_.hi; ++f) {
      scalar_t v = 0;
      if (!bin_value(settings, f, lam, lam_is_zero, &v)) {
        continue;
      }
      sum += v;
      add_bin_to_mel(bank_.index, bank_.weight, bank_.taps, n_mels, f, v, fit);
      add_bin_to_band_gram(bank_.index, bank_.weight, bank_.taps, n_mels, f, v, k_band);
    }
    *total = sum;
  }

  // Newton's method on the penalised dual (cpu/nnls/entropy_newton.h). Leaves lam_ and
  // residual_ = A s - m; returns the steps taken.
  INVERSE_MEL_HOST_DEVICE int32_t entropy_phase(const EntropySettings<scalar_t>& settings) {
    const int64_t n_mels = bank_.n_mels;
    const int64_t max_steps = settings.max_steps;
    const scalar_t tol = static_cast<scalar_t>(kEntropyTolerance * settings.tol);
    for (int64_t k = 0; k < n_mels; ++k) {
      lam_[k] = 0;
    }
    scalar_t total = 0;
    evaluate(settings, lam_, true, fit_, hessian_band_, &total);
    scalar_t ridge = 0;
    for (int64_t k = 0; k < n_mels; ++k) {
      ridge = ridge < hessian_band_[k] ? hessian_band_[k] : ridge;
    }
    ridge = diagonal_ridge(scalar_t(settings.penalty), ridge);
    scalar_t dual = -total;  // the dual objective at lam = 0
    int32_t steps = 0;
    const BandRows<scalar_t> k_rows{hessian_band_, n_mels, 1};
    while (true) {
      // Dual gradient m - A s - eps lam, and the Newton step's right-hand side.
      scalar_t gradient_squared = 0;
      for (int64_t k = 0; k < n_mels; ++k) {
        const scalar_t g = mel_[k] - fit_[k] - ridge * lam_[k];
        grad_[k] = g;
        step_[k] = g;
        gradient_squared += g * g;
      }
      if (entropy_phase_done(gradient_squared, tol, mel_norm_, steps, max_steps)) {
        break;  // converged, out of steps, or NaN (left to the NNLS tests)
      }
      // Newton step: (A S A^T + eps I) step = grad.
      ldlt_factor_with_ridge_and_solve_body(k_rows, bank_.bands, int64_t(1), &ldlt_row_, &ridge, step_);
      scalar_t slope = 0;
      for (int64_t k = 0; k < n_mels; ++k) {
        slope += grad_[k] * step_[k];
      }
      // Backtracking on the (concave) dual objective lam.m - sum s - eps/2 |lam|^2.
      scalar_t alpha = 1, dual_c = 0, total_c = 0;
      bool accepted = false;
      for (int trial = 0; trial < kMaxBacktracks && !accepted; ++trial) {
        dual_c = 0;
        for (int64_t k = 0; k < n_mels; ++k) {
          const scalar_t l = lam_[k] + alpha * step_[k];
          lam_candidate_[k] = l;
          dual_c += l * (mel_[k] - scalar_t(0.5) * ridge * l);
        }
        evaluate(settings, lam_candidate_, false, fit_candidate_, hessian_band_candidate_, &total_c);
        dual_c -= total_c;
        if (entropy_step_accepted(dual_c, dual, alpha, slope, total, trial)) {
          accepted = true;
        } else {
          alpha = shorter_step(alpha);
        }
      }
      if (!accepted) {
        break;  // the step stalled: the frame leaves phase 1
      }
      for (int64_t k = 0; k < n_mels; ++k) {
        lam_[k] = lam_candidate_[k];
        fit_[k] = fit_candidate_[k];
      }
      for (int64_t i = 0; i < bank_.bands * n_mels; ++i) {
        hessian_band_[i] = hessian_band_candidate_[i];
      }
      ++steps;
      dual = dual_c;
      total = total_c;
    }
    for (int64_t k = 0; k < n_mels; ++k) {
      residual_[k] = fit_[k] - mel_[k];
    }
    return steps;
  }

  // -- phase 2 ------------------------------------------------------------------------------------
  // The metric W = envelope + metric_floor(max(envelope)) at bin f (float64; nnls_rules.h).
  INVERSE_MEL_HOST_DEVICE double metric(int64_t f) const {
    double envelope = 0;
    gather_with(f, mel64_, &envelope, [this](int64_t i) { return bank_.envelope64[i]; });
    return relu_nan(envelope) + metric_floor(envelope_max_);
  }

  // Projected Newton steps in float64 from the written entropy solution (cpu/nnls/projected_newton.h).
  INVERSE_MEL_HOST_DEVICE FrameReport<scalar_t> projected_newton(int32_t steps, scalar_t* out, int64_t out_stride,
                                                                 StridedRow s) {
    const int64_t n_mels = bank_.n_mels;
    const int64_t lo = bank_.lo, hi = bank_.hi;
    const double lipschitz = bank_.spectral_norm * bank_.spectral_norm;
    const double tol = tol_;
    for (int64_t f = lo; f < hi; ++f) {
      s[f - lo] = static_cast<double>(out[f * out_stride] * scale_);
    }
    double objective = 0, mel_norm = 0;
    for (int64_t k = 0; k < n_mels; ++k) {
      mel64_[k] = static_cast<double>(mel_[k]);
    }
    mel_residual(s, residual64_);
    for (int64_t k = 0; k < n_mels; ++k) {
      objective += residual64_[k] * residual64_[k];
    }
    for (int64_t k = 0; k < n_mels; ++k) {
      mel_norm += mel64_[k] * mel64_[k];
    }
    mel_norm = square_root(mel_norm);
    envelope_max_ = 0;
    for (int64_t f = lo; f < hi; ++f) {
      double envelope = 0;
      gather_with(f, mel64_, &envelope, [this](int64_t i) { return bank_.envelope64[i]; });
      envelope = relu_nan(envelope);
      envelope_max_ = envelope_max_ < envelope ? envelope : envelope_max_;
    }
    double damping = kSolverDamping, damping_floor = kSolverDampingFloor;
    const BandRows<double> k_rows{newton_band_, n_mels, 1};
    while (true) {
      // Gradient, free set and optimality measure; then the stopping test.
      double mapping_squared = 0;
      for (int64_t f = lo; f < hi; ++f) {
        double g = 0;
        gather(f, residual64_, &g);
        const double free = bin_is_free(s[f - lo], g, lipschitz) ? 1.0 : 0.0;
        const double p = free_set_measure(free, s[f - lo], g, lipschitz);
        mapping_squared += p * p;
      }
      const Verdict verdict = nnls_verdict(objective, mapping_squared, mel_norm, tol, bank_.spectral_norm, steps, max_iter_);
      if (verdict != Verdict::kContinue) {
        return finish(s, objective, mel_norm, steps, verdict == Verdict::kConverged, out, out_stride);
      }
      // Newton step on the free set in the metric W, with the damping's bias on small-but-nonzero
      // directions cut by iterative refinement.
      assemble(s, damping);
      for (int64_t k = 0; k < n_mels; ++k) {
        newton_solution_[k] = residual64_[k];
      }
      ldlt_solve_body(k_rows, bank_.bands, int64_t(1), newton_solution_);
      for (int refinement = 0; refinement < kSolverRefinements; ++refinement) {
        // r - A W_F A^T lam (into candidate_residual64_, free until the line search), solved and
        // added to lam.
        newton_direction_residual(s, candidate_residual64_);
        ldlt_solve_body(k_rows, bank_.bands, int64_t(1), candidate_residual64_);
        for (int64_t k = 0; k < n_mels; ++k) {
          newton_solution_[k] += candidate_residual64_[k];
        }
      }
      // Armijo backtracking on the projected arc.
      double alpha = 1.0, objective_c = 0, decrease = 0;
      bool accepted = false;
      for (int trial = 0; trial < kMaxBacktracks && !accepted; ++trial) {
        candidate(s, alpha, candidate_residual64_, &decrease);
        objective_c = 0;
        for (int64_t k = 0; k < n_mels; ++k) {
          objective_c += candidate_residual64_[k] * candidate_residual64_[k];
        }
        if (projected_step_accepted(objective_c, objective, decrease, mel_norm, trial)) {
          accepted = true;
        } else {
          alpha = shorter_step(alpha);
        }
      }
      if (!accepted) {
        if (after_stalled_projected_step(damping_lowered(damping)) == Verdict::kContinue) {
          // Back to the full damping, with a higher floor (nnls_rules.h).
          damping_floor = damping_floor_after_stall(damping);
          damping = kSolverDamping;
          ++steps;  // a step's work, and max_iter bounds these too
          continue;
        }
        return finish(s, objective, mel_norm, steps, false, out, out_stride);
      }
      // Take the step: the candidate at alpha (recomputed bin by bin) and its residual.
      take_candidate(s, alpha);
      // Levenberg-Marquardt on the damping (cpu/nnls/projected_newton.h).
      damping = next_damping(damping, damping_floor, alpha, objective - objective_c, decrease, objective, mel_norm);
      ++steps;
      objective = objective_c;
      for (int64_t k = 0; k < n_mels; ++k) {
        residual64_[k] = candidate_residual64_[k];
      }
    }
  }

  // residual = A x - m over the touched bins (x: their rows), in float64.
  INVERSE_MEL_HOST_DEVICE void mel_residual(StridedRow x, double* residual) const {
    for (int64_t k = 0; k < bank_.n_mels; ++k) {
      residual[k] = -mel64_[k];
    }
    for (int64_t f = bank_.lo; f < bank_.hi; ++f) {
      add_bin_to_mel(bank_.index, bank_.weight, bank_.taps, bank_.n_mels, f, x[f - bank_.lo], residual);
    }
  }

  // The free-set weight W_F at bin f for the current r (0 on the bound set).
  INVERSE_MEL_HOST_DEVICE double free_weight(StridedRow s, int64_t f, double lipschitz) const {
    double g = 0;
    gather(f, residual64_, &g);
    return bin_is_free(s[f - bank_.lo], g, lipschitz) ? metric(f) : 0.0;
  }

  // K = A W_F A^T + damping * max diag + tiny, factored (cpu/nnls/banded_ldlt.h, assemble).
  INVERSE_MEL_HOST_DEVICE void assemble(StridedRow s, double damping) {
    const int64_t n_mels = bank_.n_mels;
    const double lipschitz = bank_.spectral_norm * bank_.spectral_norm;
    for (int64_t i = 0; i < bank_.bands * n_mels; ++i) {
      newton_band_[i] = 0;
    }
    for (int64_t f = bank_.lo; f < bank_.hi; ++f) {
      add_bin_to_band_gram(bank_.index, bank_.weight, bank_.taps, n_mels, f, free_weight(s, f, lipschitz),
                           newton_band_);
    }
    add_ridge_and_factor(newton_band_, n_mels, bank_.bands, damping);
  }

  // The Newton direction at bin f: -W_F (A^T lam)_f on the free set, -s_f (to 0) on the bound set.
  INVERSE_MEL_HOST_DEVICE double direction(StridedRow s, int64_t f, double lipschitz) const {
    const double weight_f = free_weight(s, f, lipschitz);
    double d = 0;
    gather(f, newton_solution_, &d);
    d *= weight_f;
    return weight_f > 0.0 ? -d : -s[f - bank_.lo];
  }

  // out = r - A W_F A^T lam (the refinement's right-hand side).
  INVERSE_MEL_HOST_DEVICE void newton_direction_residual(StridedRow s, double* out) const {
    const double lipschitz = bank_.spectral_norm * bank_.spectral_norm;
    for (int64_t k = 0; k < bank_.n_mels; ++k) {
      out[k] = -residual64_[k];
    }
    for (int64_t f = bank_.lo; f < bank_.hi; ++f) {
      const double weight_f = free_weight(s, f, lipschitz);
      double d = 0;
      gather(f, newton_solution_, &d);
      d *= weight_f;
      for (int64_t j = 0; j < bank_.taps; ++j) {
        const int64_t i = f * bank_.taps + j;
        if (is_tap(bank_.weight[i], bank_.index[i], bank_.n_mels)) {
          out[bank_.index[i]] += double(bank_.weight[i]) * d;
        }
      }
    }
    for (int64_t k = 0; k < bank_.n_mels; ++k) {
      out[k] = -out[k];
    }
  }

  // The candidate max(0, s + alpha d): its residual A cand - m into rc and its first-order decrease
  // g . (s - cand).
  INVERSE_MEL_HOST_DEVICE void candidate(StridedRow s, double alpha, double* rc, double* decrease) const {
    const double lipschitz = bank_.spectral_norm * bank_.spectral_norm;
    for (int64_t k = 0; k < bank_.n_mels; ++k) {
      rc[k] = -mel64_[k];
    }
    double sum = 0;
    for (int64_t f = bank_.lo; f < bank_.hi; ++f) {
      const double sf = s[f - bank_.lo];
      const double v = sf + alpha * direction(s, f, lipschitz);
      const double cand = v > 0.0 ? v : 0.0;
      double g = 0;
      gather(f, residual64_, &g);
      sum += g * (sf - cand);
      for (int64_t j = 0; j < bank_.taps; ++j) {
        const int64_t i = f * bank_.taps + j;
        if (is_tap(bank_.weight[i], bank_.index[i], bank_.n_mels)) {
          rc[bank_.index[i]] += double(bank_.weight[i]) * cand;
        }
      }
    }
    *decrease = sum;
  }

  // s <- max(0, s + alpha d), every direction computed before any bin moves.
  INVERSE_MEL_HOST_DEVICE void take_candidate(StridedRow s, double alpha) {
    const double lipschitz = bank_.spectral_norm * bank_.spectral_norm;
    // d depends on r (the free set) and lam, not on other bins of s, so bins can move one by one.
    for (int64_t f = bank_.lo; f < bank_.hi; ++f) {
      const double v = s[f - bank_.lo] + alpha * direction(s, f, lipschitz);
      s[f - bank_.lo] = v > 0.0 ? v : 0.0;
    }
  }

  INVERSE_MEL_HOST_DEVICE FrameReport<scalar_t> finish(StridedRow s, double objective, double mel_norm,
                                                       int32_t steps, bool converged, scalar_t* out,
                                                       int64_t out_stride) const {
    for (int64_t f = bank_.lo; f < bank_.hi; ++f) {
      out[f * out_stride] = static_cast<scalar_t>(s[f - bank_.lo]) * unscale_;
    }
    return FrameReport<scalar_t>{steps, static_cast<scalar_t>(relative_residual(objective, mel_norm)), converged};
  }

  const FrameBank<scalar_t> bank_;
  const int64_t max_iter_;
  const double tol_;
  scalar_t scale_ = 1, unscale_ = 1, mel_norm_ = 0;
  // Phase 1 (scalar_t): the scaled mel, the dual point and its candidate, the fit A s and its
  // candidate, the dual gradient, the Newton step, the residual A s - m; the dual's curvature
  // K = A diag(s) A^T and its candidate (band storage; factored in place).
  scalar_t mel_[kMaxMels], lam_[kMaxMels], lam_candidate_[kMaxMels], fit_[kMaxMels], fit_candidate_[kMaxMels],
      grad_[kMaxMels], step_[kMaxMels], residual_[kMaxMels];
  scalar_t hessian_band_[kMaxBands * kMaxMels], hessian_band_candidate_[kMaxBands * kMaxMels];
  scalar_t ldlt_row_ = 0;
  // Phase 2 (float64): the scaled mel; the residual A s - m; the candidate's residual (also the
  // refinement's right-hand side before the line search); the Newton system's solution lam of
  // (A W_F A^T + damping) lam = r; that matrix, factored (band storage); the envelope's maximum.
  double mel64_[kMaxMels], residual64_[kMaxMels], candidate_residual64_[kMaxMels], newton_solution_[kMaxMels];
  double newton_band_[kMaxBands * kMaxMels];
  double envelope_max_ = 0;
};

template <int kMels>
struct MelCapacity {
  static constexpr int value = kMels;
};

// fn(MelCapacity<c>{}) for the smallest capacity c in {64, 128, 256, 512} that holds n_mels.
template <typename Fn>
void with_mel_capacity(int64_t n_mels, Fn&& fn) {
  if (n_mels <= 64) {
    fn(MelCapacity<64>{});
  } else if (n_mels <= 128) {
    fn(MelCapacity<128>{});
  } else if (n_mels <= 256) {
    fn(MelCapacity<256>{});
  } else {
    fn(MelCapacity<kFrameMaxMels>{});
  }
}

}  // namespace nnls
}  // namespace inverse_mel
