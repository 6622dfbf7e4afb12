// The one place where every inverse_mel op schema is declared.
//
// Kernels live beside their backend (csrc/cpu/<family>.cpp, csrc/cuda/<family>.cu)
// and register themselves with STABLE_TORCH_LIBRARY_IMPL. Fake (meta) kernels and
// autograd formulas are registered from Python, in inverse_mel/_meta_registrations.py.
#include <torch/csrc/stable/library.h>

STABLE_TORCH_LIBRARY(inverse_mel, m) {
  // Least-squares apply: out = relu(F @ (gram_pinv @ melspec)), F given in
  // ELL form (tap_index, tap_weight) of shape (n_freqs, taps). With
  // F = fb and gram_pinv = (fb^T fb)^+ (cut at rcond) this is the
  // minimum-norm least-squares inverse of the mel projection, ReLU fused.
  //   melspec:    (..., n_mels, time), float32 or float64
  //   gram_pinv:  (n_mels, n_mels), same dtype as melspec
  //   tap_index:  (n_freqs, taps), int64, entries in [0, n_mels)
  //   tap_weight: (n_freqs, taps), same dtype as melspec
  //   gram_cholesky_band: optional (bands, n_mels), same dtype; band d holds
  //     L[k, k - d] of the Cholesky factor L L^T = fb^T fb, which must then be
  //     the exact inverse of gram_pinv. Given, the kernel solves with the band
  //     (O(bands * n_mels) per frame) instead of multiplying by gram_pinv
  //     (O(n_mels^2)); a triangular mel bank has a tridiagonal Gram (bands = 2).
  //   check_finite: the CPU kernel checks every mel value as it reads it and raises
  //     "lstsq_apply: melspec contains NaN or Inf" after the pass if one is not finite (the module's
  //     input check, in the kernel's own pass); ignored on CUDA, where it would sync the host.
  //   returns:    (..., n_freqs, time)
  m.def(
      "lstsq_apply(Tensor melspec, Tensor gram_pinv, Tensor tap_index, "
      "Tensor tap_weight, Tensor? gram_cholesky_band=None, bool check_finite=False) -> Tensor");
  // The same, written into a caller-provided contiguous output of shape
  // (..., n_freqs, time): reusing a warm buffer skips the first-touch page
  // faults of a fresh one (see benchmarks/bench_lstsq_cpu.py). Not differentiable.
  // It returns nothing: custom ops may not return an alias of an input.
  m.def(
      "lstsq_apply_out(Tensor melspec, Tensor gram_pinv, Tensor tap_index, "
      "Tensor tap_weight, Tensor? gram_cholesky_band, Tensor(a!) out) -> ()");

  // Mel filterbank weights from the corner frequencies (torchaudio's triangle formula, float32):
  //   hz_points: (n_mels + 2,) float32, the filters' corners in Hz
  //   all_freqs: (n_freqs,) float32, the STFT bin frequencies
  //   returns:   (n_freqs, n_mels) float32 on their device
  m.def("melscale_fbanks_triangles(Tensor hz_points, Tensor all_freqs, bool slaney_norm) -> Tensor");

  // Non-negative least squares: per frame, min ||fb^T s - m||^2 subject to s >= 0
  // (see csrc/cpu/nnls.cpp). The filterbank (tap_weight) must be non-negative.
  //   max_iter, tol: per-frame stopping, scale-invariant
  //   band_edge_fill: optional (n_freqs,) int64 CPU tensor; band_edge_fill[f] = j >= 0 makes
  //     bin f, which no filter may weigh, a copy of bin j, which some filter must
  //     weigh (-1: bin f stays 0). Every value of an unweighed bin fits equally;
  //     InverseMelScale uses this to continue the spectrum over the band edges.
  //   returns: solution   (..., n_freqs, time), melspec's dtype
  //            iterations (..., time) int32, Newton steps taken per frame
  //            residual   (..., time) ||fb^T s - m|| / ||m|| per frame
  //            converged  (..., time) bool, false for frames that ran out of
  //                       steps or hold NaN/Inf
  m.def(
      "nnls(Tensor melspec, Tensor tap_index, Tensor tap_weight, int max_iter, float tol, "
      "Tensor? band_edge_fill=None) -> (Tensor, Tensor, Tensor, Tensor)");
  // Backward of nnls with respect to melspec: (A_F A_F^T)^-1 A_F grad on the
  // solution's free set F = {solution > 0}. grad, solution: (..., n_freqs, time);
  // returns (..., n_mels, time).
  m.def(
      "nnls_backward(Tensor grad, Tensor solution, Tensor tap_index, Tensor tap_weight, "
      "int n_mels) -> Tensor");

  // The per-frame code the CUDA kernels run (csrc/shared/nnls_frame.h, lstsq_expand.h), also built
  // for the CPU so that the tests check it against the CPU kernels. Same inputs and outputs as
  // nnls, nnls_backward and lstsq_apply (the last without the band: a dense product, as on CUDA).
  m.def(
      "_nnls_per_frame(Tensor melspec, Tensor tap_index, Tensor tap_weight, int max_iter, float tol, "
      "Tensor? band_edge_fill=None) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "_nnls_backward_per_frame(Tensor grad, Tensor solution, Tensor tap_index, Tensor tap_weight, "
      "int n_mels) -> Tensor");
  m.def(
      "_lstsq_apply_per_frame(Tensor melspec, Tensor gram_pinv, Tensor tap_index, Tensor tap_weight, "
      "Tensor? gram_cholesky_band=None) -> Tensor");

  // Phase-gradient heap integration (PGHI), per signal (csrc/shared/pghi_integrate.h):
  //   magnitude, time_step, freq_step, init_phase: (..., n_freqs, frames), float32 or float64;
  //     time_step / freq_step: the phase advance per hop / per bin at each coefficient
  //   order:  (..., n_freqs * frames) int64, each signal's coefficients by decreasing magnitude
  //   relative_tol: coefficients below relative_tol * the signal's largest keep init_phase
  //   returns: the phase, (..., n_freqs, frames)
  m.def(
      "pghi_integrate(Tensor magnitude, Tensor time_step, Tensor freq_step, Tensor order, Tensor init_phase, "
      "float relative_tol) -> Tensor");

  // Mel-consistent Griffin-Lim's magnitude step, per frame: the maximum-entropy (KL) projection of
  // a prior spectrum onto the spectra that fit the mel, s = prior * exp(fb @ lam), by the NNLS
  // solver's penalised dual Newton (shared/nnls_frame.h, FrameNnls::project).
  //   melspec: (..., n_mels, time) and prior: (..., n_freqs, time), float32 or float64, one power
  //   tap_index, tap_weight: the filterbank's taps, as for nnls (non-negative)
  //   penalty: > 0, the dual's quadratic penalty relative to its start's largest curvature
  //   steps:   at most this many Newton steps per frame
  //   returns: (..., n_freqs, time); bins no filter touches keep the prior
  m.def(
      "mel_projection(Tensor melspec, Tensor prior, Tensor tap_index, Tensor tap_weight, float penalty, "
      "int steps) -> Tensor");

  // How the CUDA NNLS forward kernel for `n_mels` mels in `like`'s dtype is launched on `like`'s
  // device, for the benchmark's occupancy report (CUDA only; no kernel runs):
  //   returns [registers per thread, local memory bytes per thread, threads per block,
  //            resident blocks per SM, SMs, max resident threads per SM]
  m.def("_nnls_cuda_launch_info(Tensor like, int n_mels) -> int[]");
}
