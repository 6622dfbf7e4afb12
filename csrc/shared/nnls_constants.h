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
// projected Newton phase polishes whatever a tighter tol asks for).
constexpr double kEntropyPenalty = 1e-6;
// The phase's step budget (part of max_iter). Real spectrograms take 2-10 steps; a frame that
// needs more is far from any consistent mel (its penalised optimum lies at the exp's clamp) and
// is better served by the projected Newton phase.
constexpr int64_t kEntropyMaxSteps = 12;

// -- the line search of both phases ------------------------------------------------------------
// A step is accepted when it achieves kArmijo of its first-order change; each failed trial halves it.
constexpr double kArmijo = 1e-4;
constexpr int kMaxBacktracks = 30;

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
// The step metric is W = envelope + floor (see ProjectedNewton). Measured on the real recordings
// of benchmarks/bench_nnls.py: W = (envelope + floor)^1.25 lowers the log-spectral distance a
// little further on power spectra but doubles the steps; ^1.5 stalls often; W = 1 (Euclidean)
// leaves many spurious zeros.

// -- backward ------------------------------------------------------------------------------------
// The backward solves (A_F A_F^T) x = A_F grad, whose right-hand side lies in the range
// exactly. A_F A_F^T may be singular (fewer free bins than mels), so it is factored with a
// ridge of sqrt(machine eps) (condition ~1/sqrt(eps): round-off stays ~sqrt(eps)) and the
// ridge's bias is then removed by iterative refinement against the undamped matrix, each
// step multiplying it by ridge / sigma^2.
template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE constexpr double backward_ridge() {
  return sizeof(scalar_t) == 4 ? 3e-4 : 1e-8;
}
constexpr int kBackwardRefinements = 2;

// -- mel_projection (mel-consistent Griffin-Lim's magnitude step) ------------------------------
// The dual Newton's early stop (dual gradient below this times ||m||): NNLS's default tol, so the
// projection fits the mel as closely as the solver does.
constexpr double kProjectionTolerance = 1e-4;

}  // namespace nnls
}  // namespace inverse_mel
