// CPU kernels of inverse_mel::nnls and inverse_mel::nnls_backward (schemas in
// csrc/inverse_mel.cpp).
//
// Per frame m (n_mels) it solves  min_s ||A s - m||^2  subject to  s >= 0,  A = fb^T.
//
// Mel inversion is underdetermined: where one non-negative spectrum fits m exactly, many do.
// The solver picks the one with the most entropy relative to the mel envelope e (each band's
// energy per unit filter area, spread over its bins):
//
//   min_s  sum_f s_f log(s_f / e_f) - s_f + e_f   subject to  A s = m       (phase 1)
//
// whose solution has the form s = e * exp(A^T lam): strictly positive where e is, with a log
// spectrum that is piecewise linear between filter centres. It keeps quiet bins quiet instead of
// clipping them to exact zeros, which measured on real recordings (benchmarks/bench_nnls.py)
// lowers both spectral convergence and log-spectral distance against the nearest-exact-solution
// choice. Phase 1 runs Newton's method on the dual, in lam (n_mels per frame):
//
//   maximise  lam . m - sum_f s_f(lam) - eps/2 |lam|^2,   gradient m - A s - eps lam,
//   Hessian  -(A diag(s) A^T + eps I)  (banded: tridiagonal for a triangular bank),
//
// from lam = 0 (s = envelope), with backtracking. The small penalty eps keeps the dual strictly
// concave where no non-negative s fits m exactly (inconsistent frames). One evaluation is a single
// pass over the bins that touches only mel-sized arrays; real spectrograms take 2-8 steps.
//
// The result is then held to the NNLS conditions. A frame passes when ||A s - m|| <= tol ||m||
// (an exact solution) or ||projected gradient|| <= tol ||A||_2 ||A s - m|| (a KKT point of an
// inconsistent problem). The rest (inconsistent frames, tight tol) go on to phase 2, a projected
// Newton method on the free set from the phase-1 result, in the envelope metric W = e + floor:
//
//   g = A^T (A s - m),  F = {s > 0} or {g < 0}
//   d = -W_F A^T (A W_F A^T + eps I)^-1 r,   s <- max(0, s + alpha d)   (Armijo on alpha)
//
// with the same banded solves, until those tests pass or max_iter steps (both phases) are spent.
//
// Every quantity is per frame (per SIMD lane): frames never mix, so a frame's result depends
// neither on its neighbours in a tile nor on the thread count. Finished frames leave the tile.
// Each frame is scaled by a power of two first, so results scale exactly with the input.

// The entropy passes call relu_keep_nan (lstsq_tile.h), exp2_approx and the vector helpers below
// with GCC vectors (Vector); all are always inlined, so no call passes one across the ABI that
// -Wpsabi warns about.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "lstsq_tile.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

namespace inverse_mel {
namespace {

// Bytes of one (bins x frames) working array: sets the tile length (8 to 64 frames).
constexpr int64_t kNnlsTileBytes = 256 * 1024;
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
// The backward solves (A_F A_F^T) x = A_F grad, whose right-hand side lies in the range
// exactly. A_F A_F^T may be singular (fewer free bins than mels), so it is factored with a
// ridge of sqrt(machine eps) (condition ~1/sqrt(eps): round-off stays ~sqrt(eps)) and the
// ridge's bias is then removed by iterative refinement against the undamped matrix, each
// step multiplying it by ridge / sigma^2.
template <typename scalar_t>
constexpr double backward_ridge() {
  return sizeof(scalar_t) == 4 ? 3e-4 : 1e-8;
}
constexpr int kBackwardRefinements = 2;
constexpr int kMaxBacktracks = 30;
// The entropy phase stops when its dual gradient is below kEntropyTolerance * tol * ||m||. 1 is
// enough (measured on the real recordings of benchmarks/bench_nnls.py: 0.1 costs half a step
// more per frame and changes no reported digit); a frame whose fit then misses tol goes on to
// the projected Newton phase.
constexpr double kEntropyTolerance = 1.0;
// Weight of the entropy phase's quadratic penalty, relative to the start's largest curvature
// diag(A diag(envelope) A^T). It keeps the dual strictly concave (so Newton converges even where
// no non-negative spectrum fits exactly) and bounds the fit's bias to ~penalty; float32 cannot
// factor a much larger condition number, and float64 gains nothing from a smaller one (the
// projected Newton phase polishes whatever a tighter tol asks for).
constexpr double kEntropyPenalty = 1e-6;
// The entropy phase's step budget (part of max_iter). Real spectrograms take 2-10 steps; a frame
// that needs more is far from any consistent mel (its penalised optimum lies at the exp's
// clamp) and is better served by the projected Newton phase.
constexpr int64_t kEntropyMaxSteps = 12;
constexpr double kArmijo = 1e-4;

// Bins [f_lo, f_hi) are the ones some filter touches; per-bin tile arrays hold only those
// rows (row f at (f - f_lo) * len), since every other bin's solution is 0.
struct BinRange {
  int64_t lo = 0, hi = 0;
  int64_t rows() const { return hi - lo; }
};

// Frames per tile: a multiple of 8 in [8, 64], so one (bins x frames) array is ~kNnlsTileBytes
// (the backward's working arrays).
template <typename scalar_t>
int64_t nnls_tile_time(int64_t n_freqs) {
  return std::clamp<int64_t>(
      (kNnlsTileBytes / (std::max<int64_t>(n_freqs, 1) * static_cast<int64_t>(sizeof(scalar_t)))) / 8 * 8, 8, 64);
}

// n rounded up to whole 64-byte vectors of scalar_t.
template <typename scalar_t>
int64_t round_up_to_vector(int64_t n) {
  constexpr int64_t lanes = 64 / static_cast<int64_t>(sizeof(scalar_t));
  return (n + lanes - 1) / lanes * lanes;
}

// Frames per tile of the forward: its entropy phase works on mel-sized arrays only, and longer
// rows amortise each bin's loop set-up (measured on the benchmark configs at batch 32 x 1000:
// 128 float32 lanes beat 32 and 64 by 15-35%, 256 gained nothing).
template <typename scalar_t>
int64_t nnls_forward_tile_time() {
  return 512 / static_cast<int64_t>(sizeof(scalar_t));
}

// Band structure of the compacted filterbank: the largest mel-index spread within one bin.
template <typename scalar_t>
int64_t gram_bandwidth(const CompactTaps<scalar_t>& taps, int64_t n_freqs) {
  int64_t bandwidth = 0;
  for (int64_t f = 0; f < n_freqs; ++f) {
    const int64_t* idx = taps.index.data() + f * taps.taps;
    for (int64_t a = 0; a < taps.count[f]; ++a) {
      for (int64_t b = 0; b < taps.count[f]; ++b) {
        bandwidth = std::max(bandwidth, idx[a] - idx[b]);
      }
    }
  }
  return bandwidth;
}

// Per-call constants of A = fb^T shared by all tiles.
template <typename scalar_t>
struct FilterbankConstants {
  int64_t bands;  // 1 + Gram half-bandwidth
  scalar_t spectral_norm;  // ||A||_2, the scale of the stationarity test
  double spectral_norm_exact;  // the same in float64

  FilterbankConstants(const CompactTaps<scalar_t>& taps, int64_t n_freqs, int64_t n_mels) {
    bands = gram_bandwidth(taps, n_freqs) + 1;
    // The Gram fb^T fb in band storage (float64): a power iteration on it gives ||A||_2^2.
    std::vector<double> gram((bands) * n_mels, 0.0);  // gram[d * n_mels + k] = G[k, k - d]
    for (int64_t f = 0; f < n_freqs; ++f) {
      const int64_t* idx = taps.index.data() + f * taps.taps;
      for (int64_t a = 0; a < taps.count[f]; ++a) {
        for (int64_t b = a; b < taps.count[f]; ++b) {
          const double ww = double(taps.weight[f * taps.taps + a]) * taps.weight[f * taps.taps + b];
          gram[std::abs(idx[a] - idx[b]) * n_mels + std::max(idx[a], idx[b])] += ww;
        }
      }
    }
    spectral_norm_exact = std::sqrt(largest_eigenvalue(gram, bands, n_mels));
    spectral_norm = static_cast<scalar_t>(spectral_norm_exact);
  }

  // Power iteration on a symmetric banded PSD matrix, from a positive start vector
  // (the Gram of a non-negative bank is non-negative, so it converges to the top pair).
  static double largest_eigenvalue(const std::vector<double>& band, int64_t bands, int64_t n) {
    std::vector<double> x(n, 1.0), y(n);
    double lambda = 0.0;
    for (int iter = 0; iter < 200 && n > 0; ++iter) {
      std::fill(y.begin(), y.end(), 0.0);
      for (int64_t d = 0; d < bands; ++d) {
        for (int64_t k = d; k < n; ++k) {
          const double v = band[d * n + k];
          y[k] += v * x[k - d];
          if (d > 0) {
            y[k - d] += v * x[k];
          }
        }
      }
      double norm = 0.0;
      for (double v : y) {
        norm += v * v;
      }
      norm = std::sqrt(norm);
      if (norm == 0.0) {
        return 0.0;
      }
      const double previous = lambda;
      double xnorm = 0.0;
      for (double v : x) {
        xnorm += v * v;
      }
      lambda = norm / std::sqrt(xnorm);
      for (int64_t k = 0; k < n; ++k) {
        x[k] = y[k] / norm;
      }
      if (std::abs(lambda - previous) <= 1e-6 * lambda) {
        break;
      }
    }
    return lambda;
  }
};

// Loops over lanes that read and write distinct rows (e.g. a bin's taps name distinct mels),
// which GCC cannot prove: without this it versions or gives up on vectorising them.
#if defined(__GNUC__) && !defined(__clang__)
#define INVERSE_MEL_IVDEP _Pragma("GCC ivdep")
#else
#define INVERSE_MEL_IVDEP
#endif

// K = A diag(weight) A^T + ridge I in band storage k_band[d][k][t] = K[k, k - d], then its
// LDL^T factorisation in place (D on band 0, L below), and solves K x = rhs in place.
// All per frame, vectorised over the tile's `len` frames.
template <typename scalar_t>
class FreeSetGram {
 public:
  FreeSetGram(const CompactTaps<scalar_t>& taps, BinRange bins, int64_t n_mels, int64_t bands, int64_t len)
      : taps_(taps), bins_(bins), n_mels_(n_mels), bands_(bands), len_(len), stride_(len),
        k_band_(bands * n_mels * len), row_(len) {}

  // K = A diag(weight) A^T per frame, plus ridge_relative[t] * max_k K[k, k] + tiny on the
  // diagonal (a per-frame scale: the weights differ between frames), then factored.
  INVERSE_MEL_MULTIVERSION void build(const scalar_t* weight, const scalar_t* ridge_relative) {
    std::fill(k_band_.begin(), k_band_.begin() + bands_ * n_mels_ * stride_, scalar_t(0));
    for (int64_t f = bins_.lo; f < bins_.hi; ++f) {
      const int64_t c = taps_.count[f];
      const int64_t* idx = taps_.index.data() + f * taps_.taps;
      const scalar_t* w = taps_.weight.data() + f * taps_.taps;
      const scalar_t* weight_f = weight + (f - bins_.lo) * stride_;
      for (int64_t a = 0; a < c; ++a) {
        for (int64_t b = a; b < c; ++b) {
          const int64_t hi = std::max(idx[a], idx[b]);
          const int64_t d = std::abs(idx[a] - idx[b]);
          // Diagonal entries collect w_a^2; a pair a != b lands once below the diagonal.
          const scalar_t ww = w[a] * w[b];
          scalar_t* dst = at(d, hi);
          for (int64_t t = 0; t < len_; ++t) {
            dst[t] += ww * weight_f[t];
          }
        }
      }
    }
    std::fill(row_.begin(), row_.begin() + len_, scalar_t(0));
    for (int64_t k = 0; k < n_mels_; ++k) {
      const scalar_t* diag = at(0, k);
      for (int64_t t = 0; t < len_; ++t) {
        row_[t] = std::max(row_[t], diag[t]);
      }
    }
    const scalar_t tiny = std::numeric_limits<scalar_t>::min() / std::numeric_limits<scalar_t>::epsilon();
    for (int64_t k = 0; k < n_mels_; ++k) {
      scalar_t* diag = at(0, k);
      for (int64_t t = 0; t < len_; ++t) {
        diag[t] += ridge_relative[t] * row_[t] + tiny;
      }
    }
    factor();
  }

  // Shrink the tile to its first `len` frames (after the caller compacted its arrays, which
  // then have rows of `len` lanes).
  void set_len(int64_t len) { len_ = stride_ = len; }
  // Work on the first `len` lanes of arrays whose rows keep `stride` lanes (the entropy phase).
  void set_lanes(int64_t len, int64_t stride) {
    len_ = len;
    stride_ = stride;
  }

  // The band storage, (bands * n_mels) rows of `stride` lanes: row d * n_mels + k holds
  // K[k, k - d]. The entropy phase accumulates K there itself, then calls factor_with_ridge_and_solve.
  std::vector<scalar_t>& band_storage() { return k_band_; }

  // Add ridge[t] to K's diagonal per lane, factor, and solve K x = rhs in place: the same
  // operations as factor_with_ridge then solve, so the same bits. A tridiagonal K (a triangular
  // bank) takes one fused sweep down the rows and one back up, instead of six.
  INVERSE_MEL_MULTIVERSION void factor_with_ridge_and_solve(const scalar_t* ridge, scalar_t* rhs) {
    if (bands_ != 2) {
      factor_with_ridge(ridge);
      solve(rhs);
      return;
    }
    const scalar_t tiny = std::numeric_limits<scalar_t>::min();
    scalar_t* __restrict__ z_previous = row_.data();  // L z = rhs, row k - 1
    for (int64_t k = 0; k < n_mels_; ++k) {
      scalar_t* __restrict__ dk = at(0, k);
      scalar_t* __restrict__ xk = rhs + k * stride_;
      if (k == 0) {
        INVERSE_MEL_IVDEP
      for (int64_t t = 0; t < len_; ++t) {
          const scalar_t d = dk[t] + ridge[t];
          dk[t] = d > tiny ? d : tiny;
          z_previous[t] = xk[t];
          xk[t] = xk[t] / dk[t];
        }
        continue;
      }
      scalar_t* __restrict__ lk = at(1, k);
      const scalar_t* __restrict__ d_previous = at(0, k - 1);
      INVERSE_MEL_IVDEP
      for (int64_t t = 0; t < len_; ++t) {
        const scalar_t l = lk[t] / d_previous[t];
        lk[t] = l;
        scalar_t d = dk[t] + ridge[t];
        d -= l * l * d_previous[t];
        d = d > tiny ? d : tiny;
        dk[t] = d;
        const scalar_t z = xk[t] - l * z_previous[t];
        z_previous[t] = z;
        xk[t] = z / d;
      }
    }
    for (int64_t k = n_mels_ - 2; k >= 0; --k) {  // L^T x = y
      scalar_t* __restrict__ xk = rhs + k * stride_;
      const scalar_t* __restrict__ l = at(1, k + 1);
      const scalar_t* __restrict__ x_next = rhs + (k + 1) * stride_;
      INVERSE_MEL_IVDEP
      for (int64_t t = 0; t < len_; ++t) {
        xk[t] -= l[t] * x_next[t];
      }
    }
  }

  // Add ridge[t] to K's diagonal per lane, then factor.
  INVERSE_MEL_MULTIVERSION void factor_with_ridge(const scalar_t* ridge) {
    for (int64_t k = 0; k < n_mels_; ++k) {
      scalar_t* diag = at(0, k);
      for (int64_t t = 0; t < len_; ++t) {
        diag[t] += ridge[t];
      }
    }
    factor();
  }

  // rhs (n_mels x len) <- K^-1 rhs.
  INVERSE_MEL_MULTIVERSION void solve(scalar_t* rhs) const {
    for (int64_t k = 0; k < n_mels_; ++k) {  // L z = rhs
      scalar_t* xk = rhs + k * stride_;
      for (int64_t d = 1; d < bands_ && d <= k; ++d) {
        const scalar_t* l = at(d, k);
        const scalar_t* xj = rhs + (k - d) * stride_;
        for (int64_t t = 0; t < len_; ++t) {
          xk[t] -= l[t] * xj[t];
        }
      }
    }
    for (int64_t k = 0; k < n_mels_; ++k) {  // D y = z
      scalar_t* xk = rhs + k * stride_;
      const scalar_t* dk = at(0, k);
      for (int64_t t = 0; t < len_; ++t) {
        xk[t] /= dk[t];
      }
    }
    for (int64_t k = n_mels_ - 1; k >= 0; --k) {  // L^T x = y
      scalar_t* xk = rhs + k * stride_;
      for (int64_t d = 1; d < bands_ && k + d < n_mels_; ++d) {
        const scalar_t* l = at(d, k + d);
        const scalar_t* xj = rhs + (k + d) * stride_;
        for (int64_t t = 0; t < len_; ++t) {
          xk[t] -= l[t] * xj[t];
        }
      }
    }
  }

 private:
  scalar_t* at(int64_t d, int64_t k) { return k_band_.data() + (d * n_mels_ + k) * stride_; }
  const scalar_t* at(int64_t d, int64_t k) const { return k_band_.data() + (d * n_mels_ + k) * stride_; }

  // Banded LDL^T: for each row k, L[k, j] = (K[k, j] - sum_i L[k, i] L[j, i] D[i]) / D[j],
  // D[k] = K[k, k] - sum_i L[k, i]^2 D[i], with i, j within the band.
  INVERSE_MEL_MULTIVERSION void factor() {
    const scalar_t tiny = std::numeric_limits<scalar_t>::min();
    for (int64_t k = 0; k < n_mels_; ++k) {
      for (int64_t dj = std::min<int64_t>(bands_ - 1, k); dj >= 1; --dj) {  // j = k - dj, left to right
        const int64_t j = k - dj;
        scalar_t* lkj = at(dj, k);
        for (int64_t t = 0; t < len_; ++t) {
          row_[t] = lkj[t];
        }
        // i runs over columns shared by rows k and j, left of j.
        for (int64_t di = dj + 1; di < bands_ && di <= k; ++di) {
          const int64_t i = k - di;
          if (j - i >= bands_) {
            continue;
          }
          const scalar_t* lki = at(di, k);
          const scalar_t* lji = at(j - i, j);
          const scalar_t* dii = at(0, i);
          for (int64_t t = 0; t < len_; ++t) {
            row_[t] -= lki[t] * lji[t] * dii[t];
          }
        }
        const scalar_t* djj = at(0, j);
        for (int64_t t = 0; t < len_; ++t) {
          lkj[t] = row_[t] / djj[t];
        }
      }
      scalar_t* dkk = at(0, k);
      for (int64_t di = 1; di < bands_ && di <= k; ++di) {
        const scalar_t* lki = at(di, k);
        const scalar_t* dii = at(0, k - di);
        for (int64_t t = 0; t < len_; ++t) {
          dkk[t] -= lki[t] * lki[t] * dii[t];
        }
      }
      for (int64_t t = 0; t < len_; ++t) {
        // K is positive definite (ridge); round-off must not make a pivot vanish.
        dkk[t] = dkk[t] > tiny ? dkk[t] : tiny;
      }
    }
  }

  const CompactTaps<scalar_t>& taps_;
  const BinRange bins_;
  const int64_t n_mels_, bands_;
  int64_t len_, stride_;
  std::vector<scalar_t> k_band_;
  std::vector<scalar_t> row_;
};

template <typename scalar_t>
BinRange touched_bins(const CompactTaps<scalar_t>& taps, int64_t n_freqs) {
  BinRange range{n_freqs, 0};
  for (int64_t f = 0; f < n_freqs; ++f) {
    if (taps.count[f] > 0) {
      range.lo = std::min(range.lo, f);
      range.hi = f + 1;
    }
  }
  if (range.hi <= range.lo) {
    range = BinRange{0, 0};
  }
  return range;
}

// out[t] = sum_j weight[j] * x[index[j] * ld + t] over a bin's taps, summed in tap order (0 for
// a bin without taps): A^T x at one bin.
template <typename scalar_t>
inline __attribute__((always_inline)) void gather_taps(
    int64_t count, const int64_t* index, const scalar_t* weight, int64_t len, int64_t ld, const scalar_t* x,
    scalar_t* __restrict__ out) {
  if (count == 0) {
    std::fill(out, out + len, scalar_t(0));
    return;
  }
  INVERSE_MEL_IVDEP
  for (int64_t t = 0; t < len; ++t) {
    out[t] = weight[0] * x[index[0] * ld + t];
  }
  for (int64_t j = 1; j < count; ++j) {
    const scalar_t* __restrict__ xj = x + index[j] * ld;
    const scalar_t wj = weight[j];
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < len; ++t) {
      out[t] += wj * xj[t];
    }
  }
}

// r = A s - m  (scatter over each bin's taps), for one tile.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void mel_residual(
    const CompactTaps<scalar_t>& taps, BinRange bins, int64_t n_mels, int64_t len,
    const scalar_t* s, const scalar_t* m, scalar_t* r) {
  for (int64_t i = 0; i < n_mels * len; ++i) {
    r[i] = -m[i];
  }
  for (int64_t f = bins.lo; f < bins.hi; ++f) {
    const scalar_t* sf = s + (f - bins.lo) * len;
    for (int64_t j = 0; j < taps.count[f]; ++j) {
      const scalar_t w = taps.weight[f * taps.taps + j];
      scalar_t* rk = r + taps.index[f * taps.taps + j] * len;
      for (int64_t t = 0; t < len; ++t) {
        rk[t] += w * sf[t];
      }
    }
  }
}

// out = A^T x  (gather over each bin's taps), for one tile.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void mel_transpose(
    const CompactTaps<scalar_t>& taps, BinRange bins, int64_t len, const scalar_t* x, scalar_t* out) {
  for (int64_t f = bins.lo; f < bins.hi; ++f) {
    gather_taps(taps.count[f], taps.index.data() + f * taps.taps, taps.weight.data() + f * taps.taps, len, len, x,
                out + (f - bins.lo) * len);
  }
}

// Elementwise passes of one solver step over a (rows x len) tile, in multiversioned
// functions so that they, like the scatter/gather above, run at the machine's vector width.

// The NNLS optimality measure and free set of a point s with gradient g, per bin:
//   bound  when g > 0 and L s <= g (a gradient step of length 1/L, L = ||A||_2^2, would clip the
//          bin to 0): its measure is L s, and a Newton step sends it to 0;
//   free   otherwise: its measure is |g|.
// pg[t] = the squared norm of these measures, the gradient mapping L (s - max(0, s - g / L)): zero
// exactly at KKT points, and, unlike the gradient on {s > 0}, not held up by a bin a hair above 0
// with a positive gradient. weight = W on the free set, 0 on the bound set.
template <typename scalar_t>
inline __attribute__((always_inline)) scalar_t is_free_bin(scalar_t s, scalar_t g, scalar_t lipschitz) {
  // Branch-free (| not ||, selects not ifs) so the loops vectorise over frames.
  return ((g <= scalar_t(0)) | (lipschitz * s > g)) ? scalar_t(1) : scalar_t(0);
}

template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void free_set_pass(
    int64_t rows, int64_t len, scalar_t lipschitz, const scalar_t* s, const scalar_t* g, const scalar_t* metric,
    scalar_t* weight, scalar_t* pg) {
  std::fill(pg, pg + len, scalar_t(0));
  for (int64_t f = 0; f < rows; ++f) {
    for (int64_t t = 0; t < len; ++t) {
      const int64_t i = f * len + t;
      const scalar_t is_free = is_free_bin(s[i], g[i], lipschitz);
      weight[i] = is_free * metric[i];
      const scalar_t p = is_free * g[i] + (scalar_t(1) - is_free) * lipschitz * s[i];
      pg[t] += p * p;
    }
  }
}

// The step: d = -d on the free set (weight > 0), d = -s (to 0) on the bound set.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void orient_step(int64_t n, const scalar_t* weight, const scalar_t* s, scalar_t* d) {
  for (int64_t i = 0; i < n; ++i) {
    d[i] = weight[i] > scalar_t(0) ? -d[i] : -s[i];
  }
}

// cand = max(0, s + alpha d); decrease[t] = g . (s - cand) per frame.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void projected_candidate(
    int64_t rows, int64_t len, const scalar_t* s, const scalar_t* d, const scalar_t* g, const scalar_t* alpha,
    scalar_t* cand, scalar_t* decrease) {
  std::fill(decrease, decrease + len, scalar_t(0));
  for (int64_t f = 0; f < rows; ++f) {
    for (int64_t t = 0; t < len; ++t) {
      const int64_t i = f * len + t;
      const scalar_t v = s[i] + alpha[t] * d[i];
      cand[i] = v > scalar_t(0) ? v : scalar_t(0);
      decrease[t] += g[i] * (s[i] - cand[i]);
    }
  }
}

// x[i] = accepted[t] ? y[i] : x[i] over the first len lanes of (rows x ld) arrays.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void select_accepted(
    int64_t rows, int64_t len, int64_t ld, const scalar_t* accepted, const scalar_t* y, scalar_t* x) {
  for (int64_t f = 0; f < rows; ++f) {
    for (int64_t t = 0; t < len; ++t) {
      x[f * ld + t] = accepted[t] != scalar_t(0) ? y[f * ld + t] : x[f * ld + t];
    }
  }
}

// out[t] = sum_k x[k, t] * y[k, t] per lane (k in order), over the first len lanes of (rows x ld) arrays.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void lane_dot(
    int64_t rows, int64_t len, int64_t ld, const scalar_t* x, const scalar_t* y, scalar_t* __restrict__ out) {
  std::fill(out, out + len, scalar_t(0));
  for (int64_t k = 0; k < rows; ++k) {
    const scalar_t* xk = x + k * ld;
    const scalar_t* yk = y + k * ld;
    for (int64_t t = 0; t < len; ++t) {
      out[t] += xk[t] * yk[t];
    }
  }
}

// The penalised dual's gradient grad = m - fit - ridge * lam, a copy in step (the Newton solve's
// right-hand side, solved in place), and norm_sq[t] = |grad|^2 per lane.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void dual_gradient(
    int64_t rows, int64_t len, int64_t ld, const scalar_t* m, const scalar_t* fit, const scalar_t* ridge,
    const scalar_t* lam, scalar_t* __restrict__ grad, scalar_t* __restrict__ step, scalar_t* __restrict__ norm_sq) {
  std::fill(norm_sq, norm_sq + len, scalar_t(0));
  for (int64_t k = 0; k < rows; ++k) {
    for (int64_t t = 0; t < len; ++t) {
      const int64_t i = k * ld + t;
      const scalar_t g = m[i] - fit[i] - ridge[t] * lam[i];
      grad[i] = g;
      step[i] = g;
      norm_sq[t] += g * g;
    }
  }
}

// A trial dual point lam_c = lam + alpha * step, and the quadratic part of the dual objective
// there, dual_c[t] = sum_k lam_c (m - ridge / 2 lam_c) (the entropy pass subtracts sum s).
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void dual_candidate(
    int64_t rows, int64_t len, int64_t ld, const scalar_t* lam, const scalar_t* alpha, const scalar_t* step,
    const scalar_t* m, const scalar_t* ridge, scalar_t* __restrict__ lam_c, scalar_t* __restrict__ dual_c) {
  std::fill(dual_c, dual_c + len, scalar_t(0));
  for (int64_t k = 0; k < rows; ++k) {
    for (int64_t t = 0; t < len; ++t) {
      const int64_t i = k * ld + t;
      const scalar_t l = lam[i] + alpha[t] * step[i];
      lam_c[i] = l;
      dual_c[t] += l * (m[i] - scalar_t(0.5) * ridge[t] * l);
    }
  }
}

// x *= y elementwise, and x = -x.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void multiply(int64_t n, const scalar_t* y, scalar_t* x) {
  for (int64_t i = 0; i < n; ++i) {
    x[i] *= y[i];
  }
}

template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void negate(int64_t n, scalar_t* x) {
  for (int64_t i = 0; i < n; ++i) {
    x[i] = -x[i];
  }
}

// ---------------------------------------------------------------------------------------------
// The entropy phase (the start of every solve; see nnls_kernel).

// 2^x, vectorisable: x = k + r (k = round(x), so |r| <= 1/2 and r is exact), 2^r by a
// polynomial, 2^k from the exponent bits. Base 2 needs no Cody-Waite reduction: the passes use
// exponent weights w log2(e) (EntropyWeights), so 2^u is e^(A^T lam). Plain IEEE operations only
// (no libm call, built without FMA contraction), so every ISA clone and lane gives the same bits.
// Relative error 2.9e-6 (float: degree-4 minimax) and 2e-16 (double: degree-12 Taylor of
// e^(r ln 2)); large arguments are clamped so that the result stays finite, and below lo it is 0.
template <typename scalar_t>
struct Exp2Constants;
template <>
struct Exp2Constants<float> {
  using bits_t = uint32_t;  // unsigned: the shift into the exponent field drops the bits above
  static constexpr float lo = -86.0f, hi = 127.0f;  // 2^lo ~ 1e-26
  // 1.5 * 2^23 + bias: adding it rounds to an integer, and the low bits then hold k + bias.
  static constexpr float shifter = 12582912.0f + 127.0f;
  static constexpr int mantissa_bits = 23, degree = 4;
  // 2^r ~ 1 + c1 r + ... + c4 r^4 on [-1/2, 1/2], minimax in relative error with p(0) = 1
  // (fitted by linear programming on 4001 points; 2.88e-6 after rounding to float, as accurate
  // as a degree-5 Taylor polynomial).
  static constexpr float coefficient(int i) {
    constexpr float c[] = {1.0f, 0x1.62e12ap-1f, 0x1.ec0382p-3f, 0x1.c9fd1ep-5f, 0x1.3a007ap-7f};
    return c[i];
  }
  template <typename value_t>
  static value_t reduced(value_t r) {
    return r;
  }
};
template <>
struct Exp2Constants<double> {
  using bits_t = uint64_t;
  static constexpr double lo = -865.0, hi = 1023.0;  // 2^lo ~ 1e-260
  static constexpr double shifter = 6755399441055744.0 + 1023.0;  // 1.5 * 2^52 + bias
  static constexpr int mantissa_bits = 52, degree = 12;
  static constexpr double coefficient(int i) {  // Taylor: 1 / i!
    double value = 1.0;
    for (int j = 2; j <= i; ++j) {
      value /= j;
    }
    return value;
  }
  template <typename value_t>
  static value_t reduced(value_t r) {  // the Taylor polynomial is in r ln 2
    return r * 0.6931471805599453;
  }
};

// sum_{j >= i}^{degree} coefficient(j) r^(j - i), in Horner form (i = 0: the polynomial for
// 2^r). value_t is scalar_t or a vector of it (see Vector).
template <typename scalar_t, int i, typename value_t>
inline __attribute__((always_inline)) value_t exp2_polynomial(value_t r) {
  using C = Exp2Constants<scalar_t>;
  constexpr scalar_t coefficient = C::coefficient(i);
  if constexpr (i == C::degree) {
    return value_t{} + coefficient;
  } else {
    return exp2_polynomial<scalar_t, i + 1>(r) * r + coefficient;
  }
}

// The same operations on a scalar or on a vector of lanes, so both give the same bits per lane.
template <typename scalar_t, typename value_t = scalar_t, typename bits_t = typename Exp2Constants<scalar_t>::bits_t>
inline __attribute__((always_inline)) value_t exp2_approx(value_t x) {
  using C = Exp2Constants<scalar_t>;
  const value_t lo = value_t{} + C::lo, hi = value_t{} + C::hi, shifter = value_t{} + C::shifter;
  value_t v = x < lo ? lo : x;
  v = v > hi ? hi : v;
  const value_t shifted = v + shifter;  // k + shifter, k = round(v)
  const value_t r = v - (shifted - shifter);
  const value_t p = exp2_polynomial<scalar_t, 0>(C::reduced(r));
  // The low mantissa bits of `shifted` hold k + bias (in [1, 2 bias] after the clamps); shifted
  // into the exponent field (the bits above drop out) they make 2^k.
  const bits_t two_to_k = __builtin_bit_cast(bits_t, shifted) << C::mantissa_bits;
  const value_t result = p * __builtin_bit_cast(value_t, two_to_k);
  // Below lo the result is flushed to 0: a bin suppressed that far is zero for every purpose,
  // and subnormal spectra would slow every later pass (and underflow when scaled back).
  return x < lo ? value_t{} : result;
}

// kBytes-byte vectors of scalar_t and of the same-width unsigned integer (GCC/Clang vector
// extensions). The entropy passes keep a run of bins' sums in them, i.e. in registers. kBytes
// matches the ISA the pass is compiled for (see run_widest): a wider generic vector would be
// split, spilled and partly scalarised (measured under AVX2: 4x slower with 64-byte vectors than with 32).
template <typename scalar_t>
struct UnsignedOf;
template <>
struct UnsignedOf<float> {
  using type = uint32_t;
};
template <>
struct UnsignedOf<double> {
  using type = uint64_t;
};
template <typename scalar_t, int kBytes>
struct Vector {
  typedef scalar_t type __attribute__((vector_size(kBytes)));
  typedef typename UnsignedOf<scalar_t>::type bits __attribute__((vector_size(kBytes)));
  static constexpr int64_t lanes = kBytes / static_cast<int64_t>(sizeof(scalar_t));
};

template <int kBytes, typename scalar_t>
inline __attribute__((always_inline)) typename Vector<scalar_t, kBytes>::type load_vector(const scalar_t* p) {
  typename Vector<scalar_t, kBytes>::type v;
  __builtin_memcpy(&v, p, sizeof(v));  // rows are not aligned to whole vectors
  return v;
}

template <int kBytes, typename scalar_t>
inline __attribute__((always_inline)) void store_vector(scalar_t* p, typename Vector<scalar_t, kBytes>::type v) {
  __builtin_memcpy(p, &v, sizeof(v));
}

// Calls Kernel::template run<kBytes>(args...) compiled for the widest vector ISA the CPU has:
// AVX-512 (64-byte vectors), AVX2 (32) or the baseline (16; SSE2 on x86-64, NEON on arm64).
// Kernel::run is always inlined into the targeted caller, so all of it gets that ISA. Lanes
// compute the same IEEE operations at any width, so all three give the same bits.
#if INVERSE_MEL_HAS_ISA_CLONES
template <typename Kernel, typename... Args>
__attribute__((target("avx512f"))) void run_avx512(Args&&... args) {
  Kernel::template run<64>(std::forward<Args>(args)...);
}
template <typename Kernel, typename... Args>
__attribute__((target("avx2"))) void run_avx2(Args&&... args) {
  Kernel::template run<32>(std::forward<Args>(args)...);
}
#endif
template <typename Kernel, typename... Args>
void run_baseline(Args&&... args) {
  Kernel::template run<16>(std::forward<Args>(args)...);
}
// The environment variable INVERSE_MEL_VECTOR_ISA=avx2 or =baseline caps the choice (read once):
// the tests run every width on one machine and compare the bits.
inline int vector_isa_level() {
#if INVERSE_MEL_HAS_ISA_CLONES
  const int detected = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
#else
  const int detected = 0;
#endif
  const char* cap = std::getenv("INVERSE_MEL_VECTOR_ISA");
  if (cap != nullptr && std::strcmp(cap, "baseline") == 0) {
    return 0;
  }
  if (cap != nullptr && std::strcmp(cap, "avx2") == 0) {
    return std::min(detected, 1);
  }
  if (cap != nullptr && cap[0] != '\0') {
    TORCH_WARN("INVERSE_MEL_VECTOR_ISA=", cap, " is not recognised (use avx2 or baseline, or unset it); "
               "using the CPU's widest vectors");
  }
  return detected;
}

template <typename Kernel, typename... Args>
void run_widest(Args&&... args) {
#if INVERSE_MEL_HAS_ISA_CLONES
  static const int isa = vector_isa_level();
  if (isa == 2) {
    return run_avx512<Kernel>(std::forward<Args>(args)...);
  }
  if (isa == 1) {
    return run_avx2<Kernel>(std::forward<Args>(args)...);
  }
#endif
  run_baseline<Kernel>(std::forward<Args>(args)...);
}

// What the entropy passes read of the filterbank, beside its taps (arrays shaped like
// CompactTaps' weights, tap j of bin f at f * taps + j):
//   envelope  w_fj / area[k_j] / sum_j w_fj: the mel envelope env = sum_j envelope_j m[k_j];
//   exponent  w_fj log2(e): u = sum_j exponent_j lam[k_j] is A^T lam in base 2, s = env 2^u;
//   products  w_f0^2, w_f0 w_f1, w_f1^2 per bin (of a 1- or 2-tap bin), K's increments;
//   runs      the bins in order, as runs of 1- or 2-tap bins that name the same mel bands (a
//             triangular bank is all such runs) and single bins of any other count.
template <typename scalar_t>
struct EntropyWeights {
  struct Run {
    int64_t begin, end, count;
  };
  EntropyWeights(const CompactTaps<scalar_t>& taps, const std::vector<double>& envelope64, BinRange bins)
      : envelope(envelope64.size()), exponent(taps.weight.size()), products(3 * taps.count.size(), scalar_t(0)) {
    for (size_t i = 0; i < envelope64.size(); ++i) {
      envelope[i] = static_cast<scalar_t>(envelope64[i]);
      exponent[i] = static_cast<scalar_t>(static_cast<double>(taps.weight[i]) * 1.4426950408889634);
    }
    for (int64_t f = bins.lo; f < bins.hi;) {
      const int64_t count = taps.count[f];
      int64_t end = f + 1;
      if (count == 1 || count == 2) {
        const int64_t* index = taps.index.data() + f * taps.taps;
        while (end < bins.hi && taps.count[end] == count &&
               std::equal(index, index + count, taps.index.data() + end * taps.taps)) {
          ++end;
        }
        for (int64_t g = f; g < end; ++g) {
          const scalar_t* wg = taps.weight.data() + g * taps.taps;
          products[3 * g] = wg[0] * wg[0];
          if (count == 2) {
            products[3 * g + 1] = wg[0] * wg[1];
            products[3 * g + 2] = wg[1] * wg[1];
          }
        }
      }
      runs.push_back({f, end, count});
      f = end;
    }
  }
  std::vector<scalar_t> envelope, exponent, products;
  std::vector<Run> runs;
};

// A bin's taps, for the per-bin loops of the entropy phase: mel rows and weights.
template <typename scalar_t>
struct BinTaps {
  BinTaps(const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t f)
      : count(taps.count[f]), index(taps.index.data() + f * taps.taps), weight(taps.weight.data() + f * taps.taps),
        envelope(weights.envelope.data() + f * taps.taps), exponent(weights.exponent.data() + f * taps.taps) {}
  int64_t count;
  const int64_t* index;
  const scalar_t* weight;  // filter weights w_j
  const scalar_t* envelope;  // see EntropyWeights
  const scalar_t* exponent;
};

// The entropy solution of one bin over `len` lanes, s = max(0, env) * 2^u with
// env = sum_j envelope_j m[k_j] and u = sum_j exponent_j lam[k_j] (A^T lam at the bin, base 2),
// into s. One- and two-tap bins get one fused loop; others go through the scratch rows e and u.
// entropy_run and entropy_write_run compute the same expression per lane, so all passes agree
// bit for bit.
template <typename scalar_t>
inline __attribute__((always_inline)) void entropy_values(
    const BinTaps<scalar_t>& bin, int64_t len, int64_t ld, const scalar_t* m, const scalar_t* lam, scalar_t* __restrict__ s,
    scalar_t* __restrict__ e, scalar_t* __restrict__ u, bool lam_is_zero) {
  if (lam_is_zero) {  // the start, s = max(0, envelope): no exp needed
    gather_taps(bin.count, bin.index, bin.envelope, len, ld, m, e);
    for (int64_t t = 0; t < len; ++t) {
      s[t] = relu_keep_nan(e[t]);
    }
  } else if (bin.count == 1) {
    const scalar_t* __restrict__ m0 = m + bin.index[0] * ld;
    const scalar_t* __restrict__ l0 = lam + bin.index[0] * ld;
    const scalar_t c0 = bin.envelope[0], x0 = bin.exponent[0];
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < len; ++t) {
      s[t] = relu_keep_nan(c0 * m0[t]) * exp2_approx<scalar_t>(x0 * l0[t]);
    }
  } else if (bin.count == 2) {
    const scalar_t* __restrict__ m0 = m + bin.index[0] * ld;
    const scalar_t* __restrict__ m1 = m + bin.index[1] * ld;
    const scalar_t* __restrict__ l0 = lam + bin.index[0] * ld;
    const scalar_t* __restrict__ l1 = lam + bin.index[1] * ld;
    const scalar_t c0 = bin.envelope[0], c1 = bin.envelope[1], x0 = bin.exponent[0], x1 = bin.exponent[1];
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < len; ++t) {
      s[t] = relu_keep_nan(c0 * m0[t] + c1 * m1[t]) * exp2_approx<scalar_t>(x0 * l0[t] + x1 * l1[t]);
    }
  } else {
    gather_taps(bin.count, bin.index, bin.envelope, len, ld, m, e);
    gather_taps(bin.count, bin.index, bin.exponent, len, ld, lam, u);
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < len; ++t) {
      s[t] = relu_keep_nan(e[t]) * exp2_approx<scalar_t>(u[t]);
    }
  }
}

// s at one bin of a run, for a vector of lanes: max(0, env) * 2^u with env and u from the run's
// kTaps mel rows (m0, m1 and lam0, lam1, loaded once per run), c and x the bin's envelope and
// exponent weights. The same operations as entropy_values', so the same bits per lane.
template <typename scalar_t, int kTaps, bool kLamIsZero, typename V>
inline __attribute__((always_inline)) V run_bin_value(const scalar_t* c, const scalar_t* x, V m0, V m1, V l0, V l1) {
  using B = typename Vector<scalar_t, sizeof(V)>::bits;
  V envelope = c[0] * m0;
  if constexpr (kTaps == 2) {
    envelope = envelope + c[1] * m1;
  }
  envelope = relu_keep_nan(envelope);
  if constexpr (kLamIsZero) {
    return envelope;
  } else {
    V u = x[0] * l0;
    if constexpr (kTaps == 2) {
      u = u + x[1] * l1;
    }
    return envelope * exp2_approx<scalar_t, V, B>(u);
  }
}

// The entropy pass over one run of bins [f_begin, f_end) whose kTaps (1 or 2) taps name the same
// mel bands k0, k1: per vector of lanes, the run's sums stay in registers and reach memory once.
// The bins still add in order, so every sum rounds exactly as a bin-by-bin loop's would, and s
// is the same expression as entropy_values'.
template <int kBytes, typename scalar_t, int kTaps, bool kLamIsZero>
inline __attribute__((always_inline)) void entropy_run(
    const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t f_begin, int64_t f_end,
    int64_t n_mels, int64_t len, int64_t ld, const scalar_t* m, const scalar_t* lam, scalar_t* fit, scalar_t* k_band,
    scalar_t* total) {
  using V = typename Vector<scalar_t, kBytes>::type;
  constexpr int64_t lanes = Vector<scalar_t, kBytes>::lanes;
  const int64_t k0 = taps.index[f_begin * taps.taps];
  const int64_t k1 = kTaps == 2 ? taps.index[f_begin * taps.taps + 1] : k0;
  scalar_t* fit0 = fit + k0 * ld;
  scalar_t* fit1 = fit + k1 * ld;
  scalar_t* k00 = k_band + k0 * ld;  // band storage: K[max, max - d] in row d * n_mels + max
  scalar_t* k11 = k_band + k1 * ld;
  scalar_t* k01 = k_band + (std::abs(k0 - k1) * n_mels + std::max(k0, k1)) * ld;
  const V zero{};
  for (int64_t t = 0; t < len; t += lanes) {  // len is a whole number of vectors
    const V m0 = load_vector<kBytes>(m + k0 * ld + t);
    const V m1 = kTaps == 2 ? load_vector<kBytes>(m + k1 * ld + t) : zero;
    const V l0 = kLamIsZero ? zero : load_vector<kBytes>(lam + k0 * ld + t);
    const V l1 = kTaps == 2 && !kLamIsZero ? load_vector<kBytes>(lam + k1 * ld + t) : zero;
    V sum = load_vector<kBytes>(total + t), sum0 = load_vector<kBytes>(fit0 + t), sum00 = load_vector<kBytes>(k00 + t);
    V sum1 = zero, sum01 = zero, sum11 = zero;
    if constexpr (kTaps == 2) {
      sum1 = load_vector<kBytes>(fit1 + t);
      sum01 = load_vector<kBytes>(k01 + t);
      sum11 = load_vector<kBytes>(k11 + t);
    }
    for (int64_t f = f_begin; f < f_end; ++f) {
      const scalar_t* w = taps.weight.data() + f * taps.taps;
      const scalar_t* c = weights.envelope.data() + f * taps.taps;
      const scalar_t* x = weights.exponent.data() + f * taps.taps;
      const scalar_t* ww = weights.products.data() + 3 * f;
      const V v = run_bin_value<scalar_t, kTaps, kLamIsZero>(c, x, m0, m1, l0, l1);
      sum += v;
      sum0 += w[0] * v;
      if constexpr (kTaps == 1) {
        sum00 += ww[0] * v;
      } else {
        sum1 += w[1] * v;
        sum00 += ww[0] * v;
        sum01 += ww[1] * v;
        sum11 += ww[2] * v;
      }
    }
    store_vector<kBytes>(total + t, sum);
    store_vector<kBytes>(fit0 + t, sum0);
    store_vector<kBytes>(k00 + t, sum00);
    if constexpr (kTaps == 2) {
      store_vector<kBytes>(fit1 + t, sum1);
      store_vector<kBytes>(k01 + t, sum01);
      store_vector<kBytes>(k11 + t, sum11);
    }
  }
}

// One evaluation of the entropy dual at lam, per lane, in a single pass over the bins:
//   fit = A s,  k_band = A diag(s) A^T (band storage),  total = sum_f s_f,  s = s(lam).
// Everything it reads or writes is mel-sized (n_mels x len), so a tile's working set stays in
// cache however many bins there are. len is a whole number of 64-byte vectors. Called through
// run_widest (kBytes: the vector width of the ISA it was compiled for).
// kLamIsZero: the start, lam = 0, where s is the envelope itself (no exponential).
template <bool kLamIsZero>
struct EntropyPass {
  template <int kBytes, typename scalar_t>
  static inline __attribute__((always_inline)) void run(
      const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t n_mels, int64_t len,
      int64_t ld, const scalar_t* m, const scalar_t* lam, scalar_t* fit, scalar_t* k_band, int64_t bands,
      scalar_t* total, scalar_t* scratch);
};

template <bool kLamIsZero>
template <int kBytes, typename scalar_t>
inline __attribute__((always_inline)) void EntropyPass<kLamIsZero>::run(
    const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t n_mels, int64_t len,
    int64_t ld, const scalar_t* m, const scalar_t* lam, scalar_t* fit, scalar_t* k_band, int64_t bands,
    scalar_t* total, scalar_t* scratch) {
  for (int64_t row = 0; row < n_mels; ++row) {
    std::fill(fit + row * ld, fit + row * ld + len, scalar_t(0));
  }
  for (int64_t row = 0; row < bands * n_mels; ++row) {
    std::fill(k_band + row * ld, k_band + row * ld + len, scalar_t(0));
  }
  std::fill(total, total + len, scalar_t(0));
  auto band_row = [&](int64_t a, int64_t b) {  // K[max, max - d]: a pair a != b lands once below the diagonal
    return k_band + (std::abs(a - b) * n_mels + std::max(a, b)) * ld;
  };
  scalar_t* __restrict__ sum = total;
  scalar_t* __restrict__ s_row = scratch;
  for (const auto& run : weights.runs) {
    if (run.count == 2) {  // with 1-tap runs, all of a triangular bank
      entropy_run<kBytes, scalar_t, 2, kLamIsZero>(taps, weights, run.begin, run.end, n_mels, len, ld, m, lam, fit,
                                                   k_band, total);
      continue;
    }
    if (run.count == 1) {
      entropy_run<kBytes, scalar_t, 1, kLamIsZero>(taps, weights, run.begin, run.end, n_mels, len, ld, m, lam, fit,
                                                   k_band, total);
      continue;
    }
    if (run.count == 0) {
      continue;
    }
    // Any other bin (a dense or custom bank): s into a row, then each tap's sums.
    const BinTaps<scalar_t> bin(taps, weights, run.begin);
    entropy_values(bin, len, ld, m, lam, s_row, scratch + len, scratch + 2 * len, kLamIsZero);
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < len; ++t) {
      sum[t] += s_row[t];
    }
    for (int64_t a = 0; a < bin.count; ++a) {
      scalar_t* __restrict__ fk = fit + bin.index[a] * ld;
      const scalar_t wa = bin.weight[a];
      INVERSE_MEL_IVDEP
      for (int64_t t = 0; t < len; ++t) {
        fk[t] += wa * s_row[t];
      }
      for (int64_t b = a; b < bin.count; ++b) {
        const scalar_t ww = wa * bin.weight[b];
        scalar_t* __restrict__ dst = band_row(bin.index[a], bin.index[b]);
        INVERSE_MEL_IVDEP
        for (int64_t t = 0; t < len; ++t) {
          dst[t] += ww * s_row[t];
        }
      }
    }
  }
}

// EntropyWrite over one run of bins [f_begin, f_end) sharing their kTaps mel bands (as in
// entropy_run), for the lanes [0, len), len a whole number of vectors: per vector of lanes the
// bands' rows of m, lam and residual are loaded once and pg stays in a register. Same operations
// as EntropyWrite's per-bin loop, so the same bits.
template <int kBytes, typename scalar_t, int kTaps>
inline __attribute__((always_inline)) void entropy_write_run(
    const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t f_begin, int64_t f_end,
    int64_t len, int64_t ld, const scalar_t* m, const scalar_t* lam, const scalar_t* residual, const scalar_t* unscale,
    scalar_t* out, int64_t out_stride, scalar_t lipschitz, scalar_t* pg) {
  using V = typename Vector<scalar_t, kBytes>::type;
  constexpr int64_t lanes = Vector<scalar_t, kBytes>::lanes;
  const int64_t k0 = taps.index[f_begin * taps.taps];
  const int64_t k1 = kTaps == 2 ? taps.index[f_begin * taps.taps + 1] : k0;
  const V zero{};
  for (int64_t t = 0; t < len; t += lanes) {
    const V m0 = load_vector<kBytes>(m + k0 * ld + t), l0 = load_vector<kBytes>(lam + k0 * ld + t);
    const V r0 = load_vector<kBytes>(residual + k0 * ld + t);
    const V m1 = kTaps == 2 ? load_vector<kBytes>(m + k1 * ld + t) : zero;
    const V l1 = kTaps == 2 ? load_vector<kBytes>(lam + k1 * ld + t) : zero;
    const V r1 = kTaps == 2 ? load_vector<kBytes>(residual + k1 * ld + t) : zero;
    const V unscale_t = load_vector<kBytes>(unscale + t);
    V pg_sum = load_vector<kBytes>(pg + t);
    for (int64_t f = f_begin; f < f_end; ++f) {
      const scalar_t* w = taps.weight.data() + f * taps.taps;
      const scalar_t* c = weights.envelope.data() + f * taps.taps;
      const scalar_t* x = weights.exponent.data() + f * taps.taps;
      const V v = run_bin_value<scalar_t, kTaps, false>(c, x, m0, m1, l0, l1);
      V g = w[0] * r0;  // A^T residual at the bin, as gather_taps sums it
      if constexpr (kTaps == 2) {
        g = g + w[1] * r1;
      }
      store_vector<kBytes>(out + f * out_stride + t, v * unscale_t);
      const V bound_measure = lipschitz * v;
      const V p = g < bound_measure ? g : bound_measure;  // see EntropyWrite
      pg_sum += p * p;
    }
    store_vector<kBytes>(pg + t, pg_sum);
  }
}

// The entropy solution at lam for every bin of the tile, written (times unscale, a power of
// two) to out (row f at out + f * out_stride), with the NNLS stationarity measure of the
// result: pg[t] = the squared gradient mapping (see free_set_pass), gradient = A^T residual,
// residual = A s - m. Runs of 1- and 2-tap bins go through entropy_write_run for whole vectors
// of lanes; the rest of the lanes, and any other bin, through the per-bin loop here. Called
// through run_widest.
struct EntropyWrite {
  template <int kBytes, typename scalar_t>
  static inline __attribute__((always_inline)) void run(
      const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t len, int64_t ld,
      const scalar_t* m, const scalar_t* lam, const scalar_t* residual, const scalar_t* unscale, scalar_t* out,
      int64_t out_stride, scalar_t lipschitz, scalar_t* pg, scalar_t* scratch);
};

template <int kBytes, typename scalar_t>
inline __attribute__((always_inline)) void EntropyWrite::run(
    const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t len, int64_t ld,
    const scalar_t* m, const scalar_t* lam, const scalar_t* residual, const scalar_t* unscale, scalar_t* out,
    int64_t out_stride, scalar_t lipschitz, scalar_t* pg, scalar_t* scratch) {
  constexpr int64_t lanes = Vector<scalar_t, kBytes>::lanes;
  const int64_t vector_len = len / lanes * lanes;
  std::fill(pg, pg + len, scalar_t(0));
  // Lanes [t0, len) of bin f.
  auto write_bin = [&](int64_t f, int64_t t0) {
    const int64_t n = len - t0;
    const BinTaps<scalar_t> bin(taps, weights, f);
    scalar_t* __restrict__ dst = out + f * out_stride + t0;
    if (bin.count == 0) {
      std::fill(dst, dst + n, scalar_t(0));
      return;
    }
    scalar_t* __restrict__ s_row = scratch;
    scalar_t* __restrict__ gradient = scratch + 3 * n;
    scalar_t* __restrict__ pg_sum = pg + t0;
    const scalar_t* unscale_t = unscale + t0;
    gather_taps(bin.count, bin.index, bin.weight, n, ld, residual + t0, gradient);
    entropy_values(bin, n, ld, m + t0, lam + t0, s_row, scratch + n, scratch + 2 * n, false);
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < n; ++t) {
      const scalar_t s = s_row[t], g = gradient[t];
      dst[t] = s * unscale_t[t];
      // The bin's measure (see free_set_pass): g when free, L s when bound; as s >= 0 that is
      // min(g, L s) in every case.
      const scalar_t bound_measure = lipschitz * s;
      const scalar_t p = g < bound_measure ? g : bound_measure;
      pg_sum[t] += p * p;
    }
  };
  for (const auto& run : weights.runs) {
    if (run.count != 1 && run.count != 2) {
      write_bin(run.begin, 0);
      continue;
    }
    if (vector_len > 0) {
      run.count == 2 ? entropy_write_run<kBytes, scalar_t, 2>(taps, weights, run.begin, run.end, vector_len, ld, m, lam,
                                                     residual, unscale, out, out_stride, lipschitz, pg)
                     : entropy_write_run<kBytes, scalar_t, 1>(taps, weights, run.begin, run.end, vector_len, ld, m, lam,
                                                     residual, unscale, out, out_stride, lipschitz, pg);
    }
    if (vector_len < len) {
      for (int64_t f = run.begin; f < run.end; ++f) {
        write_bin(f, vector_len);
      }
    }
  }
}

// The NNLS stopping tests of one frame (scale-invariant): an exact fit, ||r|| <= tol ||m||, or a
// KKT point of an inconsistent problem, ||gradient mapping|| <= tol ||A||_2 ||r||.
template <typename real_t>
bool passes_nnls_tests(real_t objective, real_t mapping_squared, real_t mel_norm, real_t tol, real_t spectral_norm) {
  const real_t res_norm = std::sqrt(objective);
  return res_norm <= tol * mel_norm || std::sqrt(mapping_squared) <= tol * spectral_norm * res_norm;
}

// ||r|| / ||m|| (||r|| for an all-zero frame): the reported residual.
template <typename real_t>
real_t relative_residual(real_t objective, real_t mel_norm) {
  const real_t res_norm = std::sqrt(objective);
  return mel_norm > real_t(0) ? res_norm / mel_norm : res_norm;
}

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
        spectral_norm_(spectral_norm), gram_(taps, bins, n_mels, bands, cap),
        s_(rows_ * cap), g_(rows_ * cap), metric_(rows_ * cap), weight_(rows_ * cap), d_(rows_ * cap),
        cand_(rows_ * cap), m_(n_mels * cap), r_(n_mels * cap), rc_(n_mels * cap), lam_(n_mels * cap), obj_(cap),
        obj_c_(cap), mel_norm_(cap), alpha_(cap), decrease_(cap), accepted_(cap), pg_(cap), damping_(cap),
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
    const real_t round_off_margin = real_t(16) * std::numeric_limits<real_t>::epsilon();
    // Residual, norms and the metric W = envelope + 1e-6 max(envelope).
    mel_residual(taps_, bins_, n_mels_, len, s_.data(), m_.data(), r_.data());
    lane_dot(n_mels_, len, len, r_.data(), r_.data(), obj_.data());
    lane_dot(n_mels_, len, len, m_.data(), m_.data(), mel_norm_.data());
    std::fill(alpha_.begin(), alpha_.begin() + len, real_t(0));  // the envelope's max, for the floor
    for (int64_t f = 0; f < rows_; ++f) {
      real_t* envelope = metric_.data() + f * len;
      const int64_t first = (bins_.lo + f) * taps_.taps;
      gather_taps(taps_.count[bins_.lo + f], taps_.index.data() + first, envelope_weight_ + first, len, len, m_.data(),
                  envelope);
      for (int64_t t = 0; t < len; ++t) {
        envelope[t] = relu_keep_nan(envelope[t]);
        alpha_[t] = std::max(alpha_[t], envelope[t]);
      }
    }
    for (int64_t f = 0; f < rows_; ++f) {
      for (int64_t t = 0; t < len; ++t) {
        metric_[f * len + t] += real_t(1e-6) * alpha_[t];
      }
    }
    for (int64_t t = 0; t < len; ++t) {
      mel_norm_[t] = std::sqrt(mel_norm_[t]);
      active_[t] = 1;
      id_[t] = t;
      damping_[t] = real_t(kSolverDamping);
      damping_floor_[t] = real_t(kSolverDampingFloor);
    }
    gram_.set_len(len);

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
      gram_.set_len(len);
    };
    keep_.resize(len);

    while (len > 0) {
      // Gradient, free set and optimality measure; then the per-frame stopping test.
      mel_transpose(taps_, bins_, len, r_.data(), g_.data());
      free_set_pass(rows_, len, lipschitz, s_.data(), g_.data(), metric_.data(), weight_.data(), pg_.data());
      for (int64_t t = 0; t < len; ++t) {
        if (passes_nnls_tests(obj_[t], pg_[t], mel_norm_[t], tol, spectral_norm_)) {
          done(t, true);
        } else if (iters_[t] >= max_iter || !std::isfinite(obj_[t])) {
          done(t, false);
        }
      }
      compact();
      if (len == 0) {
        break;
      }
      // Newton step on the free set in the metric W, with the damping's bias on
      // small-but-nonzero directions cut by iterative refinement (each step multiplies it by
      // eps / sigma^2; a truly null direction only grows linearly).
      gram_.build(weight_.data(), damping_.data());
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
          // obj is ||r||^2 = 2 f, and g . (s - cand) the first-order decrease of f. Near the
          // optimum that decrease drops below the round-off of obj itself, and Armijo would reject
          // the (quadratically converging) full Newton step at random: a full step that raises obj
          // by no more than round-off is taken too. That round-off comes from r = A s - m, whose
          // entries carry ~eps |m| each when |r| << |m| (an inconsistent frame near its optimum):
          // ~4 eps ||r|| ||m|| in obj, not eps * obj (found by gradcheck: a perturbed
          // overdetermined frame stalled 5e-11 from the optimum).
          const bool armijo = obj_c_[t] <= obj_[t] - real_t(2 * kArmijo) * decrease_[t];
          const bool full_step_at_round_off =
              trial == 0 && obj_c_[t] <= obj_[t] + round_off_margin * std::sqrt(obj_[t]) * mel_norm_[t];
          if (armijo || full_step_at_round_off) {
            pending_[t] = 0;
          } else {
            alpha_[t] *= real_t(0.5);
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
        if (pending_[t] && damping_[t] < real_t(kSolverDamping)) {
          // With less damping the step is noisier (round-off along the weak directions) and
          // this one found no decrease: back to the full damping, and never again below 100x
          // this level for this frame. The frame carries on.
          damping_floor_[t] = std::min(damping_[t] * real_t(100), real_t(kSolverDamping));
          damping_[t] = real_t(kSolverDamping);
          ++iters_[t];  // a step's work, and max_iter bounds these too
        } else if (pending_[t]) {
          done(t, false);
        } else {
          // Levenberg-Marquardt on the damping. A full step's decrease of f = obj / 2 is between
          // 1/2 (a Newton step) and 1 (a short gradient-like step) of its first-order decrease
          // g . (s - cand): near 1, the damping holds the step back (the residual lies along
          // directions with sigma^2 below it: an ill-conditioned bank), so the frame's damping
          // drops 100x, down to its floor. A step that had to backtrack raises it 10x, up to
          // kSolverDamping. Decreases near round-off (a tight tol) say nothing and change nothing.
          // Frames that converge quadratically keep kSolverDamping throughout.
          const real_t reduction = obj_[t] - obj_c_[t];
          if (alpha_[t] == real_t(1)) {
            if (reduction > real_t(1.8) * decrease_[t] &&
                reduction > real_t(64) * round_off_margin * std::sqrt(obj_[t]) * mel_norm_[t]) {
              damping_[t] = std::max(damping_[t] * real_t(0.01), damping_floor_[t]);
            }
          } else {
            damping_[t] = std::min(damping_[t] * real_t(10), real_t(kSolverDamping));
          }
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
  FreeSetGram<real_t> gram_;
  std::vector<real_t> s_, g_, metric_, weight_, d_, cand_, m_, r_, rc_, lam_, obj_, obj_c_, mel_norm_, alpha_,
      decrease_, accepted_, pg_, damping_, damping_floor_;
  std::vector<char> pending_, active_;
  std::vector<int32_t> iters_;
  std::vector<int64_t> id_, keep_;
};

template <typename scalar_t>
void nnls_kernel(
    const at::Tensor& melspec3,  // (batch, n_mels, time), any strides
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::vector<int64_t>& fill_from,  // (n_freqs,) or empty: bin f copies bin fill_from[f] >= 0
    int64_t max_iter,
    double tol,
    at::Tensor& out,  // (batch, n_freqs, time), contiguous
    at::Tensor& iterations,  // (batch, time), int32
    at::Tensor& residual,  // (batch, time)
    at::Tensor& converged) {  // (batch, time), bool
  const int64_t batch = melspec3.size(0);
  const int64_t n_mels = melspec3.size(1);
  const int64_t time = melspec3.size(2);
  const int64_t n_freqs = out.size(1);
  const CompactTaps<scalar_t> taps(tap_index, tap_weight, n_mels, "nnls");
  const FilterbankConstants<scalar_t> consts(taps, n_freqs, n_mels);
  const BinRange bins = touched_bins(taps, n_freqs);
  const int64_t rows = bins.rows();
  const int64_t bands = consts.bands;

  // The mel envelope spreads each band's energy density over its bins:
  // env[f] = sum_j w_fj m[k_j] / area[k_j] / sum_j w_fj, area[k] = sum_f w_fk;
  // envelope_weight64 holds w_fj / area[k_j] / sum_j w_fj per tap (EntropyWeights' envelope in float64).
  std::vector<double> envelope_weight64(taps.weight.size(), 0.0);
  // Phase 2 runs in float64 (see ProjectedNewton): the filterbank in float64, same taps.
  const CompactTaps<double> taps64(tap_index, tap_weight.to(at::kDouble), n_mels, "nnls");
  {
    std::vector<double> area(n_mels, 0.0);
    for (int64_t f = 0; f < n_freqs; ++f) {
      for (int64_t j = 0; j < taps.count[f]; ++j) {
        area[taps.index[f * taps.taps + j]] += taps.weight[f * taps.taps + j];
      }
    }
    for (int64_t f = 0; f < n_freqs; ++f) {
      double row = 0.0;
      for (int64_t j = 0; j < taps.count[f]; ++j) {
        row += taps.weight[f * taps.taps + j];
      }
      for (int64_t j = 0; j < taps.count[f]; ++j) {
        const int64_t k = taps.index[f * taps.taps + j];
        envelope_weight64[f * taps.taps + j] = taps64.weight[f * taps.taps + j] / area[k] / row;
      }
    }
  }
  const EntropyWeights<scalar_t> weights(taps, envelope_weight64, bins);

  const int64_t tile_time = nnls_forward_tile_time<scalar_t>();
  const int64_t tiles_per_item = (time + tile_time - 1) / tile_time;
  scalar_t* out_ptr = out.data_ptr<scalar_t>();
  int32_t* iter_ptr = iterations.data_ptr<int32_t>();
  scalar_t* res_ptr = residual.data_ptr<scalar_t>();
  bool* conv_ptr = converged.data_ptr<bool>();
  const scalar_t* mel_ptr = melspec3.data_ptr<scalar_t>();
  const int64_t mel_stride_b = melspec3.stride(0);
  const int64_t mel_stride_k = melspec3.stride(1);
  const int64_t mel_stride_t = melspec3.stride(2);
  const scalar_t tol_s = static_cast<scalar_t>(tol);
  const scalar_t lipschitz = consts.spectral_norm * consts.spectral_norm;  // of the gradient A^T (A s - m)
  const scalar_t entropy_tol = static_cast<scalar_t>(kEntropyTolerance * tol);
  const int64_t entropy_max_steps = std::min<int64_t>(max_iter, kEntropyMaxSteps);
  const scalar_t round_off_margin = scalar_t(16) * std::numeric_limits<scalar_t>::epsilon();

  at::parallel_for(0, batch * tiles_per_item, 1, [&](int64_t tile_begin, int64_t tile_end) {
    // Rows are padded to whole 64-byte vectors: the passes then run over whole vectors (no scalar
    // tail loop with its scalar exp), the padding lanes computing harmless values of their own.
    const int64_t cap = round_up_to_vector<scalar_t>(std::min(tile_time, time));
    // Entropy phase: rows of ld lanes (see the tile loop), the first `len` of them still iterating.
    std::vector<scalar_t> m(n_mels * cap), lam(n_mels * cap), lam_c(n_mels * cap), fit(n_mels * cap),
        fit_c(n_mels * cap), grad(n_mels * cap), step(n_mels * cap), k_cand(bands * n_mels * cap),
        scratch(4 * cap);
    std::vector<scalar_t> ridge(cap), dual(cap), dual_c(cap), total(cap), total_c(cap), mel_norm(cap), alpha(cap),
        slope(cap), pg(cap), obj(cap), accepted(cap);
    std::vector<char> active(cap), pending(cap);
    std::vector<int32_t> iters(cap);
    std::vector<int64_t> frame(cap);  // lane -> frame index within the tile
    // Per frame of the tile (frame-indexed): the scaled mel, the final dual point, its residual.
    std::vector<scalar_t> m_all(n_mels * cap), lam_all(n_mels * cap), res_all(n_mels * cap), scale_all(cap),
        unscale_all(cap), norm_all(cap);
    std::vector<int32_t> iters_all(cap);
    FreeSetGram<scalar_t> gram(taps, bins, n_mels, bands, cap);
    // Allocated on first use: on real spectrograms few frames need it.
    std::unique_ptr<ProjectedNewton<double>> polish_storage;

    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
      const int64_t b = tile / tiles_per_item;
      const int64_t t0 = (tile % tiles_per_item) * tile_time;
      const int64_t tile_len = std::min(tile_time, time - t0);
      const int64_t ld = round_up_to_vector<scalar_t>(tile_len);  // row stride of the tile's arrays
      int64_t len = tile_len;
      scalar_t* out_tile = out_ptr + b * n_freqs * time + t0;

      // The mel tile, scaled per frame by a power of two to max |m| in [1, 2) and scaled back on
      // output: exact, so results are bit-identical for any input scale, and squares of very
      // quiet (or loud) frames neither underflow nor overflow.
      const scalar_t* src = mel_ptr + b * mel_stride_b + t0 * mel_stride_t;
      for (int64_t k = 0; k < n_mels; ++k) {
        for (int64_t t = 0; t < len; ++t) {
          m[k * ld + t] = src[k * mel_stride_k + t * mel_stride_t];
        }
        std::fill(m.begin() + k * ld + len, m.begin() + (k + 1) * ld, scalar_t(0));
      }
      std::fill(scale_all.begin(), scale_all.begin() + len, scalar_t(0));
      for (int64_t k = 0; k < n_mels; ++k) {
        for (int64_t t = 0; t < len; ++t) {
          scale_all[t] = std::max(scale_all[t], std::abs(m[k * ld + t]));
        }
      }
      // The exponent is clamped so that the scale and its inverse stay normal numbers: a
      // subnormal frame (|m| < 2^-126 in float32, e.g. near-silence) would otherwise get a scale
      // of 2^130 = inf and come out NaN (found on recorded speech). Such a frame is scaled by
      // 2^126 instead, which is still exact.
      constexpr int kMaxScaleExponent = std::numeric_limits<scalar_t>::max_exponent - 2;
      for (int64_t t = 0; t < len; ++t) {
        const bool usable = scale_all[t] > scalar_t(0) && std::isfinite(scale_all[t]);
        const int exponent = std::clamp(-std::ilogb(scale_all[t]), -kMaxScaleExponent, kMaxScaleExponent);
        scale_all[t] = usable ? std::ldexp(scalar_t(1), exponent) : scalar_t(1);
        unscale_all[t] = scalar_t(1) / scale_all[t];  // a power of two: exact
      }
      for (int64_t k = 0; k < n_mels; ++k) {
        for (int64_t t = 0; t < len; ++t) {
          m[k * ld + t] *= scale_all[t];
        }
      }
      lane_dot(n_mels, len, ld, m.data(), m.data(), mel_norm.data());
      for (int64_t t = 0; t < ld; ++t) {
        active[t] = t < len;  // the padding lanes never iterate
      }
      for (int64_t t = 0; t < len; ++t) {
        mel_norm[t] = std::sqrt(mel_norm[t]);
        iters[t] = 0;
        frame[t] = t;
        norm_all[t] = mel_norm[t];
      }
      std::copy(m.begin(), m.begin() + n_mels * ld, m_all.begin());

      // ---- Phase 1: the entropy solution, by Newton's method on its dual ----------------------
      // Arrays keep rows of ld lanes (tile_len padded); lanes 0..len-1 are the frames still iterating.
      // A finished frame's lane is refilled from the last active lane (so compaction costs the
      // finished frames only, not the whole tile).
      // Start: lam = 0, s = max(0, envelope). The penalty's weight is relative to the start's
      // curvature, so it scales with the frame.
      auto vector_lanes = [&](int64_t lanes) { return std::min(round_up_to_vector<scalar_t>(lanes), ld); };
      std::fill(lam.begin(), lam.begin() + n_mels * ld, scalar_t(0));
      gram.set_lanes(ld, ld);
      run_widest<EntropyPass<true>>(taps, weights, n_mels, ld, ld, m.data(), lam.data(), fit.data(),
                                    gram.band_storage().data(), bands, total.data(), scratch.data());
      std::fill(ridge.begin(), ridge.begin() + ld, scalar_t(0));
      for (int64_t k = 0; k < n_mels; ++k) {
        const scalar_t* diag = gram.band_storage().data() + k * ld;
        for (int64_t t = 0; t < ld; ++t) {
          ridge[t] = std::max(ridge[t], diag[t]);
        }
      }
      const scalar_t tiny = std::numeric_limits<scalar_t>::min() / std::numeric_limits<scalar_t>::epsilon();
      for (int64_t t = 0; t < ld; ++t) {
        ridge[t] = scalar_t(kEntropyPenalty) * ridge[t] + tiny;
        dual[t] = -total[t];  // the dual objective at lam = 0
      }
      // A finished lane's frame gets its iterations now and its dual point and residual at the
      // next retire() (row by row, for all lanes finished since, so the copies stay in cache).
      std::vector<int64_t> finished, holes, sources;
      auto finish_entropy = [&](int64_t lane) {
        iters_all[frame[lane]] = iters[lane];
        active[lane] = 0;
        finished.push_back(lane);
      };
      // Save the finished lanes' results; then, when that frees at least one whole vector of lanes,
      // move the active lanes beyond the active count into the finished lanes below it (so
      // compaction moves a few lanes, not the whole tile). Lanes finished but not yet moved stay
      // in place and keep computing harmless values of their own (alpha = 0, never read back).
      // Returns whether lanes moved.
      auto retire = [&]() {
        for (int64_t k = 0; k < n_mels; ++k) {
          for (const int64_t lane : finished) {
            const int64_t i = k * ld + lane;
            lam_all[k * ld + frame[lane]] = lam[i];
            res_all[k * ld + frame[lane]] = fit[i] - m[i];
          }
        }
        finished.clear();
        int64_t n = 0;
        for (int64_t t = 0; t < len; ++t) {
          n += active[t];
        }
        if (n > 0 && vector_lanes(n) == vector_lanes(len)) {
          while (!active[len - 1]) {
            --len;  // trailing finished lanes need no move
          }
          return false;
        }
        holes.clear();
        sources.clear();
        int64_t from = len;
        for (int64_t hole = 0; hole < n; ++hole) {
          if (active[hole]) {
            continue;
          }
          do {
            --from;
          } while (!active[from]);
          holes.push_back(hole);
          sources.push_back(from);
        }
        const int64_t moves = static_cast<int64_t>(holes.size());
        auto move = [&](scalar_t* a, int64_t n_rows) {
          for (int64_t row = 0; row < n_rows; ++row) {
            scalar_t* a_row = a + row * ld;
            for (int64_t p = 0; p < moves; ++p) {
              a_row[holes[p]] = a_row[sources[p]];
            }
          }
        };
        move(m.data(), n_mels);
        move(lam.data(), n_mels);
        move(fit.data(), n_mels);  // (grad and step are recomputed from these after a move)
        move(gram.band_storage().data(), bands * n_mels);
        for (int64_t p = 0; p < moves; ++p) {
          const int64_t hole = holes[p];
          const int64_t source = sources[p];
          ridge[hole] = ridge[source];
          dual[hole] = dual[source];
          total[hole] = total[source];
          mel_norm[hole] = mel_norm[source];
          iters[hole] = iters[source];
          frame[hole] = frame[source];
          active[hole] = 1;
          active[source] = 0;
        }
        len = n;
        gram.set_lanes(vector_lanes(len), ld);
        return true;
      };
      while (len > 0) {
        // Dual gradient m - A s - eps lam: zero at the penalised entropy solution.
        int64_t vlen = vector_lanes(len);
        dual_gradient(n_mels, vlen, ld, m.data(), fit.data(), ridge.data(), lam.data(), grad.data(), step.data(),
                      pg.data());
        bool any_finished = false;
        for (int64_t t = 0; t < len; ++t) {
          if (active[t] && (!(std::sqrt(pg[t]) > entropy_tol * mel_norm[t]) || iters[t] >= entropy_max_steps)) {
            finish_entropy(t);  // converged, out of steps, or NaN (left to the NNLS tests below)
            any_finished = true;
          }
        }
        if (any_finished && retire()) {
          if (len == 0) {
            break;
          }
          vlen = vector_lanes(len);
          dual_gradient(n_mels, vlen, ld, m.data(), fit.data(), ridge.data(), lam.data(), grad.data(), step.data(),
                        pg.data());
        }
        // Newton step: (A S A^T + eps I) step = grad.
        gram.factor_with_ridge_and_solve(ridge.data(), step.data());
        lane_dot(n_mels, vlen, ld, grad.data(), step.data(), slope.data());
        // Backtracking on the (concave) dual objective lam.m - sum s - eps/2 |lam|^2.
        for (int64_t t = 0; t < vlen; ++t) {
          pending[t] = t < len && active[t];
          alpha[t] = pending[t] ? scalar_t(1) : scalar_t(0);  // finished and padding lanes stay put
        }
        bool all_full_steps = true;
        for (int trial = 0; trial < kMaxBacktracks; ++trial) {
          dual_candidate(n_mels, vlen, ld, lam.data(), alpha.data(), step.data(), m.data(), ridge.data(),
                         lam_c.data(), dual_c.data());
          run_widest<EntropyPass<false>>(taps, weights, n_mels, vlen, ld, m.data(), lam_c.data(), fit_c.data(),
                                         k_cand.data(), bands, total_c.data(), scratch.data());
          bool any_pending = false;
          for (int64_t t = 0; t < len; ++t) {
            dual_c[t] -= total_c[t];
            if (!pending[t]) {
              continue;
            }
            // Near the optimum the predicted increase drops below the round-off of the dual
            // itself; a full step that loses no more than round-off is taken too.
            const bool armijo = dual_c[t] >= dual[t] + scalar_t(kArmijo) * alpha[t] * slope[t];
            const bool full_step_at_round_off =
                trial == 0 && dual_c[t] >= dual[t] - round_off_margin * (std::abs(dual[t]) + total[t]);
            if (armijo || full_step_at_round_off) {
              pending[t] = 0;
            } else {
              alpha[t] *= scalar_t(0.5);
              any_pending = true;
              all_full_steps = false;
            }
          }
          if (!any_pending) {
            break;
          }
        }
        // Accepted lanes move to lam_c, with its fit, curvature and dual value (a swap when every
        // lane took its step); a lane whose step never passed has stalled and leaves the phase.
        if (all_full_steps) {
          std::swap(lam, lam_c);
          std::swap(fit, fit_c);
          std::swap(gram.band_storage(), k_cand);
        } else {
          for (int64_t t = 0; t < len; ++t) {
            accepted[t] = pending[t] ? scalar_t(0) : scalar_t(1);
          }
          select_accepted(n_mels, len, ld, accepted.data(), lam_c.data(), lam.data());
          select_accepted(n_mels, len, ld, accepted.data(), fit_c.data(), fit.data());
          select_accepted(bands * n_mels, len, ld, accepted.data(), k_cand.data(), gram.band_storage().data());
        }
        any_finished = false;
        for (int64_t t = 0; t < len; ++t) {
          if (!active[t]) {
            continue;
          }
          if (pending[t]) {
            finish_entropy(t);  // its band now holds the factorisation, but it leaves
            any_finished = true;
          } else {
            ++iters[t];
            dual[t] = dual_c[t];
            total[t] = total_c[t];
          }
        }
        if (any_finished) {
          retire();
        }
      }

      // ---- The entropy solution of every frame, written out, and the NNLS tests -------------
      len = tile_len;
      run_widest<EntropyWrite>(taps, weights, len, ld, m_all.data(), lam_all.data(), res_all.data(),
                    unscale_all.data(), out_tile, time, lipschitz, pg.data(), scratch.data());
      lane_dot(n_mels, len, ld, res_all.data(), res_all.data(), obj.data());
      // A frame passes when the entropy solution is an exact solution (to tol) or a KKT point of
      // the NNLS problem (to tol); the rest go on to projected Newton steps from it.
      auto report = [&](int64_t t, int32_t steps, scalar_t relative, bool ok) {
        iter_ptr[b * time + t0 + t] = steps;
        res_ptr[b * time + t0 + t] = relative;
        conv_ptr[b * time + t0 + t] = ok;
      };
      len = 0;
      for (int64_t t = 0; t < tile_len; ++t) {
        if (passes_nnls_tests(obj[t], pg[t], norm_all[t], tol_s, consts.spectral_norm)) {
          report(t, iters_all[t], relative_residual(obj[t], norm_all[t]), true);
        } else if (iters_all[t] >= max_iter || !std::isfinite(obj[t])) {
          // Out of steps, or a NaN/Inf frame.
          report(t, iters_all[t], relative_residual(obj[t], norm_all[t]), false);
        } else {
          frame[len++] = t;
        }
      }

      // ---- Phase 2: projected Newton steps for the rest, from the entropy solution ------------
      if (len > 0) {
        if (!polish_storage) {
          polish_storage = std::make_unique<ProjectedNewton<double>>(
              taps64, envelope_weight64.data(), bins, n_mels, bands, consts.spectral_norm_exact, cap);
        }
        ProjectedNewton<double>& polish = *polish_storage;
        double* start = polish.start();
        double* mel = polish.mel();
        for (int64_t f = 0; f < rows; ++f) {
          const scalar_t* row = out_tile + (bins.lo + f) * time;
          for (int64_t i = 0; i < len; ++i) {
            start[f * len + i] = static_cast<double>(row[frame[i]] * scale_all[frame[i]]);
          }
        }
        for (int64_t k = 0; k < n_mels; ++k) {
          for (int64_t i = 0; i < len; ++i) {
            mel[k * len + i] = static_cast<double>(m_all[k * ld + frame[i]]);
          }
        }
        for (int64_t i = 0; i < len; ++i) {
          polish.iterations()[i] = iters_all[frame[i]];
        }
        polish.run(len, max_iter, tol, [&](int64_t id, const double* column, int64_t stride, double relative,
                                            int32_t steps, bool ok) {
          const int64_t t = frame[id];
          report(t, steps, static_cast<scalar_t>(relative), ok);
          for (int64_t f = 0; f < rows; ++f) {
            out_tile[(bins.lo + f) * time + t] = static_cast<scalar_t>(column[f * stride]) * unscale_all[t];
          }
        });
      }

      // Bins no filter touches: 0, or a copy of the bin fill_from names.
      for (int64_t f = 0; f < n_freqs; ++f) {
        if (f < bins.lo || f >= bins.hi) {
          std::fill(out_tile + f * time, out_tile + f * time + tile_len, scalar_t(0));
        }
      }
      for (int64_t f = 0; f < static_cast<int64_t>(fill_from.size()); ++f) {
        if (fill_from[f] >= 0) {
          const scalar_t* from = out_tile + fill_from[f] * time;
          std::copy(from, from + tile_len, out_tile + f * time);
        }
      }
    }
  });
}

// grad_m = (A_F A_F^T + eps I)^-1 A (free * grad), free = {solution > 0}: the transpose of
// d s_F / d m = A_F^+ on the solution's free set (the minimum-norm choice where the
// solution is not unique).
template <typename scalar_t>
void nnls_backward_kernel(
    const at::Tensor& grad3,  // (batch, n_freqs, time)
    const at::Tensor& solution3,  // (batch, n_freqs, time)
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    at::Tensor& grad_mel) {  // (batch, n_mels, time), contiguous
  const int64_t batch = grad3.size(0);
  const int64_t n_freqs = grad3.size(1);
  const int64_t time = grad3.size(2);
  const int64_t n_mels = grad_mel.size(1);
  const CompactTaps<scalar_t> taps(tap_index, tap_weight, n_mels, "nnls_backward");
  const FilterbankConstants<scalar_t> consts(taps, n_freqs, n_mels);
  const BinRange all_bins{0, n_freqs};
  const int64_t tile_time = nnls_tile_time<scalar_t>(n_freqs);
  const int64_t tiles_per_item = (time + tile_time - 1) / tile_time;
  const at::Tensor grad_c = grad3.contiguous();
  const at::Tensor sol_c = solution3.contiguous();
  const scalar_t* grad_ptr = grad_c.data_ptr<scalar_t>();
  const scalar_t* sol_ptr = sol_c.data_ptr<scalar_t>();
  scalar_t* out_ptr = grad_mel.data_ptr<scalar_t>();

  at::parallel_for(0, batch * tiles_per_item, 1, [&](int64_t tile_begin, int64_t tile_end) {
    const int64_t cap = std::min(tile_time, time);
    std::vector<scalar_t> free(n_freqs * cap), masked(n_freqs * cap), z(n_mels * cap), zero(n_mels * cap, 0),
        x(n_mels * cap), correction(n_mels * cap);
    const std::vector<scalar_t> ridge(cap, static_cast<scalar_t>(backward_ridge<scalar_t>()));  // every frame's
    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
      const int64_t b = tile / tiles_per_item;
      const int64_t t0 = (tile % tiles_per_item) * tile_time;
      const int64_t len = std::min(tile_time, time - t0);
      for (int64_t f = 0; f < n_freqs; ++f) {
        const scalar_t* sol_f = sol_ptr + (b * n_freqs + f) * time + t0;
        const scalar_t* grad_f = grad_ptr + (b * n_freqs + f) * time + t0;
        for (int64_t t = 0; t < len; ++t) {
          const bool is_free = sol_f[t] > scalar_t(0);
          free[f * len + t] = is_free ? scalar_t(1) : scalar_t(0);
          masked[f * len + t] = is_free ? grad_f[t] : scalar_t(0);
        }
      }
      // z = A (free * grad): the mel residual of `masked` against a zero target.
      mel_residual(taps, all_bins, n_mels, len, masked.data(), zero.data(), z.data());
      FreeSetGram<scalar_t> gram(taps, all_bins, n_mels, consts.bands, len);
      gram.build(free.data(), ridge.data());
      std::copy(z.begin(), z.begin() + n_mels * len, x.begin());
      gram.solve(x.data());
      for (int refinement = 0; refinement < kBackwardRefinements; ++refinement) {
        // correction = z - A (free * A^T x), the residual of the undamped system.
        mel_transpose(taps, all_bins, len, x.data(), masked.data());
        for (int64_t i = 0; i < n_freqs * len; ++i) {
          masked[i] *= free[i];
        }
        mel_residual(taps, all_bins, n_mels, len, masked.data(), z.data(), correction.data());
        for (int64_t i = 0; i < n_mels * len; ++i) {
          correction[i] = -correction[i];
        }
        gram.solve(correction.data());
        for (int64_t i = 0; i < n_mels * len; ++i) {
          x[i] += correction[i];
        }
      }
      for (int64_t k = 0; k < n_mels; ++k) {
        std::copy(x.begin() + k * len, x.begin() + (k + 1) * len, out_ptr + (b * n_mels + k) * time + t0);
      }
    }
  });
}

void check_taps(const at::Tensor& tap_index, const at::Tensor& tap_weight, at::ScalarType dtype, const char* op) {
  TORCH_CHECK(
      tap_index.dim() == 2 && tap_weight.dim() == 2 && tap_index.sizes() == tap_weight.sizes(), op,
      ": tap_index and tap_weight must both have shape (n_freqs, taps), found ", tap_index.sizes(), " and ",
      tap_weight.sizes());
  TORCH_CHECK(tap_index.scalar_type() == at::kLong, op, ": tap_index must be int64, found ", tap_index.scalar_type());
  TORCH_CHECK(
      tap_weight.scalar_type() == dtype, op, ": tap_weight must have the input's dtype ", dtype, ", found ",
      tap_weight.scalar_type());
  TORCH_CHECK(
      tap_index.device().is_cpu() && tap_weight.device().is_cpu(), op, " (CPU kernel): tap_index and tap_weight must be on the CPU");
  TORCH_CHECK(
      tap_weight.numel() == 0 || tap_weight.min().item<double>() >= 0.0, op,
      ": the filterbank has negative weights; NNLS needs a non-negative filterbank (use solver=\"lstsq\" for others)");
}

// fill_from: (n_freqs,) int64 or absent. fill_from[f] = j >= 0 makes bin f, which no filter may
// weigh, a copy of bin j, which some filter must weigh; -1 leaves bin f at 0.
std::vector<int64_t> check_fill_from(const std::optional<at::Tensor>& fill_from, const at::Tensor& tap_weight) {
  if (!fill_from.has_value()) {
    return {};
  }
  const at::Tensor& fill = *fill_from;
  const int64_t n_freqs = tap_weight.size(0);
  TORCH_CHECK(
      fill.dim() == 1 && fill.size(0) == n_freqs && fill.scalar_type() == at::kLong && fill.device().is_cpu(),
      "nnls: fill_from must be a CPU int64 tensor of shape (", n_freqs, ",) (one entry per frequency bin), found ",
      fill.scalar_type(), " of shape ", fill.sizes(), " on ", fill.device());
  const at::Tensor weighed = tap_weight.ne(0).any(1).contiguous();
  const bool* weighed_ptr = weighed.data_ptr<bool>();
  const at::Tensor fill_c = fill.contiguous();
  std::vector<int64_t> result(fill_c.data_ptr<int64_t>(), fill_c.data_ptr<int64_t>() + n_freqs);
  for (int64_t f = 0; f < n_freqs; ++f) {
    const int64_t j = result[f];
    if (j < 0) {
      TORCH_CHECK(j == -1, "nnls: fill_from entries must be -1 or a bin index, found ", j, " at ", f);
      continue;
    }
    TORCH_CHECK(j < n_freqs, "nnls: fill_from[", f, "] = ", j, " is not a bin index (n_freqs = ", n_freqs, ")");
    TORCH_CHECK(
        !weighed_ptr[f], "nnls: fill_from may only fill bins that no filter weighs, but bin ", f, " has weights");
    TORCH_CHECK(
        weighed_ptr[j], "nnls: fill_from[", f, "] = ", j, " must name a bin that some filter weighs");
  }
  return result;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> nnls_cpu(
    const at::Tensor& melspec,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    int64_t max_iter,
    double tol,
    const std::optional<at::Tensor>& fill_from) {
  TORCH_CHECK(
      melspec.dim() >= 2, "nnls: melspec must have shape (..., n_mels, time), found ", melspec.dim(), " dim(s)");
  TORCH_CHECK(
      melspec.scalar_type() == at::kFloat || melspec.scalar_type() == at::kDouble,
      "nnls: melspec must be float32 or float64, found ", melspec.scalar_type());
  TORCH_CHECK(melspec.device().is_cpu(), "nnls (CPU kernel): melspec must be on the CPU, found ", melspec.device());
  TORCH_CHECK(max_iter >= 0, "nnls: max_iter must be >= 0, found ", max_iter);
  TORCH_CHECK(std::isfinite(tol) && tol >= 0.0, "nnls: tol must be a finite number >= 0, found ", tol);
  check_taps(tap_index, tap_weight, melspec.scalar_type(), "nnls");
  const std::vector<int64_t> fill = check_fill_from(fill_from, tap_weight);
  const int64_t n_mels = melspec.size(-2);
  std::vector<int64_t> lead(melspec.sizes().begin(), melspec.sizes().end() - 2);
  const int64_t time = melspec.size(-1);
  std::vector<int64_t> out_sizes = lead;
  out_sizes.push_back(tap_index.size(0));
  out_sizes.push_back(time);
  std::vector<int64_t> frame_sizes = lead;
  frame_sizes.push_back(time);
  at::Tensor out = empty_output(out_sizes, melspec.options());
  at::Tensor iterations = at::zeros(frame_sizes, melspec.options().dtype(at::kInt));
  at::Tensor residual = at::zeros(frame_sizes, melspec.options());
  at::Tensor converged = at::ones(frame_sizes, melspec.options().dtype(at::kBool));
  if (out.numel() == 0 || n_mels == 0) {
    out.zero_();
    return {out, iterations, residual, converged};
  }
  const at::Tensor melspec3 = melspec.reshape({-1, n_mels, time});
  at::Tensor out3 = out.view({-1, tap_index.size(0), time});
  at::Tensor iter2 = iterations.view({-1, time});
  at::Tensor res2 = residual.view({-1, time});
  at::Tensor conv2 = converged.view({-1, time});
  AT_DISPATCH_FLOATING_TYPES(melspec.scalar_type(), "nnls_cpu", [&] {
    nnls_kernel<scalar_t>(melspec3, tap_index, tap_weight, fill, max_iter, tol, out3, iter2, res2, conv2);
  });
  return {out, iterations, residual, converged};
}

at::Tensor nnls_backward_cpu(
    const at::Tensor& grad,
    const at::Tensor& solution,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    int64_t n_mels) {
  TORCH_CHECK(
      grad.sizes() == solution.sizes() && grad.dim() >= 2, "nnls_backward: grad and solution must have the same shape "
      "(..., n_freqs, time), found ", grad.sizes(), " and ", solution.sizes());
  TORCH_CHECK(
      (grad.scalar_type() == at::kFloat || grad.scalar_type() == at::kDouble) &&
          solution.scalar_type() == grad.scalar_type(),
      "nnls_backward: grad and solution must have one dtype, float32 or float64, found ", grad.scalar_type(), " and ",
      solution.scalar_type());
  TORCH_CHECK(grad.device().is_cpu() && solution.device().is_cpu(), "nnls_backward (CPU kernel): inputs must be on the CPU");
  TORCH_CHECK(
      tap_index.dim() == 2 && tap_index.size(0) == grad.size(-2), "nnls_backward: tap_index must have shape (",
      grad.size(-2), ", taps), found ", tap_index.sizes());
  TORCH_CHECK(n_mels >= 0, "nnls_backward: n_mels must be >= 0, found ", n_mels);
  check_taps(tap_index, tap_weight, grad.scalar_type(), "nnls_backward");
  std::vector<int64_t> sizes(grad.sizes().begin(), grad.sizes().end() - 2);
  const int64_t time = grad.size(-1);
  sizes.push_back(n_mels);
  sizes.push_back(time);
  at::Tensor grad_mel = at::zeros(sizes, grad.options());
  if (grad_mel.numel() == 0 || grad.size(-2) == 0) {
    return grad_mel;
  }
  const int64_t n_freqs = grad.size(-2);
  at::Tensor out3 = grad_mel.view({-1, n_mels, time});
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "nnls_backward_cpu", [&] {
    nnls_backward_kernel<scalar_t>(
        grad.reshape({-1, n_freqs, time}), solution.reshape({-1, n_freqs, time}), tap_index, tap_weight, out3);
  });
  return grad_mel;
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("nnls", &nnls_cpu);
  m.impl("nnls_backward", &nnls_backward_cpu);
}

}  // namespace inverse_mel
