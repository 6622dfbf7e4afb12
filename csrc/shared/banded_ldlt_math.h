// The banded LDL^T factorisation and solves of both NNLS solvers: K = A diag(w) A^T + ridge I per
// lane (frame), band storage row d * n_mels + k holding K[k, k - d] for `len` lanes of a `stride`.
// The CPU solver runs them over its tiles' lanes (cpu/nnls/banded_ldlt.h); the per-frame solver,
// which the GPU runs, with one lane (shared/nnls_frame.h).
#pragma once

#include "host_device.h"

#include <cstdint>
#include <limits>

namespace inverse_mel {
namespace nnls {

// Row d * n_mels + k of band storage, as the kernels below address it.
template <typename scalar_t>
struct BandRows {
  scalar_t* data;
  int64_t n_mels, stride;
  INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE scalar_t* at(int64_t d, int64_t k) const { return data + (d * n_mels + k) * stride; }
};

// Banded LDL^T in place: for each row k, L[k, j] = (K[k, j] - sum_i L[k, i] L[j, i] D[i]) / D[j],
// D[k] = K[k, k] - sum_i L[k, i]^2 D[i], with i, j within the band. `row` is len scratch lanes.
template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE void ldlt_factor_body(BandRows<scalar_t> band, int64_t bands, int64_t len, scalar_t* row) {
  const int64_t n_mels = band.n_mels;
  const scalar_t tiny = std::numeric_limits<scalar_t>::min();
  for (int64_t k = 0; k < n_mels; ++k) {
    for (int64_t dj = (bands - 1 < k ? bands - 1 : k); dj >= 1; --dj) {  // j = k - dj, left to right
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

// Add ridge[t] to K's diagonal per lane, then factor.
template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE void ldlt_factor_with_ridge_body(
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
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE void ldlt_solve_body(BandRows<scalar_t> band, int64_t bands, int64_t len, scalar_t* rhs) {
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
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE void ldlt_factor_with_ridge_and_solve_body(
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

}  // namespace nnls
}  // namespace inverse_mel
