// Lane-wise loops of the solver's steps over a tile: rows of `len` lanes (frames), one frame per
// lane (README.md: "Tile layout"). Each runs at the CPU's vector width (simd.h); frames never mix,
// so a frame's result does not depend on its lane.
#pragma once

#include "../ell_taps.h"
#include "../simd.h"
#include "filterbank.h"
#include "../../shared/nnls_rules.h"

#include <algorithm>
#include <cstdint>

namespace inverse_mel {
namespace nnls {
namespace {

// out[t] = sum_j weight[j] * x[index[j] * ld + t] over a bin's taps, summed in tap order (0 for
// a bin without taps): A^T x at one bin.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void gather_taps(
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
INVERSE_MEL_ALWAYS_INLINE void mel_residual_body(
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
INVERSE_MEL_DISPATCHED(mel_residual)

// out = A^T x  (gather over each bin's taps), for one tile.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void mel_transpose_body(
    const CompactTaps<scalar_t>& taps, BinRange bins, int64_t len, const scalar_t* x, scalar_t* out) {
  for (int64_t f = bins.lo; f < bins.hi; ++f) {
    gather_taps(taps.count[f], taps.index.data() + f * taps.taps, taps.weight.data() + f * taps.taps, len, len, x,
                out + (f - bins.lo) * len);
  }
}
INVERSE_MEL_DISPATCHED(mel_transpose)

// Elementwise passes of one solver step over a (rows x len) tile, in multiversioned
// functions so that they, like the scatter/gather above, run at the machine's vector width.

// The free set and the NNLS optimality measure, per bin (nnls_rules.h, bin_is_free and
// free_set_measure): pg[t] = the squared gradient mapping of frame t; weight = W on the free set,
// 0 on the bound set.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE scalar_t is_free_bin(scalar_t s, scalar_t g, scalar_t lipschitz) {
  // Branch-free (a select, not an if) so the loops vectorise over frames.
  return bin_is_free(s, g, lipschitz) ? scalar_t(1) : scalar_t(0);
}

template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void free_set_pass_body(
    int64_t rows, int64_t len, scalar_t lipschitz, const scalar_t* s, const scalar_t* g, const scalar_t* metric,
    scalar_t* weight, scalar_t* pg) {
  std::fill(pg, pg + len, scalar_t(0));
  for (int64_t f = 0; f < rows; ++f) {
    for (int64_t t = 0; t < len; ++t) {
      const int64_t i = f * len + t;
      const scalar_t is_free = is_free_bin(s[i], g[i], lipschitz);
      weight[i] = is_free * metric[i];
      const scalar_t p = free_set_measure(is_free, s[i], g[i], lipschitz);
      pg[t] += p * p;
    }
  }
}
INVERSE_MEL_DISPATCHED(free_set_pass)

// The step: d = -d on the free set (weight > 0), d = -s (to 0) on the bound set.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void orient_step_body(int64_t n, const scalar_t* weight, const scalar_t* s, scalar_t* d) {
  for (int64_t i = 0; i < n; ++i) {
    d[i] = weight[i] > scalar_t(0) ? -d[i] : -s[i];
  }
}
INVERSE_MEL_DISPATCHED(orient_step)

// cand = max(0, s + alpha d); decrease[t] = g . (s - cand) per frame.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void projected_candidate_body(
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
INVERSE_MEL_DISPATCHED(projected_candidate)

// x[i] = accepted[t] ? y[i] : x[i] over the first len lanes of (rows x ld) arrays.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void select_accepted_body(
    int64_t rows, int64_t len, int64_t ld, const scalar_t* accepted, const scalar_t* y, scalar_t* x) {
  for (int64_t f = 0; f < rows; ++f) {
    for (int64_t t = 0; t < len; ++t) {
      x[f * ld + t] = accepted[t] != scalar_t(0) ? y[f * ld + t] : x[f * ld + t];
    }
  }
}
INVERSE_MEL_DISPATCHED(select_accepted)

// out[t] = sum_k x[k, t] * y[k, t] per lane (k in order), over the first len lanes of (rows x ld) arrays.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void lane_dot_body(
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
INVERSE_MEL_DISPATCHED(lane_dot)

// The penalised dual's gradient grad = m - fit - ridge * lam, a copy in step (the Newton solve's
// right-hand side, solved in place), and norm_sq[t] = |grad|^2 per lane.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void dual_gradient_body(
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
INVERSE_MEL_DISPATCHED(dual_gradient)

// A trial dual point lam_c = lam + alpha * step, and the quadratic part of the dual objective
// there, dual_c[t] = sum_k lam_c (m - ridge / 2 lam_c) (the entropy pass subtracts sum s).
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void dual_candidate_body(
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
INVERSE_MEL_DISPATCHED(dual_candidate)

// x *= y elementwise, and x = -x.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void multiply_body(int64_t n, const scalar_t* y, scalar_t* x) {
  for (int64_t i = 0; i < n; ++i) {
    x[i] *= y[i];
  }
}
INVERSE_MEL_DISPATCHED(multiply)

template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void negate_body(int64_t n, scalar_t* x) {
  for (int64_t i = 0; i < n; ++i) {
    x[i] = -x[i];
  }
}
INVERSE_MEL_DISPATCHED(negate)

}  // namespace
}  // namespace nnls
}  // namespace inverse_mel
