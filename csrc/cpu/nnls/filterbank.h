// What the NNLS solver derives from the filterbank once per call (README.md: "Per call"):
// the bins any filter touches, the band structure and spectral norm of A = fb^T, the mel
// envelope's weights, and the entropy passes' precomputed runs of bins.
#pragma once

#include "../../shared/nnls_bank.h"
#include "../ell_taps.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
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
  BinRange range;
  touched_bin_range(taps.index.data(), taps.weight.data(), n_freqs, taps.taps, std::numeric_limits<int64_t>::max(),
                    &range.lo, &range.hi);
  return range;
}

// Per-call constants of A = fb^T shared by all tiles (../../shared/nnls_bank.h, as the GPU computes them).
template <typename scalar_t>
struct FilterbankConstants {
  int64_t bands;  // 1 + Gram half-bandwidth
  scalar_t spectral_norm;  // ||A||_2, the scale of the stationarity test
  double spectral_norm_exact;  // the same in float64

  FilterbankConstants(const CompactTaps<scalar_t>& taps, int64_t n_freqs, int64_t n_mels) {
    bands = gram_bands(taps.index.data(), taps.weight.data(), n_freqs, taps.taps, n_mels);
    std::vector<double> gram(bands * n_mels), x(n_mels), y(n_mels);
    spectral_norm_exact = ::inverse_mel::nnls::spectral_norm(
        taps.index.data(), taps.weight.data(), n_freqs, taps.taps, n_mels, bands, gram.data(), x.data(), y.data());
    spectral_norm = static_cast<scalar_t>(spectral_norm_exact);
  }
};

// w_fj / area[k_j] / sum_j w_fj per tap, in float64 (see ../../shared/nnls_bank.h).
template <typename scalar_t>
std::vector<double> envelope_weights(const CompactTaps<scalar_t>& taps, int64_t n_freqs, int64_t n_mels) {
  std::vector<double> area(n_mels), envelope(taps.weight.size());
  ::inverse_mel::nnls::envelope_weights(taps.index.data(), taps.weight.data(), n_freqs, taps.taps, n_mels,
                                        area.data(), envelope.data());
  return envelope;
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
      exponent[i] = exponent_weight<scalar_t>(taps.weight[i]);
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
