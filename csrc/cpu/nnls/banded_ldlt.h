// A banded symmetric positive definite matrix per lane (frame), its LDL^T factorisation and
// solves, vectorised over the lanes: the Newton systems of both NNLS phases and of the backward,
// K = A diag(w) A^T + ridge I with A = fb^T. A mel bank's K is tridiagonal (bands = 2).
//
// Storage: (bands * n_mels) rows of `stride` lanes; row d * n_mels + k holds K[k, k - d] for the
// first `len` lanes (README.md: "Tile layout"). Factoring overwrites it with D (band 0) and L.
#pragma once

#include "../../shared/banded_ldlt_math.h"
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
  for (int64_t k = 0; k < n_mels; ++k) {
    scalar_t* diag = band.at(0, k);
    for (int64_t t = 0; t < len; ++t) {
      diag[t] += diagonal_ridge(ridge_relative[t], row[t]);
    }
  }
  ldlt_factor_body(band, bands, len, row);
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
