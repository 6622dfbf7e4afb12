// The entropy phase's passes over the bins (README.md: "Phase 1"). One evaluation of the dual,
// EntropyPass, and the write-out of the solution with its NNLS optimality measure, EntropyWrite,
// each a single pass over the bins that keeps a run of bins' sums in vector registers
// (simd::Vector at the ISA's width, through simd::dispatch).
#pragma once

#include "../ell_taps.h"
#include "../simd.h"
#include "banded_ldlt.h"
#include "../../shared/exp2_approx.h"
#include "filterbank.h"
#include "lane_ops.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace inverse_mel {
namespace nnls {
namespace {

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
INVERSE_MEL_ALWAYS_INLINE void entropy_values(
    const BinTaps<scalar_t>& bin, int64_t len, int64_t ld, const scalar_t* m, const scalar_t* lam, scalar_t* __restrict__ s,
    scalar_t* __restrict__ e, scalar_t* __restrict__ u, bool lam_is_zero) {
  if (lam_is_zero) {  // the start, s = max(0, envelope): no exp needed
    gather_taps(bin.count, bin.index, bin.envelope, len, ld, m, e);
    for (int64_t t = 0; t < len; ++t) {
      s[t] = simd::relu_keep_nan(e[t]);
    }
  } else if (bin.count == 1) {
    const scalar_t* __restrict__ m0 = m + bin.index[0] * ld;
    const scalar_t* __restrict__ l0 = lam + bin.index[0] * ld;
    const scalar_t c0 = bin.envelope[0], x0 = bin.exponent[0];
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < len; ++t) {
      s[t] = simd::relu_keep_nan(c0 * m0[t]) * exp2_approx<scalar_t>(x0 * l0[t]);
    }
  } else if (bin.count == 2) {
    const scalar_t* __restrict__ m0 = m + bin.index[0] * ld;
    const scalar_t* __restrict__ m1 = m + bin.index[1] * ld;
    const scalar_t* __restrict__ l0 = lam + bin.index[0] * ld;
    const scalar_t* __restrict__ l1 = lam + bin.index[1] * ld;
    const scalar_t c0 = bin.envelope[0], c1 = bin.envelope[1], x0 = bin.exponent[0], x1 = bin.exponent[1];
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < len; ++t) {
      s[t] = simd::relu_keep_nan(c0 * m0[t] + c1 * m1[t]) * exp2_approx<scalar_t>(x0 * l0[t] + x1 * l1[t]);
    }
  } else {
    gather_taps(bin.count, bin.index, bin.envelope, len, ld, m, e);
    gather_taps(bin.count, bin.index, bin.exponent, len, ld, lam, u);
    INVERSE_MEL_IVDEP
    for (int64_t t = 0; t < len; ++t) {
      s[t] = simd::relu_keep_nan(e[t]) * exp2_approx<scalar_t>(u[t]);
    }
  }
}

// s at one bin of a run, for a vector of lanes: max(0, env) * 2^u with env and u from the run's
// kTaps mel rows (m0, m1 and lam0, lam1, loaded once per run), c and x the bin's envelope and
// exponent weights. The same operations as entropy_values', so the same bits per lane.
template <typename scalar_t, int kTaps, bool kLamIsZero, typename V>
INVERSE_MEL_ALWAYS_INLINE V run_bin_value(const scalar_t* c, const scalar_t* x, V m0, V m1, V l0, V l1) {
  using B = typename simd::Vector<scalar_t, sizeof(V)>::bits;
  V envelope = c[0] * m0;
  if constexpr (kTaps == 2) {
    envelope = envelope + c[1] * m1;
  }
  envelope = simd::relu_keep_nan(envelope);
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
INVERSE_MEL_ALWAYS_INLINE void entropy_run(
    const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t f_begin, int64_t f_end,
    int64_t len, int64_t ld, const scalar_t* m, const scalar_t* lam, scalar_t* fit, BandRows<scalar_t> k_band,
    scalar_t* total) {
  using V = typename simd::Vector<scalar_t, kBytes>::type;
  constexpr int64_t lanes = simd::Vector<scalar_t, kBytes>::lanes;
  const int64_t k0 = taps.index[f_begin * taps.taps];
  const int64_t k1 = kTaps == 2 ? taps.index[f_begin * taps.taps + 1] : k0;
  scalar_t* fit0 = fit + k0 * ld;
  scalar_t* fit1 = fit + k1 * ld;
  scalar_t* k00 = k_band.at(0, k0);  // K[max, max - d] in row d * n_mels + max (banded_ldlt.h)
  scalar_t* k11 = k_band.at(0, k1);
  scalar_t* k01 = k_band.at(std::abs(k0 - k1), std::max(k0, k1));
  const V zero{};
  for (int64_t t = 0; t < len; t += lanes) {  // len is a whole number of vectors
    const V m0 = simd::load<kBytes>(m + k0 * ld + t);
    const V m1 = kTaps == 2 ? simd::load<kBytes>(m + k1 * ld + t) : zero;
    const V l0 = kLamIsZero ? zero : simd::load<kBytes>(lam + k0 * ld + t);
    const V l1 = kTaps == 2 && !kLamIsZero ? simd::load<kBytes>(lam + k1 * ld + t) : zero;
    V sum = simd::load<kBytes>(total + t), sum0 = simd::load<kBytes>(fit0 + t), sum00 = simd::load<kBytes>(k00 + t);
    V sum1 = zero, sum01 = zero, sum11 = zero;
    if constexpr (kTaps == 2) {
      sum1 = simd::load<kBytes>(fit1 + t);
      sum01 = simd::load<kBytes>(k01 + t);
      sum11 = simd::load<kBytes>(k11 + t);
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
    simd::store<kBytes>(total + t, sum);
    simd::store<kBytes>(fit0 + t, sum0);
    simd::store<kBytes>(k00 + t, sum00);
    if constexpr (kTaps == 2) {
      simd::store<kBytes>(fit1 + t, sum1);
      simd::store<kBytes>(k01 + t, sum01);
      simd::store<kBytes>(k11 + t, sum11);
    }
  }
}

// One evaluation of the entropy dual at lam, per lane, in a single pass over the bins:
//   fit = A s,  k_band = A diag(s) A^T (band storage),  total = sum_f s_f,  s = s(lam).
// Everything it reads or writes is mel-sized (n_mels x len), so a tile's working set stays in
// cache however many bins there are. len is a whole number of 64-byte vectors. Called through
// simd::dispatch (kBytes: the vector width of the ISA it was compiled for).
// kLamIsZero: the start, lam = 0, where s is the envelope itself (no exponential).
template <bool kLamIsZero>
struct EntropyPass {
  template <int kBytes, typename scalar_t>
  static INVERSE_MEL_ALWAYS_INLINE void run(
      const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t n_mels, int64_t len,
      int64_t ld, const scalar_t* m, const scalar_t* lam, scalar_t* fit, BandRows<scalar_t> k_band, int64_t bands,
      scalar_t* total, scalar_t* scratch);
};

template <bool kLamIsZero>
template <int kBytes, typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void EntropyPass<kLamIsZero>::run(
    const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t n_mels, int64_t len,
    int64_t ld, const scalar_t* m, const scalar_t* lam, scalar_t* fit, BandRows<scalar_t> k_band, int64_t bands,
    scalar_t* total, scalar_t* scratch) {
  for (int64_t row = 0; row < n_mels; ++row) {
    std::fill(fit + row * ld, fit + row * ld + len, scalar_t(0));
  }
  for (int64_t row = 0; row < bands * n_mels; ++row) {
    std::fill(k_band.data + row * ld, k_band.data + row * ld + len, scalar_t(0));
  }
  std::fill(total, total + len, scalar_t(0));
  auto band_row = [&](int64_t a, int64_t b) {  // K[max, max - d]: a pair a != b lands once below the diagonal
    return k_band.at(std::abs(a - b), std::max(a, b));
  };
  scalar_t* __restrict__ sum = total;
  scalar_t* __restrict__ s_row = scratch;
  for (const auto& run : weights.runs) {
    if (run.count == 2) {  // with 1-tap runs, all of a triangular bank
      entropy_run<kBytes, scalar_t, 2, kLamIsZero>(taps, weights, run.begin, run.end, len, ld, m, lam, fit, k_band,
                                                   total);
      continue;
    }
    if (run.count == 1) {
      entropy_run<kBytes, scalar_t, 1, kLamIsZero>(taps, weights, run.begin, run.end, len, ld, m, lam, fit, k_band,
                                                   total);
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
INVERSE_MEL_ALWAYS_INLINE void entropy_write_run(
    const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t f_begin, int64_t f_end,
    int64_t len, int64_t ld, const scalar_t* m, const scalar_t* lam, const scalar_t* residual, const scalar_t* unscale,
    scalar_t* out, int64_t out_stride, scalar_t lipschitz, scalar_t* pg) {
  using V = typename simd::Vector<scalar_t, kBytes>::type;
  constexpr int64_t lanes = simd::Vector<scalar_t, kBytes>::lanes;
  const int64_t k0 = taps.index[f_begin * taps.taps];
  const int64_t k1 = kTaps == 2 ? taps.index[f_begin * taps.taps + 1] : k0;
  const V zero{};
  for (int64_t t = 0; t < len; t += lanes) {
    const V m0 = simd::load<kBytes>(m + k0 * ld + t), l0 = simd::load<kBytes>(lam + k0 * ld + t);
    const V r0 = simd::load<kBytes>(residual + k0 * ld + t);
    const V m1 = kTaps == 2 ? simd::load<kBytes>(m + k1 * ld + t) : zero;
    const V l1 = kTaps == 2 ? simd::load<kBytes>(lam + k1 * ld + t) : zero;
    const V r1 = kTaps == 2 ? simd::load<kBytes>(residual + k1 * ld + t) : zero;
    const V unscale_t = simd::load<kBytes>(unscale + t);
    V pg_sum = simd::load<kBytes>(pg + t);
    for (int64_t f = f_begin; f < f_end; ++f) {
      const scalar_t* w = taps.weight.data() + f * taps.taps;
      const scalar_t* c = weights.envelope.data() + f * taps.taps;
      const scalar_t* x = weights.exponent.data() + f * taps.taps;
      const V v = run_bin_value<scalar_t, kTaps, false>(c, x, m0, m1, l0, l1);
      V g = w[0] * r0;  // A^T residual at the bin, as gather_taps sums it
      if constexpr (kTaps == 2) {
        g = g + w[1] * r1;
      }
      simd::store<kBytes>(out + f * out_stride + t, v * unscale_t);
      const V p = entropy_measure(v, g, lipschitz);  // see EntropyWrite
      pg_sum += p * p;
    }
    simd::store<kBytes>(pg + t, pg_sum);
  }
}

// The entropy solution at lam for every bin of the tile, written (times unscale, a power of
// two) to out (row f at out + f * out_stride), with the NNLS stationarity measure of the
// result: pg[t] = the squared gradient mapping (see free_set_pass), gradient = A^T residual,
// residual = A s - m. Runs of 1- and 2-tap bins go through entropy_write_run for whole vectors
// of lanes; the rest of the lanes, and any other bin, through the per-bin loop here. Called
// through simd::dispatch.
struct EntropyWrite {
  template <int kBytes, typename scalar_t>
  static INVERSE_MEL_ALWAYS_INLINE void run(
      const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t len, int64_t ld,
      const scalar_t* m, const scalar_t* lam, const scalar_t* residual, const scalar_t* unscale, scalar_t* out,
      int64_t out_stride, scalar_t lipschitz, scalar_t* pg, scalar_t* scratch);
};

template <int kBytes, typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void EntropyWrite::run(
    const CompactTaps<scalar_t>& taps, const EntropyWeights<scalar_t>& weights, int64_t len, int64_t ld,
    const scalar_t* m, const scalar_t* lam, const scalar_t* residual, const scalar_t* unscale, scalar_t* out,
    int64_t out_stride, scalar_t lipschitz, scalar_t* pg, scalar_t* scratch) {
  constexpr int64_t lanes = simd::Vector<scalar_t, kBytes>::lanes;
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
      // The bin's measure (nnls_rules.h): g when free, L s when bound; min(g, L s) as s >= 0.
      const scalar_t p = entropy_measure(s, g, lipschitz);
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

}  // namespace
}  // namespace nnls
}  // namespace inverse_mel
