// CPU kernels of inverse_mel::nnls and inverse_mel::nnls_backward (schemas in
// csrc/inverse_mel.cpp).
//
// Per frame m (n_mels) it solves  min_s ||A s - m||^2  subject to  s >= 0,  A = fb^T,
// with a projected Newton method on the free set, in a diagonal metric W:
//
//   s0 = max(0, envelope)                      start: each band's energy per unit filter
//                                              area, spread over its bins
//   g  = A^T (A s - m)                         gradient
//   F  = {s > 0} or {g < 0}                    variables free to move
//   d  = -W_F A^T (A W_F A^T + eps I)^-1 r     damped Newton step on F, W = s0 + floor
//   s <- max(0, s + alpha d)                   Armijo backtracking on alpha
//
// A W_F A^T keeps the band of the Gram fb^T fb (tridiagonal for a triangular mel bank),
// so a step costs O(nnz(fb)) per frame, like one gradient step, but lands on an exact
// solution as soon as the free set is right: 1-3 steps on typical input, where projected
// gradient methods need hundreds. Mel inversion is underdetermined, so many non-negative
// spectra fit exactly; the start and the metric W pick the one closest to the mel envelope
// in W's relative metric, which keeps quiet bins quiet instead of clipping them to exact
// zeros (measured on real recordings: lower spectral convergence and log-spectral distance
// than the Euclidean step from relu(lstsq)). The metric moves only the path, not the fixed
// points: any result is a KKT point of the same NNLS problem.
//
// Every quantity is per frame (per SIMD lane): frames never mix, so a frame's result
// depends neither on its neighbours in a tile nor on the thread count. Finished frames
// leave the tile and the rest are packed into the leading lanes.
//
// Stopping, per frame, scale-invariant (scaling m scales s): ||A s - m|| <= tol ||m||
// (an exact solution), or ||projected gradient|| <= tol ||A||_2 ||A s - m|| (the residual
// is orthogonal, to tol, to everything the free bins can still change: a KKT point of an
// inconsistent problem), or max_iter steps.
#include "lstsq_tile.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <tuple>
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
constexpr double kSolverDamping = 1e-4;
constexpr int kSolverRefinements = 1;  // measured: 0 costs more steps, 2 more time
// The step metric is W = envelope + floor (see nnls_kernel). Measured on the real recordings
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
constexpr double kArmijo = 1e-4;

// Bins [f_lo, f_hi) are the ones some filter touches; per-bin tile arrays hold only those
// rows (row f at (f - f_lo) * len), since every other bin's solution is 0.
struct BinRange {
  int64_t lo = 0, hi = 0;
  int64_t rows() const { return hi - lo; }
};

// Frames per tile: a multiple of 8 in [8, 64], so one (bins x frames) array is ~kNnlsTileBytes.
template <typename scalar_t>
int64_t nnls_tile_time(int64_t n_freqs) {
  return std::clamp<int64_t>(
      (kNnlsTileBytes / (std::max<int64_t>(n_freqs, 1) * static_cast<int64_t>(sizeof(scalar_t)))) / 8 * 8, 8, 64);
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
    spectral_norm = static_cast<scalar_t>(std::sqrt(largest_eigenvalue(gram, bands, n_mels)));
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

// K = A diag(weight) A^T + ridge I in band storage k_band[d][k][t] = K[k, k - d], then its
// LDL^T factorisation in place (D on band 0, L below), and solves K x = rhs in place.
// All per frame, vectorised over the tile's `len` frames.
template <typename scalar_t>
class FreeSetGram {
 public:
  FreeSetGram(const CompactTaps<scalar_t>& taps, BinRange bins, int64_t n_mels, int64_t bands, int64_t len)
      : taps_(taps), bins_(bins), n_mels_(n_mels), bands_(bands), len_(len),
        k_band_(bands * n_mels * len), row_(len) {}

  // K = A diag(weight) A^T per frame, plus ridge_relative * max_k K[k, k] + tiny on the
  // diagonal (a per-frame scale: the weights differ between frames), then factored.
  INVERSE_MEL_MULTIVERSION void build(const scalar_t* weight, double ridge_relative) {
    std::fill(k_band_.begin(), k_band_.begin() + bands_ * n_mels_ * len_, scalar_t(0));
    for (int64_t f = bins_.lo; f < bins_.hi; ++f) {
      const int64_t c = taps_.count[f];
      const int64_t* idx = taps_.index.data() + f * taps_.taps;
      const scalar_t* w = taps_.weight.data() + f * taps_.taps;
      const scalar_t* weight_f = weight + (f - bins_.lo) * len_;
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
        diag[t] += scalar_t(ridge_relative) * row_[t] + tiny;
      }
    }
    factor();
  }

  // Shrink the tile to its first `len` frames (after the caller compacted its arrays).
  void set_len(int64_t len) { len_ = len; }

  // rhs (n_mels x len) <- K^-1 rhs.
  INVERSE_MEL_MULTIVERSION void solve(scalar_t* rhs) const {
    for (int64_t k = 0; k < n_mels_; ++k) {  // L z = rhs
      scalar_t* xk = rhs + k * len_;
      for (int64_t d = 1; d < bands_ && d <= k; ++d) {
        const scalar_t* l = at(d, k);
        const scalar_t* xj = rhs + (k - d) * len_;
        for (int64_t t = 0; t < len_; ++t) {
          xk[t] -= l[t] * xj[t];
        }
      }
    }
    for (int64_t k = 0; k < n_mels_; ++k) {  // D y = z
      scalar_t* xk = rhs + k * len_;
      const scalar_t* dk = at(0, k);
      for (int64_t t = 0; t < len_; ++t) {
        xk[t] /= dk[t];
      }
    }
    for (int64_t k = n_mels_ - 1; k >= 0; --k) {  // L^T x = y
      scalar_t* xk = rhs + k * len_;
      for (int64_t d = 1; d < bands_ && k + d < n_mels_; ++d) {
        const scalar_t* l = at(d, k + d);
        const scalar_t* xj = rhs + (k + d) * len_;
        for (int64_t t = 0; t < len_; ++t) {
          xk[t] -= l[t] * xj[t];
        }
      }
    }
  }

 private:
  scalar_t* at(int64_t d, int64_t k) { return k_band_.data() + (d * n_mels_ + k) * len_; }
  const scalar_t* at(int64_t d, int64_t k) const { return k_band_.data() + (d * n_mels_ + k) * len_; }

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
  int64_t len_;
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
    scalar_t* of = out + (f - bins.lo) * len;
    std::fill(of, of + len, scalar_t(0));
    for (int64_t j = 0; j < taps.count[f]; ++j) {
      const scalar_t w = taps.weight[f * taps.taps + j];
      const scalar_t* xk = x + taps.index[f * taps.taps + j] * len;
      for (int64_t t = 0; t < len; ++t) {
        of[t] += w * xk[t];
      }
    }
  }
}

// Elementwise passes of one solver step over a (rows x len) tile, in multiversioned
// functions so that they, like the scatter/gather above, run at the machine's vector width.

// weight = W on the free set {s > 0 or g < 0}, 0 elsewhere; pg[t] = ||projected gradient||^2.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void free_set_pass(
    int64_t rows, int64_t len, const scalar_t* s, const scalar_t* g, const scalar_t* metric,
    scalar_t* weight, scalar_t* pg) {
  std::fill(pg, pg + len, scalar_t(0));
  for (int64_t f = 0; f < rows; ++f) {
    for (int64_t t = 0; t < len; ++t) {
      // Branch-free (| not ||, selects not ifs) so the loop vectorises over frames.
      const int64_t i = f * len + t;
      const scalar_t is_free = ((s[i] > scalar_t(0)) | (g[i] < scalar_t(0))) ? scalar_t(1) : scalar_t(0);
      weight[i] = is_free * metric[i];
      const scalar_t p = is_free * g[i];
      pg[t] += p * p;
    }
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

// x[i] = accepted[t] ? y[i] : x[i] over (rows x len).
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void select_accepted(
    int64_t rows, int64_t len, const scalar_t* accepted, const scalar_t* y, scalar_t* x) {
  for (int64_t f = 0; f < rows; ++f) {
    for (int64_t t = 0; t < len; ++t) {
      x[f * len + t] = accepted[t] != scalar_t(0) ? y[f * len + t] : x[f * len + t];
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

template <typename scalar_t>
void nnls_kernel(
    const at::Tensor& melspec3,  // (batch, n_mels, time), any strides
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
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

  // The mel envelope spreads each band's energy density over its bins:
  // env[f] = sum_j w_fj m[k_j] / area[k_j] / sum_j w_fj, area[k] = sum_f w_fk.
  std::vector<scalar_t> inv_area(n_mels, scalar_t(0)), inv_row_sum(n_freqs, scalar_t(0));
  {
    std::vector<double> area(n_mels, 0.0);
    for (int64_t f = 0; f < n_freqs; ++f) {
      double row = 0.0;
      for (int64_t j = 0; j < taps.count[f]; ++j) {
        area[taps.index[f * taps.taps + j]] += taps.weight[f * taps.taps + j];
        row += taps.weight[f * taps.taps + j];
      }
      inv_row_sum[f] = row > 0 ? scalar_t(1.0 / row) : scalar_t(0);
    }
    for (int64_t k = 0; k < n_mels; ++k) {
      inv_area[k] = area[k] > 0 ? scalar_t(1.0 / area[k]) : scalar_t(0);
    }
  }

  const int64_t tile_time = nnls_tile_time<scalar_t>(n_freqs);
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
  const scalar_t round_off = scalar_t(1) + scalar_t(16) * std::numeric_limits<scalar_t>::epsilon();

  at::parallel_for(0, batch * tiles_per_item, 1, [&](int64_t tile_begin, int64_t tile_end) {
    const int64_t cap = std::min(tile_time, time);
    std::vector<scalar_t> s(rows * cap), g(rows * cap), metric(rows * cap), weight(rows * cap), d(rows * cap),
        cand(rows * cap), m(n_mels * cap), r(n_mels * cap), rc(n_mels * cap), lam(n_mels * cap);
    std::vector<scalar_t> obj(cap), obj_c(cap), mel_norm(cap), alpha(cap), decrease(cap), pg(cap), accepted(cap),
        scale(cap);
    std::vector<char> active(cap), pending(cap);
    std::vector<int32_t> iters(cap);
    std::vector<int64_t> frame(cap);  // lane -> frame index within the tile
    std::vector<scalar_t> result(rows * cap);  // finished frames, at their own frame index
    std::vector<scalar_t> unscale(cap);
    std::vector<int64_t> keep, done;  // lanes still iterating / finished this round
    keep.reserve(cap);
    done.reserve(cap);
    FreeSetGram<scalar_t> gram(taps, bins, n_mels, consts.bands, cap);
    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
      const int64_t b = tile / tiles_per_item;
      const int64_t t0 = (tile % tiles_per_item) * tile_time;
      int64_t len = std::min(tile_time, time - t0);
      const int64_t tile_len = len;
      gram.set_len(len);
      scalar_t* out_tile = out_ptr + b * n_freqs * time + t0;

      // The mel tile, its per-frame norm, and the start: the non-negative mel envelope.
      const scalar_t* src = mel_ptr + b * mel_stride_b + t0 * mel_stride_t;
      for (int64_t k = 0; k < n_mels; ++k) {
        for (int64_t t = 0; t < len; ++t) {
          m[k * len + t] = src[k * mel_stride_k + t * mel_stride_t];
        }
      }
      // Each frame is scaled by a power of two to max |m| in [1, 2) and scaled back on output:
      // exact, so results are bit-identical for any input scale, and squares of very quiet
      // (or loud) frames neither underflow nor overflow.
      std::fill(scale.begin(), scale.begin() + len, scalar_t(0));
      for (int64_t k = 0; k < n_mels; ++k) {
        for (int64_t t = 0; t < len; ++t) {
          scale[t] = std::max(scale[t], std::abs(m[k * len + t]));
        }
      }
      // The exponent is clamped so that the scale and its inverse stay normal numbers: a
      // subnormal frame (|m| < 2^-126 in float32, e.g. near-silence) would otherwise get a scale
      // of 2^130 = inf and come out NaN (found on recorded speech). Such a frame is scaled by
      // 2^126 instead, which is still exact.
      constexpr int kMaxScaleExponent = std::numeric_limits<scalar_t>::max_exponent - 2;
      for (int64_t t = 0; t < len; ++t) {
        const bool usable = scale[t] > scalar_t(0) && std::isfinite(scale[t]);
        const int exponent = std::clamp(-std::ilogb(scale[t]), -kMaxScaleExponent, kMaxScaleExponent);
        scale[t] = usable ? std::ldexp(scalar_t(1), exponent) : scalar_t(1);
      }
      for (int64_t k = 0; k < n_mels; ++k) {
        for (int64_t t = 0; t < len; ++t) {
          m[k * len + t] *= scale[t];
        }
      }
      std::fill(mel_norm.begin(), mel_norm.begin() + len, scalar_t(0));
      for (int64_t k = 0; k < n_mels; ++k) {
        for (int64_t t = 0; t < len; ++t) {
          mel_norm[t] += m[k * len + t] * m[k * len + t];
        }
      }
      for (int64_t t = 0; t < len; ++t) {
        mel_norm[t] = std::sqrt(mel_norm[t]);
        pg[t] = scalar_t(0);  // per-frame max of the start, for the metric's floor
      }
      for (int64_t f = bins.lo; f < bins.hi; ++f) {
        scalar_t* sf = s.data() + (f - bins.lo) * len;
        std::fill(sf, sf + len, scalar_t(0));
        for (int64_t j = 0; j < taps.count[f]; ++j) {
          const int64_t k = taps.index[f * taps.taps + j];
          const scalar_t w = taps.weight[f * taps.taps + j] * inv_area[k] * inv_row_sum[f];
          const scalar_t* mk = m.data() + k * len;
          for (int64_t t = 0; t < len; ++t) {
            sf[t] += w * mk[t];
          }
        }
        for (int64_t t = 0; t < len; ++t) {
          sf[t] = relu_keep_nan(sf[t]);
          pg[t] = std::max(pg[t], sf[t]);
        }
      }
      // Metric W = start + floor: steps move energy where the envelope has it, so quiet bins
      // keep their share instead of being clipped to exact zeros.
      for (int64_t f = 0; f < rows; ++f) {
        for (int64_t t = 0; t < len; ++t) {
          metric[f * len + t] = s[f * len + t] + scalar_t(1e-6) * pg[t];
        }
      }
      mel_residual(taps, bins, n_mels, len, s.data(), m.data(), r.data());
      auto objective = [&](const scalar_t* res, scalar_t* dst) {
        std::fill(dst, dst + len, scalar_t(0));
        for (int64_t k = 0; k < n_mels; ++k) {
          for (int64_t t = 0; t < len; ++t) {
            dst[t] += res[k * len + t] * res[k * len + t];
          }
        }
      };
      objective(r.data(), obj.data());  // ||A s - m||^2 per frame
      for (int64_t t = 0; t < len; ++t) {
        active[t] = 1;
        iters[t] = 0;
        frame[t] = t;
      }

      // Finished frames leave the tile and the rest are packed into the leading lanes, so a
      // tile costs the sum of its frames' steps, not len times its slowest frame's. finish()
      // records a frame's report; compact() then copies every frame finished this round into
      // the tile's result row by row (a column copy per frame would touch one cache line per
      // bin), which is written to the output once, when the tile is done.
      auto finish = [&](int64_t lane, bool ok) {
        const int64_t t = frame[lane];
        iter_ptr[b * time + t0 + t] = iters[lane];
        const scalar_t rn = std::sqrt(obj[lane]);
        res_ptr[b * time + t0 + t] = mel_norm[lane] > scalar_t(0) ? rn / mel_norm[lane] : rn;
        conv_ptr[b * time + t0 + t] = ok;
        active[lane] = 0;
      };
      auto compact = [&]() {
        keep.clear();
        done.clear();
        for (int64_t t = 0; t < len; ++t) {
          (active[t] ? keep : done).push_back(t);
        }
        const int64_t n = static_cast<int64_t>(keep.size());
        if (n == len) {
          return;
        }
        for (int64_t lane : done) {
          unscale[lane] = scalar_t(1) / scale[lane];  // a power of two: exact
        }
        for (int64_t f = 0; f < rows; ++f) {
          const scalar_t* sf = s.data() + f * len;
          scalar_t* rf = result.data() + f * tile_len;
          for (int64_t lane : done) {
            rf[frame[lane]] = sf[lane] * unscale[lane];
          }
        }
        auto pack = [&](std::vector<scalar_t>& a, int64_t rows) {
          for (int64_t row = 0; row < rows; ++row) {
            for (int64_t i = 0; i < n; ++i) {
              a[row * n + i] = a[row * len + keep[i]];
            }
          }
        };
        pack(s, rows);
        pack(metric, rows);
        pack(g, rows);
        pack(weight, rows);
        pack(m, n_mels);
        pack(r, n_mels);
        for (int64_t i = 0; i < n; ++i) {
          obj[i] = obj[keep[i]];
          scale[i] = scale[keep[i]];
          mel_norm[i] = mel_norm[keep[i]];
          iters[i] = iters[keep[i]];
          frame[i] = frame[keep[i]];
          active[i] = 1;
        }
        len = n;
        gram.set_len(len);
      };

      for (int64_t it = 0; len > 0; ++it) {
        // Gradient, free set, projected gradient; then the per-frame stopping test.
        mel_transpose(taps, bins, len, r.data(), g.data());
        free_set_pass(rows, len, s.data(), g.data(), metric.data(), weight.data(), pg.data());
        for (int64_t t = 0; t < len; ++t) {
          const scalar_t res_norm = std::sqrt(obj[t]);
          const bool exact = res_norm <= tol_s * mel_norm[t];
          const bool stationary = std::sqrt(pg[t]) <= tol_s * consts.spectral_norm * res_norm;
          if (exact || stationary) {
            finish(t, true);
          } else if (it >= max_iter || !std::isfinite(obj[t])) {
            finish(t, false);  // out of steps, or a NaN/Inf frame: reported as not converged
          }
        }
        compact();
        if (len == 0) {
          break;
        }
        // Newton step on the free set in the metric W: d = -W A_F^T (A_F W A_F^T + eps I)^-1 r,
        // with the damping's bias on small-but-nonzero directions cut by iterative refinement
        // (each step multiplies it by eps / sigma^2; a truly null direction only grows linearly).
        gram.build(weight.data(), kSolverDamping);
        std::copy(r.begin(), r.begin() + n_mels * len, lam.begin());
        gram.solve(lam.data());
        for (int refinement = 0; refinement <= kSolverRefinements; ++refinement) {
          mel_transpose(taps, bins, len, lam.data(), d.data());
          multiply(rows * len, weight.data(), d.data());  // d = W_F A^T lam
          if (refinement == kSolverRefinements) {
            break;
          }
          mel_residual(taps, bins, n_mels, len, d.data(), r.data(), rc.data());  // A W_F A^T lam - r
          negate(n_mels * len, rc.data());
          gram.solve(rc.data());
          for (int64_t i = 0; i < n_mels * len; ++i) {
            lam[i] += rc[i];
          }
        }
        negate(rows * len, d.data());

        // Armijo backtracking on the projected arc, per frame.
        for (int64_t t = 0; t < len; ++t) {
          alpha[t] = scalar_t(1);
          pending[t] = 1;
        }
        for (int trial = 0; trial < kMaxBacktracks; ++trial) {
          projected_candidate(rows, len, s.data(), d.data(), g.data(), alpha.data(), cand.data(), decrease.data());
          mel_residual(taps, bins, n_mels, len, cand.data(), m.data(), rc.data());
          objective(rc.data(), obj_c.data());
          bool any_pending = false;
          for (int64_t t = 0; t < len; ++t) {
            if (!pending[t]) {
              continue;
            }
            // obj is ||r||^2 = 2 f, and g . (s - cand) the first-order decrease of f.
            // Near the optimum that decrease drops below the round-off of obj itself, and
            // Armijo would reject the (quadratically converging) full Newton step at random:
            // a full step that raises obj by no more than round-off is taken too.
            const bool armijo = obj_c[t] <= obj[t] - scalar_t(2 * kArmijo) * decrease[t];
            const bool full_step_at_round_off = trial == 0 && obj_c[t] <= obj[t] * round_off;
            if (armijo || full_step_at_round_off) {
              pending[t] = 0;
            } else {
              alpha[t] *= scalar_t(0.5);
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
          accepted[t] = pending[t] ? scalar_t(0) : scalar_t(1);
        }
        select_accepted(rows, len, accepted.data(), cand.data(), s.data());
        select_accepted(n_mels, len, accepted.data(), rc.data(), r.data());
        for (int64_t t = 0; t < len; ++t) {
          if (pending[t]) {
            finish(t, false);
          } else {
            ++iters[t];
            obj[t] = obj_c[t];
          }
        }
        compact();
      }
      // Write the tile once, row by row; bins no filter touches are 0.
      for (int64_t f = 0; f < n_freqs; ++f) {
        scalar_t* dst = out_tile + f * time;
        if (f >= bins.lo && f < bins.hi) {
          std::copy(result.begin() + (f - bins.lo) * tile_len, result.begin() + (f - bins.lo + 1) * tile_len, dst);
        } else {
          std::fill(dst, dst + tile_len, scalar_t(0));
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
      gram.build(free.data(), backward_ridge<scalar_t>());
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

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> nnls_cpu(
    const at::Tensor& melspec,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    int64_t max_iter,
    double tol) {
  TORCH_CHECK(
      melspec.dim() >= 2, "nnls: melspec must have shape (..., n_mels, time), found ", melspec.dim(), " dim(s)");
  TORCH_CHECK(
      melspec.scalar_type() == at::kFloat || melspec.scalar_type() == at::kDouble,
      "nnls: melspec must be float32 or float64, found ", melspec.scalar_type());
  TORCH_CHECK(melspec.device().is_cpu(), "nnls (CPU kernel): melspec must be on the CPU, found ", melspec.device());
  TORCH_CHECK(max_iter >= 0, "nnls: max_iter must be >= 0, found ", max_iter);
  TORCH_CHECK(std::isfinite(tol) && tol >= 0.0, "nnls: tol must be a finite number >= 0, found ", tol);
  check_taps(tap_index, tap_weight, melspec.scalar_type(), "nnls");
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
    nnls_kernel<scalar_t>(melspec3, tap_index, tap_weight, max_iter, tol, out3, iter2, res2, conv2);
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
