// The NNLS solvers' tuning constants, shared by the CPU solver (cpu/nnls/) and the per-frame one
// (shared/nnls_frame.h, which the GPU runs), each with the measurement that chose it.
#pragma once

#include "host_device.h"

#include <cstdint>

namespace inverse_mel {
namespace nnls {

// -- phase 1 (entropy) -------------------------------------------------------------------------
// The phase stops when its dual gradient is below kEntropyTolerance * tol * ||m||. 1 is enough
// (measured on the real recordings of benchmarks/bench_nnls.py: 0.1 costs half a step more per
// frame and changes no reported digit); a frame whose fit then misses tol goes on to phase 2.
constexpr double kEntropyTolerance = 1.0;
// Weight of the quadratic penalty, relative to the start's largest curvature
// diag(A diag(envelope) A^T). It keeps the dual strictly concave (so Newton converges even where
// no non-negative spectrum fits exactly) and bounds the fit's bias to ~penalty; float32 cannot
// factor a much larger condition number, and float64 gains nothing from a smaller one (the
// phase 2, projected Newton, reaches whatever a tighter tol asks for).
constexpr double kEntropyPenalty = 1e-6;
// The phase's step budget (part of max_iter). Real spectrograms take 2-10 steps; a frame that
// needs more is far from any consistent mel (its penalised optimum lies at the exp's clamp) and
// is better served by phase 2 (projected Newton).
constexpr int64_t kEntropyMaxSteps = 12;

// -- the line search of both phases ------------------------------------------------------------
// A step is accepted when it achieves kArmijo of its first-order change (the textbook value: any
// small positive fraction keeps the Newton step's quadratic convergence); each failed trial
// multiplies the step length by kBacktrackFactor (halving: exact in binary, so alpha stays a power
// of two), at most kMaxBacktracks times (2^-30 ~ 1e-9: a step that short has stalled).
constexpr double kArmijo = 1e-4;
constexpr double kBacktrackFactor = 0.5;
constexpr int kMaxBacktracks = 30;
// Near an optimum a step's first-order change drops below the round-off of the objective itself,
// and Armijo would reject a good full step at random: a full step that loses no more than
// kRoundOffUlps machine epsilons (of the objective's scale; see nnls_rules.h) is taken too.
// 16 eps covers the ~4 eps ||r|| ||m|| that r = A s - m carries into ||r||^2 (found by gradcheck: a
// perturbed overdetermined frame stalled 5e-11 from the optimum) with a factor 4 to spare.
constexpr double kRoundOffUlps = 16.0;

// -- phase 2 (projected Newton) ----------------------------------------------------------------
// Levenberg-Marquardt damping of A_F W A_F^T in the solver, relative to its largest
// diagonal. It does not move the fixed points (d = 0 exactly when A_F^T r = 0, the KKT
// condition), only the path: directions whose squared singular value is below the damping
// are damped rather than inverted. 1e-4 in both precisions (measured): smaller values let
// round-off in the null directions of an inconsistent residual (amplified by 1 / damping)
// leak into the step and break the scale invariance of the result (seen on overdetermined
// and Whisper-like banks); larger ones slow the last digits.
// It is the starting damping: ProjectedNewton lowers it per frame when its steps stall (see
// kSolverDampingFloor).
constexpr double kSolverDamping = 1e-4;
// A frame whose full steps stop making progress gets less damping, down to this (see
// ProjectedNewton::run): found by fuzzing the property-test space, where a 198-mel bank held a
// frame at 1.46 tol for 190 steps. float64 (phase 2 always is) factors the damped Gram safely.
constexpr double kSolverDampingFloor = 1e-12;
constexpr int kSolverRefinements = 1;  // measured: 0 costs more steps, 2 more time
// Levenberg-Marquardt on the damping (nnls_rules.h, next_damping), chosen with it in 2b307d8 (the
// per-frame damping that converged a 156-mel bank on 79 bins in 11 steps, the 198-mel frame in 31,
// the snapshot's model-like frames in at most 74 instead of 200, with real spectrograms
// bit-identical): a full step whose decrease of f = obj / 2 exceeds kDampingHeldBackRatio / 2 of
// its first-order decrease (1/2 for a pure Newton step, 1 for a short gradient-like one: 1.8 / 2 =
// 0.9 is "close to 1") is held back by the damping, which drops by kDampingLowerFactor (100x);
// a step that had to backtrack raises it by kDampingRaiseFactor (10x), up to kSolverDamping.
// Decreases within kDampingRoundOffMargins round-off margins say nothing (with 64: a tol=1e-12
// dense problem otherwise cycled, 2b307d8). After a stall with lowered damping the frame goes back
// to kSolverDamping and its floor rises to kStalledFloorFactor (100x) times the damping that stalled.
constexpr double kDampingHeldBackRatio = 1.8;
constexpr double kDampingRoundOffMargins = 64.0;
constexpr double kDampingLowerFactor = 0.01;
constexpr double kDampingRaiseFactor = 10.0;
constexpr double kStalledFloorFactor = 100.0;
// The step metric is W = envelope + floor (see ProjectedNewton). Measured on the real recordings
// of benchmarks/bench_nnls.py: W = (envelope + floor)^1.25 lowers the log-spectral distance a
// little further on power spectra but doubles the steps; ^1.5 stalls often; W = 1 (Euclidean)
// leaves many spurious zeros. The floor is kMetricFloor times the frame's largest envelope value,
// so that bins the envelope leaves at 0 can still move (nnls_rules.h, metric_floor); at 1e-6 such
// a bin's direction is damped by a million against the loudest bin's.
constexpr double kMetricFloor = 1e-6;

// -- ||A||_2 (nnls_bank.h, spectral_norm) ------------------------------------------------------
// The power iteration stops when the Gram's top eigenvalue moves by at most kSpectralNormTolerance
// of itself, or after kSpectralNormMaxSteps. L = ||A||_2^2 enters the free-set test (L s > g) and
// the stopping test's scale, where a relative error of 1e-6 is far below the default tol (1e-4).
// The step count is a bound, not a tuned value: the Gram of a non-negative bank has a positive
// top eigenvector (Perron-Frobenius), which the positive start vector approaches. Neither value
// was chosen by a measurement; benchmarks/results/one_ulp_constants.md shows what moving them does.
constexpr double kSpectralNormTolerance = 1e-6;
constexpr int kSpectralNormMaxSteps = 200;

// -- backward ------------------------------------------------------------------------------------
// The backward solves (A_F A_F^T) x = A_F grad, whose right-hand side lies in the range
// exactly. A_F A_F^T may be singular (fewer free bins than mels), so it is factored with a
// ridge of sqrt(machine eps) (condition ~1/sqrt(eps): round-off stays ~sqrt(eps)) and the
// ridge's bias is then removed by iterative refinement against the undamped matrix, each
// step multiplying it by ridge / sigma^2. float32: 3e-4 ~ sqrt(eps32) = 3.5e-4; float64: 1e-8 ~
// sqrt(eps64) = 1.5e-8.
constexpr double kBackwardRidgeFloat = 3e-4;
constexpr double kBackwardRidgeDouble = 1e-8;
template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE constexpr double backward_ridge() {
  return sizeof(scalar_t) == 4 ? kBackwardRidgeFloat : kBackwardRidgeDouble;
}
constexpr int kBackwardRefinements = 2;

// -- mel_projection (mel-consistent Griffin-Lim's magnitude step) ------------------------------
// The dual Newton's early stop (dual gradient below this times ||m||): NNLS's default tol, so the
// projection fits the mel as closely as the solver does.
constexpr double kProjectionTolerance = 1e-4;

}  // namespace nnls
}  // namespace inverse_mel
