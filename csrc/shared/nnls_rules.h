// Every per-frame decision of the NNLS solver, once, for the SIMD batch solver's per-lane loops
// (cpu/nnls/) and the per-frame solver (nnls_frame.h, which the GPU runs): whether a step is
// accepted, the next damping, the free set and its measure (and the backward's), the metric's
// floor, the bins no filter weighs. The literals are
// named, with the measurement that chose them, in nnls_constants.h; the stopping verdicts are in
// nnls_stopping.h.
//
// Each rule is written so that both callers get the same bits they got when each wrote it inline
// (tests/test_kernel_snapshot.py holds them to that): same operand order, same types (the batch
// solver's phase 2 is float64, as the per-frame one's), no fused multiply-adds (setup.py).
#pragma once

#include "host_device.h"
#include "nnls_constants.h"

#include <cstdint>
#include <limits>

namespace inverse_mel {
namespace nnls {

// kRoundOffUlps machine epsilons in real_t: the scale of round-off the step tests forgive.
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE real_t round_off_margin() {
  return real_t(kRoundOffUlps) * std::numeric_limits<real_t>::epsilon();
}

// -- step acceptance ------------------------------------------------------------------------------
// Phase 1 (ascent on the concave dual): the candidate's dual value dual_c at step length alpha
// passes Armijo against the current dual and its directional slope, or (full step only) loses no
// more than round-off of |dual| + total (total = sum s, the dual's other term).
template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE bool entropy_step_accepted(scalar_t dual_c, scalar_t dual,
                                                                           scalar_t alpha, scalar_t slope,
                                                                           scalar_t total, int trial) {
  const bool armijo = dual_c >= dual + scalar_t(kArmijo) * alpha * slope;
  const bool full_step_at_round_off =
      trial == 0 && dual_c >= dual - round_off_margin<scalar_t>() * ((dual < scalar_t(0) ? -dual : dual) + total);
  return armijo || full_step_at_round_off;
}

// Phase 2 (descent on obj = ||A s - m||^2 = 2 f): the candidate's objective obj_c passes Armijo
// against its first-order decrease g . (s - cand) of f, or (full step only) raises obj by no more
// than the round-off of r = A s - m, ~eps ||r|| ||m|| (nnls_constants.h, kRoundOffUlps).
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE bool projected_step_accepted(real_t obj_c, real_t obj,
                                                                             real_t decrease, real_t mel_norm,
                                                                             int trial) {
  const bool armijo = obj_c <= obj - real_t(2 * kArmijo) * decrease;
  const bool full_step_at_round_off =
      trial == 0 && obj_c <= obj + round_off_margin<real_t>() * square_root(obj) * mel_norm;
  return armijo || full_step_at_round_off;
}

// The next trial's step length after a rejected one.
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE real_t shorter_step(real_t alpha) {
  return alpha * real_t(kBacktrackFactor);
}

// -- phase 2's damping (Levenberg-Marquardt; nnls_constants.h explains the factors) ---------------
// After an accepted step of length alpha that lowered obj by `reduction` (first-order decrease
// `decrease`): the damping for the next step, between `floor` and kSolverDamping.
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE real_t next_damping(real_t damping, real_t floor, real_t alpha,
                                                                    real_t reduction, real_t decrease, real_t obj,
                                                                    real_t mel_norm) {
  if (alpha == real_t(1)) {
    if (reduction > real_t(kDampingHeldBackRatio) * decrease &&
        reduction > real_t(kDampingRoundOffMargins) * round_off_margin<real_t>() * square_root(obj) * mel_norm) {
      const real_t lowered = damping * real_t(kDampingLowerFactor);
      return lowered < floor ? floor : lowered;  // std::max(lowered, floor)
    }
    return damping;
  }
  const real_t raised = damping * real_t(kDampingRaiseFactor);
  return real_t(kSolverDamping) < raised ? real_t(kSolverDamping) : raised;  // std::min(raised, kSolverDamping)
}

// Whether a frame's damping is below its start (a stall then resets it rather than ending the frame;
// nnls_stopping.h, after_stalled_projected_step).
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE bool damping_lowered(real_t damping) {
  return damping < real_t(kSolverDamping);
}

// After a stall with lowered damping: the frame's new damping floor (the damping goes back to
// kSolverDamping), never again below kStalledFloorFactor times the damping that stalled.
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE real_t damping_floor_after_stall(real_t damping) {
  const real_t raised = damping * real_t(kStalledFloorFactor);
  return real_t(kSolverDamping) < raised ? real_t(kSolverDamping) : raised;  // std::min(raised, kSolverDamping)
}

// -- the free set and its measure -----------------------------------------------------------------
// The NNLS optimality measure and free set of a point s with gradient g = (A^T r)_f, per bin:
//   bound  when g > 0 and L s <= g (a gradient step of length 1/L, L = ||A||_2^2, would clip the
//          bin to 0): its measure is L s, and a Newton step sends it to 0;
//   free   otherwise: its measure is |g|.
// The squared norm of these measures is the gradient mapping L (s - max(0, s - g / L)): zero
// exactly at KKT points, and, unlike the gradient on {s > 0}, not held up by a bin a hair above 0
// with a positive gradient. Branch-free (| not ||) so the batch solver's loops vectorise.
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE bool bin_is_free(real_t s, real_t g, real_t lipschitz) {
  return (g <= real_t(0)) | (lipschitz * s > g);
}

// The bin's measure, with free = 1 or 0 (bin_is_free): g when free, L s when bound.
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE real_t free_set_measure(real_t free, real_t s, real_t g,
                                                                        real_t lipschitz) {
  return free * g + (real_t(1) - free) * lipschitz * s;
}

// The same measure at phase 1's output, where s >= 0 (entropy solution): min(g, L s) in every
// case. `value_t` may be a SIMD vector of lanes (cpu/nnls/entropy_passes.h).
template <typename value_t, typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE value_t entropy_measure(value_t s, value_t g, real_t lipschitz) {
  const value_t bound_measure = lipschitz * s;
  return g < bound_measure ? g : bound_measure;
}

// The backward's free set: the bins where the solution is positive (d s / d m is zero on the rest).
template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE bool bin_is_free_in_backward(scalar_t solution) {
  return solution > scalar_t(0);
}

// -- the bins no filter weighs --------------------------------------------------------------------
// Every value of such a bin fits the mel equally: the solution holds 0 there, outside the weighed
// bins [lo, hi), and then bin f becomes a copy of bin band_edge_fill[f] >= 0 (the band-edge fill;
// functional/filterbank.py). `frames` frames per bin, contiguous; bin f's first at out[f * bin_stride].
template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE void fill_unweighed_bins(scalar_t* out, int64_t bin_stride,
                                                                         int64_t frames, int64_t n_freqs,
                                                                         int64_t lo, int64_t hi,
                                                                         const int64_t* band_edge_fill) {
  for (int64_t f = 0; f < n_freqs; ++f) {
    if (f < lo || f >= hi) {
      for (int64_t t = 0; t < frames; ++t) {
        out[f * bin_stride + t] = scalar_t(0);
      }
    }
  }
  if (band_edge_fill == nullptr) {
    return;
  }
  for (int64_t f = 0; f < n_freqs; ++f) {
    const int64_t from = band_edge_fill[f];
    if (from >= 0 && from < n_freqs) {
      for (int64_t t = 0; t < frames; ++t) {
        out[f * bin_stride + t] = out[from * bin_stride + t];
      }
    }
  }
}

// -- the ridge of every Newton system -------------------------------------------------------------
// Phase 1's penalty, phase 2's damping and the backward's ridge are each `relative` times the
// system's largest diagonal entry, plus the smallest normal number over epsilon: so a system whose
// diagonal is all zero (a silent frame, an empty free set) still factors.
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE real_t diagonal_ridge(real_t relative, real_t largest_diagonal) {
  const real_t tiny = std::numeric_limits<real_t>::min() / std::numeric_limits<real_t>::epsilon();
  return relative * largest_diagonal + tiny;
}

// -- phase 2's metric -----------------------------------------------------------------------------
// W = max(0, envelope) + metric_floor(max over the frame's bins of max(0, envelope)).
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE real_t metric_floor(real_t envelope_max) {
  return real_t(kMetricFloor) * envelope_max;
}

}  // namespace nnls
}  // namespace inverse_mel
