// What both NNLS solvers derive from the filterbank, given as ELL taps (bin f's tap j: mel index
// tap_index[f * taps + j], weight tap_weight[f * taps + j]; zero weights are padding). Host and device:
// the CPU solver calls these once per call (cpu/nnls/filterbank.h), the CUDA one in a one-thread
// kernel before the frames (cuda/nnls.cu), so both start from the same numbers.
#pragma once

#include "host_device.h"
#include "nnls_constants.h"

#include <cmath>
#include <cstdint>

namespace inverse_mel {
namespace nnls {

// Phase 1 evaluates exp(w lam) as 2^(w log2(e) lam) (exp2_approx.h): each tap's weight times log2(e),
// rounded once to the solver's dtype.
template <typename scalar_t, typename weight_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE scalar_t exponent_weight(weight_t weight) {
  constexpr double kLog2e = 1.4426950408889634;
  return static_cast<scalar_t>(static_cast<double>(weight) * kLog2e);
}

// A tap that counts: non-zero weight and a mel index in range (the CPU checks the range up front;
// the GPU skips an out-of-range tap rather than read out of bounds).
template <typename weight_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE bool is_tap(weight_t w, int64_t k, int64_t n_mels) {
  return w != weight_t(0) && k >= 0 && k < n_mels;
}

// Adds value * w_j to target[k_j] for bin f's taps j (the bin's column of A = fb^T times value),
// with the products in T.
template <typename T, typename weight_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE void add_bin_to_mel(const int64_t* index, const weight_t* weight,
                                                                  int64_t taps, int64_t n_mels, int64_t f, T value,
                                                                  T* target) {
  for (int64_t j = 0; j < taps; ++j) {
    if (is_tap(weight[f * taps + j], index[f * taps + j], n_mels)) {
      target[index[f * taps + j]] += T(weight[f * taps + j]) * value;
    }
  }
}

// Adds bin_weight * w_a * w_b for every pair a <= b of bin f's taps to K = A diag(.) A^T in band
// storage (band[d * n_mels + k] = K[k, k - d]: a pair a != b lands once below the diagonal), with
// the products in T. The one Gram accumulation of the per-frame solver and of spectral_norm.
template <typename T, typename weight_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE void add_bin_to_band_gram(const int64_t* index, const weight_t* weight,
                                                                        int64_t taps, int64_t n_mels, int64_t f,
                                                                        T bin_weight, T* band) {
  for (int64_t a = 0; a < taps; ++a) {
    const int64_t ka = index[f * taps + a];
    if (!is_tap(weight[f * taps + a], ka, n_mels)) {
      continue;
    }
    for (int64_t b = a; b < taps; ++b) {
      const int64_t kb = index[f * taps + b];
      if (!is_tap(weight[f * taps + b], kb, n_mels)) {
        continue;
      }
      const T ww = T(weight[f * taps + a]) * T(weight[f * taps + b]);
      band[(ka > kb ? ka - kb : kb - ka) * n_mels + (ka > kb ? ka : kb)] += ww * bin_weight;
    }
  }
}

// [lo, hi): the bins some filter touches (both 0 when none does).
template <typename weight_t>
INVERSE_MEL_HOST_DEVICE void touched_bin_range(const int64_t* index, const weight_t* weight, int64_t n_freqs,
                                               int64_t taps, int64_t n_mels, int64_t* lo, int64_t* hi) {
  *lo = n_freqs;
  *hi = 0;
  for (int64_t f = 0; f < n_freqs; ++f) {
    for (int64_t j = 0; j < taps; ++j) {
      if (is_tap(weight[f * taps + j], index[f * taps + j], n_mels)) {
        *lo = *lo < f ? *lo : f;
        *hi = f + 1;
        break;
      }
    }
  }
  if (*hi <= *lo) {
    *lo = 0;
    *hi = 0;
  }
}

// 1 + the largest mel-index spread within one bin: K = A diag(w) A^T has that many bands.
template <typename weight_t>
INVERSE_MEL_HOST_DEVICE int64_t gram_bands(const int64_t* index, const weight_t* weight, int64_t n_freqs,
                                           int64_t taps, int64_t n_mels) {
  int64_t bandwidth = 0;
  for (int64_t f = 0; f < n_freqs; ++f) {
    for (int64_t a = 0; a < taps; ++a) {
      if (!is_tap(weight[f * taps + a], index[f * taps + a], n_mels)) {
        continue;
      }
      for (int64_t b = 0; b < taps; ++b) {
        if (is_tap(weight[f * taps + b], index[f * taps + b], n_mels)) {
          const int64_t spread = index[f * taps + a] - index[f * taps + b];
          bandwidth = spread > bandwidth ? spread : bandwidth;
        }
      }
    }
  }
  return bandwidth + 1;
}

// ||A||_2 for A = fb^T, in float64: the Gram fb^T fb in band storage (gram[d * n_mels + k] =
// G[k, k - d], `bands * n_mels` doubles), then a power iteration from a positive start vector (the
// Gram of a non-negative bank is non-negative, so it converges to the top pair). x, y: n_mels doubles.
template <typename weight_t>
INVERSE_MEL_HOST_DEVICE double spectral_norm(const int64_t* index, const weight_t* weight, int64_t n_freqs,
                                             int64_t taps, int64_t n_mels, int64_t bands, double* gram, double* x,
                                             double* y) {
  for (int64_t i = 0; i < bands * n_mels; ++i) {
    gram[i] = 0.0;
  }
  for (int64_t f = 0; f < n_freqs; ++f) {
    add_bin_to_band_gram(index, weight, taps, n_mels, f, 1.0, gram);
  }
  for (int64_t k = 0; k < n_mels; ++k) {
    x[k] = 1.0;
  }
  double lambda = 0.0;
  for (int iter = 0; iter < kSpectralNormMaxSteps && n_mels > 0; ++iter) {
    for (int64_t k = 0; k < n_mels; ++k) {
      y[k] = 0.0;
    }
    for (int64_t d = 0; d < bands; ++d) {
      for (int64_t k = d; k < n_mels; ++k) {
        const double v = gram[d * n_mels + k];
        y[k] += v * x[k - d];
        if (d > 0) {
          y[k - d] += v * x[k];
        }
      }
    }
    double norm = 0.0;
    for (int64_t k = 0; k < n_mels; ++k) {
      norm += y[k] * y[k];
    }
    norm = sqrt(norm);
    if (norm == 0.0) {
      return 0.0;
    }
    const double previous = lambda;
    double xnorm = 0.0;
    for (int64_t k = 0; k < n_mels; ++k) {
      xnorm += x[k] * x[k];
    }
    lambda = norm / sqrt(xnorm);
    for (int64_t k = 0; k < n_mels; ++k) {
      x[k] = y[k] / norm;
    }
    if (fabs(lambda - previous) <= kSpectralNormTolerance * lambda) {
      break;
    }
  }
  return sqrt(lambda);
}

// The mel envelope spreads each band's energy density over its bins:
// env[f] = sum_j w_fj m[k_j] / area[k_j] / sum_j w_fj, area[k] = sum_f w_fk. Writes
// w_fj / area[k_j] / sum_j w_fj per tap (0 for padding) into envelope (float64, like the taps).
// area: n_mels doubles of scratch.
template <typename weight_t>
INVERSE_MEL_HOST_DEVICE void envelope_weights(const int64_t* index, const weight_t* weight, int64_t n_freqs,
                                              int64_t taps, int64_t n_mels, double* area, double* envelope) {
  for (int64_t k = 0; k < n_mels; ++k) {
    area[k] = 0.0;
  }
  for (int64_t f = 0; f < n_freqs; ++f) {
    for (int64_t j = 0; j < taps; ++j) {
      if (is_tap(weight[f * taps + j], index[f * taps + j], n_mels)) {
        area[index[f * taps + j]] += weight[f * taps + j];
      }
    }
  }
  for (int64_t f = 0; f < n_freqs; ++f) {
    double row = 0.0;
    for (int64_t j = 0; j < taps; ++j) {
      if (is_tap(weight[f * taps + j], index[f * taps + j], n_mels)) {
        row += weight[f * taps + j];
      }
    }
    for (int64_t j = 0; j < taps; ++j) {
      const int64_t k = index[f * taps + j];
      envelope[f * taps + j] = is_tap(weight[f * taps + j], k, n_mels) ? double(weight[f * taps + j]) / area[k] / row : 0.0;
    }
  }
}

}  // namespace nnls
}  // namespace inverse_mel
