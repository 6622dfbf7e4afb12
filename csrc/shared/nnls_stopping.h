// Every stop decision of the NNLS solvers, per frame (cpu/nnls/README.md: "Stopping rule"), for the
// CPU solver and the per-frame one the GPU runs (shared/nnls_frame.h).
#pragma once

#include "host_device.h"

#include <cstdint>

namespace inverse_mel {
namespace nnls {

// The NNLS stopping tests of one frame (scale-invariant): an exact fit, ||r|| <= tol ||m||, or a
// KKT point of an inconsistent problem, ||gradient mapping|| <= tol ||A||_2 ||r||.
template <typename real_t>
INVERSE_MEL_HOST_DEVICE bool passes_nnls_tests(real_t objective, real_t mapping_squared, real_t mel_norm, real_t tol, real_t spectral_norm) {
  const real_t res_norm = square_root(objective);
  return res_norm <= tol * mel_norm || square_root(mapping_squared) <= tol * spectral_norm * res_norm;
}

// ||r|| / ||m|| (||r|| for an all-zero frame): the reported residual.
template <typename real_t>
INVERSE_MEL_HOST_DEVICE real_t relative_residual(real_t objective, real_t mel_norm) {
  const real_t res_norm = square_root(objective);
  return mel_norm > real_t(0) ? res_norm / mel_norm : res_norm;
}

enum class Verdict { kContinue, kConverged, kFailed };

// After phase 1 and after every projected Newton step: converged when the NNLS tests pass; failed
// when the frame is out of steps (max_iter counts both phases) or not finite (NaN/Inf input);
// otherwise it goes on (into phase 2, or another step of it).
template <typename real_t>
INVERSE_MEL_HOST_DEVICE Verdict nnls_verdict(real_t objective, real_t mapping_squared, real_t mel_norm, real_t tol, real_t spectral_norm,
                     int64_t steps, int64_t max_iter) {
  if (passes_nnls_tests(objective, mapping_squared, mel_norm, tol, spectral_norm)) {
    return Verdict::kConverged;
  }
  if (steps >= max_iter || !is_finite(objective)) {
    return Verdict::kFailed;
  }
  return Verdict::kContinue;
}

// Phase 1 ends for a frame when its dual gradient is at most tol ||m|| (or NaN), or after its step
// budget; its result then faces nnls_verdict. A frame whose Newton step finds no increase of the
// dual within the backtracking budget has stalled and leaves phase 1 too.
template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE bool entropy_phase_done(scalar_t dual_gradient_squared, scalar_t tol, scalar_t mel_norm, int64_t steps,
                        int64_t max_steps) {
  return !(square_root(dual_gradient_squared) > tol * mel_norm) || steps >= max_steps;
}

// Phase 2, a step whose backtracking found no decrease: with less than the full damping the
// frame goes back to it and carries on; at full damping it has stalled and fails.
INVERSE_MEL_HOST_DEVICE inline Verdict after_stalled_projected_step(bool damping_was_lowered) {
  return damping_was_lowered ? Verdict::kContinue : Verdict::kFailed;
}

}  // namespace nnls
}  // namespace inverse_mel
