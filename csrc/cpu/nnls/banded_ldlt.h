// A banded symmetric positive definite matrix per lane (frame), its LDL^T factorisation and
// solves, vectorised over the lanes: the Newton systems of both NNLS phases and of the backward,
// K = A diag(w) A^T + ridge I with A = fb^T. A mel bank's K is tridiagonal (bands = 2).
//
// Storage: (bands * n_mels) rows of `stride` lanes; row d * n_mels + k holds K[k, k - d] for the
// first `len` lanes (README.md: "Tile layout"). Factoring overwrites it with D (band 0) and L.
#pragma once

#include "../ell_taps.h"
#include "../simd.h"
#include "filterbank.h"
#include "lane_ops.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <utility>
#include <vector>

namespace inverse_mel {
namespace nnls {
namespace {

// Row d * n_mels + k of band storage, as the kernels below address it.
template <typename scalar_t>
struct BandRows {
  scalar_t* data;
  int64_t n_mels, stride;
  INVERSE_MEL_ALWAYS_INLINE scalar_t* at(int64_t d, int64_t k) const { return data + (d * n_mels + k) * stride; }
};

// Banded LDL^T in place: for each row k, L[k, j] = (K[k, j] - sum_i L[k, i] L[j, i] D[i]) / D[j],
// D[k] = K[k, k] - sum_i L[k, i]^2 D[i], with i, j within the band. `row` is len scratch lanes.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void ldlt_factor_body(BandRows<scalar_t> band, int64_t bands, int64_t len, scalar_t* row) {
  const int64_t n_mels = band.n_mels;
  const scalar_t tiny = std::numeric_limits<scalar_t>::min();
  for (int64_t k = 0; k < n_mels; ++k) {
    for (int64_t dj = std::min<int64_t>(bands - 1, k); dj >= 1; --dj) {  // j = k - dj, left to right
      const int64_t j = k - dj;
      scalar_t* lkj = band.at(dj, k);
      for (int64_t t = 0; t < len; ++t) {
        row[t] = lkj[t];
      }
      // i runs over columns shared by rows k and j, left of j.
      for (int64_t di = dj + 1; di < bands && di <= k; ++di) {
        const int64_t i = k - di;
        if (j - i >= bands) {
          continue;
        }
        const scalar_t* lki = band.at(di, k);
        const scalar_t* lji = band.at(j - i, j);
        const scalar_t* dii = band.at(0, i);
        for (int64_t t = 0; t < len; ++t) {
          row[t] -= lki[t] * lji[t] * dii[t];
        }
      }
      const scalar_t* djj = band.at(0, j);
      for (int64_t t = 0; t < len; ++t) {
        lkj[t] = row[t] / djj[t];
      }
    }
    scalar_t* dkk = band.at(0, k);
    for (int64_t di = 1; di < bands && di <= k; ++di) {
      const scalar_t* lki = band.at(di, k);
      const scalar_t* dii = band.at(0, k - di);
      for (int64_t t = 0; t < len; ++t) {
        dkk[t] -= lki[t] * lki[t] * dii[t];
      }
    }
    for (int64_t t = 0; t < len; ++t) {
      // K is positive definite (ridge); round-off must not make a pivot vanish.
      dkk[t] = dkk[t] > tiny ? dkk[t] : tiny;
    }
  }
}

// K = A diag(weight) A^T per lane over the bins [bins.lo, bins.hi) (weight: their rows, `stride`
// lanes each), plus ridge_relative[t] * max_k K[k, k] + tiny on the diagonal (a per-frame scale:
// the weights differ between frames), then factored.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void ldlt_assemble_and_factor_body(
    BandRows<scalar_t> band, int64_t bands, int64_t len, scalar_t* row, const CompactTaps<scalar_t>& taps,
    BinRange bins, const scalar_t* weight, const scalar_t* ridge_relative) {
  const int64_t n_mels = band.n_mels;
  const int64_t stride = band.stride;
  std::fill(band.data, band.data + bands * n_mels * stride, scalar_t(0));
  for (int64_t f = bins.lo; f < bins.hi; ++f) {
    const int64_t c = taps.count[f];
    const int64_t* idx = taps.index.data() + f * taps.taps;
    const scalar_t* w = taps.weight.data() + f * taps.taps;
    const scalar_t* weight_f = weight + (f - bins.lo) * stride;
    for (int64_t a = 0; a < c; ++a) {
      for (int64_t b = a; b < c; ++b) {
        const int64_t hi = std::max(idx[a], idx[b]);
        const int64_t d = std::abs(idx[a] - idx[b]);
        // Diagonal entries collect w_a^2; a pair a != b lands once below the diagonal.
        const scalar_t ww = w[a] * w[b];
        scalar_t* dst = band.at(d, hi);
        for (int64_t t = 0; t < len; ++t) {
          dst[t] += ww * weight_f[t];
        }
      }
    }
  }
  std::fill(row, row + len, scalar_t(0));
  for (int64_t k = 0; k < n_mels; ++k) {
    const scalar_t* diag = band.at(0, k);
    for (int64_t t = 0; t < len; ++t) {
      row[t] = std::max(row[t], diag[t]);
    }
  }
  const scalar_t tiny = std::numeric_limits<scalar_t>::min() / std::numeric_limits<scalar_t>::epsilon();
  for (int64_t k = 0; k < n_mels; ++k) {
    scalar_t* diag = band.at(0, k);
    for (int64_t t = 0; t < len; ++t) {
      diag[t] += ridge_relative[t] * row[t] + tiny;
    }
  }
  ldlt_factor_body(band, bands, len, row);
}

// Add ridge[t] to K's diagonal per lane, then factor.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void ldlt_factor_with_ridge_body(
    BandRows<scalar_t> band, int64_t bands, int64_t len, scalar_t* row, const scalar_t* ridge) {
  for (int64_t k = 0; k < band.n_mels; ++k) {
    scalar_t* diag = band.at(0, k);
    for (int64_t t = 0; t < len; ++t) {
      diag[t] += ridge[t];
    }
  }
  ldlt_factor_body(band, bands, len, row);
}

// rhs (n_mels rows of `stride` lanes) <- K^-1 rhs, with K factored.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void ldlt_solve_body(BandRows<scalar_t> band, int64_t bands, int64_t len, scalar_t* rhs) {
  const int64_t n_mels = band.n_mels;
  const int64_t stride = band.stride;
  for (int64_t k = 0; k < n_mels; ++k) {  // L z = rhs
    scalar_t* xk = rhs + k * stride;
    for (int64_t d = 1; d < bands && d <= k; ++d) {
      const scalar_t* l = band.at(d, k);
      const scalar_t* xj = rhs + (k - d) * stride;
      for (int64_t t = 0; t < len; ++t) {
        xk[t] -= l[t] * xj[t];
      }
    }
  }
  for (int64_t k = 0; k < n_mels; ++k) {  // D y = z
    scalar_t* xk = rhs + k * stride;
    const scalar_t* dk = band.at(0, k);
    for (int64_t t = 0; t < len; ++t) {
      xk[t] /= dk[t];
    }
  }
  for (int64_t k = n_mels - 1; k >= 0; --k) {  // L^T x = y
    scalar_t* xk = rhs + k * stride;
    for (int64_t d = 1; d < bands && k + d < n_mels; ++d) {
      const scalar_t* l = band.at(d, k + d);
      const scalar_t* xj = rhs + (k + d) * stride;
      for (int64_t t = 0; t < len; ++t) {
        xk[t] -= l[t] * xj[t];
      }
    }
  }
}

// Add ridge[t] to K's diagonal per lane, factor, and solve K x = rhs in place: the same
// operations as factor_with_ridge then solve, so the same bits. A tridiagonal K (a triangular
// bank) takes one fused sweep down the rows and one back up, instead of six.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void ldlt_factor_with_ridge_and_solve_body(
    BandRows<scalar_t> band, int64_t bands, int64_t len, scalar_t* row, const scalar_t* ridge, scalar_t* rhs) {
  if (bands != 2) {
    ldlt_factor_with_ridge_body(band, bands, len, row, ridge);
    ldlt_solve_body(band, bands, len, rhs);
    return;
  }
  const int64_t n_mels = band.n_mels;
  const int64_t stride = band.stride;
  const scalar_t tiny = std::numeric_limits<scalar_t>::min();
  scalar_t* __restrict__ z_previous = row;  // L z = rhs, row k - 1
  for (int64_t k = 0; k < n_mels; ++k) {
    scalar_t* __restrict__ dk = band.at(0, k);
    scalar_t* __restrict__ xk = rhs + k * stride;
    if (k == 0) {
      INVERSE_MEL_IVDEP
      for (int64_t t = 0; t < len; ++t) {
        const scalar_t d = dk[t] + ridge[t];
        dk[t] = d > tiny ? d : tiny;
        z_previous[t] = xk[t];
        xk[t] = xk[t] / dk[t];
      }
      continue;
    }
    scalar_t* __restrict__ lk = band.at(1, k);
    const scalar_t* __restrict__ d_previous = band.at(0, k - 1);
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < len; ++t) {
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
  for (int64_t k = n_mels - 2; k >= 0; --k) {  // L^T x = y
    scalar_t* __restrict__ xk = rhs + k * stride;
    const scalar_t* __restrict__ l = band.at(1, k + 1);
    const scalar_t* __restrict__ x_next = rhs + (k + 1) * stride;
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < len; ++t) {
      xk[t] -= l[t] * x_next[t];
    }
  }
}

INVERSE_MEL_DISPATCHED(ldlt_assemble_and_factor)
INVERSE_MEL_DISPATCHED(ldlt_solve)
INVERSE_MEL_DISPATCHED(ldlt_factor_with_ridge_and_solve)

template <typename scalar_t>
class BandedLdlt {
 public:
  BandedLdlt(int64_t n_mels, int64_t bands, int64_t cap)
      : n_mels_(n_mels), bands_(bands), len_(cap), stride_(cap), storage_(bands * n_mels * cap), row_(cap) {}

  // Work on `len` lanes of rows that keep `stride` lanes (the entropy phase keeps its tile's
  // stride while frames leave; the projected Newton phase compacts, so stride == len).
  void set_lanes(int64_t len, int64_t stride) {
    len_ = len;
    stride_ = stride;
  }
  int64_t lanes() const { return len_; }

  // K = A diag(weight) A^T + ridge (see ldlt_assemble_and_factor_body), factored.
  void assemble_and_factor(const CompactTaps<scalar_t>& taps, BinRange bins, const scalar_t* weight,
                           const scalar_t* ridge_relative) {
    ldlt_assemble_and_factor(rows(), bands_, len_, row_.data(), taps, bins, weight, ridge_relative);
  }

  // The entropy phase assembles K itself, in one pass with the rest of its dual: the rows it adds
  // into (entropy_passes.h), before factor_with_ridge_and_solve.
  BandRows<scalar_t> assembly() { return rows(); }

  void factor_with_ridge_and_solve(const scalar_t* ridge, scalar_t* rhs) {
    ldlt_factor_with_ridge_and_solve(rows(), bands_, len_, row_.data(), ridge, rhs);
  }
  void solve(scalar_t* rhs) { ldlt_solve(rows(), bands_, len_, rhs); }

  // Lane moves of the entropy phase's compaction: lanes[holes[p]] = lanes[sources[p]] in every row.
  void move_lanes(const std::vector<int64_t>& holes, const std::vector<int64_t>& sources) {
    for (int64_t r = 0; r < bands_ * n_mels_; ++r) {
      scalar_t* lanes = storage_.data() + r * stride_;
      for (size_t p = 0; p < holes.size(); ++p) {
        lanes[holes[p]] = lanes[sources[p]];
      }
    }
  }
  // Lanes t < len with accepted[t] != 0 take their values from `candidate`.
  void take_accepted_lanes(const BandedLdlt& candidate, const scalar_t* accepted, int64_t len) {
    select_accepted(bands_ * n_mels_, len, stride_, accepted, candidate.storage_.data(), storage_.data());
  }
  void swap(BandedLdlt& other) { storage_.swap(other.storage_); }

 private:
  BandRows<scalar_t> rows() { return BandRows<scalar_t>{storage_.data(), n_mels_, stride_}; }

  const int64_t n_mels_, bands_;
  int64_t len_, stride_;
  std::vector<scalar_t> storage_;
  std::vector<scalar_t> row_;  // scratch lanes of the factorisation
};

}  // namespace
}  // namespace nnls
}  // namespace inverse_mel
