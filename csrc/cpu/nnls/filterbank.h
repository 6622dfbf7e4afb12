// What the NNLS solver derives from the filterbank once per call (README.md: "Per call"):
// the bins any filter touches, the band structure and spectral norm of A = fb^T, the mel
// envelope's weights, and the entropy passes' precomputed runs of bins.
#pragma once

#include "../ell_taps.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace inverse_mel {
namespace nnls {
namespace {

// Bins [f_lo, f_hi) are the ones some filter touches; per-bin tile arrays hold only those
// rows (row f at (f - f_lo) * len), since every other bin's solution is 0.
struct BinRange {
  int64_t lo = 0, hi = 0;
  int64_t rows() const { return hi - lo; }
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

// The mel envelope spreads each band's energy density over its bins:
// env[f] = sum_j w_fj m[k_j] / area[k_j] / sum_j w_fj, area[k] = sum_f w_fk. Returns
// w_fj / area[k_j] / sum_j w_fj per tap, in float64 (taps64: the filterbank in float64, same taps).
template <typename scalar_t>
std::vector<double> envelope_weights(const CompactTaps<scalar_t>& taps, const CompactTaps<double>& taps64,
                                     int64_t n_freqs, int64_t n_mels) {
  std::vector<double> envelope_weight64(taps.weight.size(), 0.0);
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
  return envelope_weight64;
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

}  // namespace
}  // namespace nnls
}  // namespace inverse_mel
