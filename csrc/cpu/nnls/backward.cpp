// CPU kernel of the NNLS backward (op inverse_mel::nnls_backward; entry point in nnls.cpp):
// the implicit derivative of the solution on its free set.
#include "kernels.h"

#include "../../shared/nnls_constants.h"
#include "../../shared/nnls_rules.h"
#include "../ell_taps.h"
#include "banded_ldlt.h"
#include "filterbank.h"
#include "lane_ops.h"
#include "tile.h"


#include <algorithm>
#include <cstdint>
#include <vector>

namespace inverse_mel {
namespace nnls {

// grad_m = (A_F A_F^T + eps I)^-1 A (free * grad), free = {solution > 0}: the transpose of
// d s_F / d m = A_F^+ on the solution's free set (the minimum-norm choice where the
// solution is not unique).
template <typename scalar_t>
void nnls_backward_kernel(const scalar_t* grad_ptr, const scalar_t* sol_ptr, int64_t batch, int64_t n_freqs,
                          int64_t time, const Tensor& tap_index, const Tensor& tap_weight, int64_t n_mels,
                          scalar_t* out_ptr) {
  const CompactTaps<scalar_t> taps(tap_index, tap_weight, n_mels, "nnls_backward");
  const FilterbankConstants<scalar_t> consts(taps, n_freqs, n_mels);
  const BinRange all_bins{0, n_freqs};
  const int64_t tile_time = backward_tile_frames<scalar_t>(n_freqs);
  const int64_t tiles_per_item = (time + tile_time - 1) / tile_time;

  torch::stable::parallel_for(0, batch * tiles_per_item, 1, [&](int64_t tile_begin, int64_t tile_end) {
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
          const bool is_free = bin_is_free_in_backward(sol_f[t]);
          free[f * len + t] = is_free ? scalar_t(1) : scalar_t(0);
          masked[f * len + t] = is_free ? grad_f[t] : scalar_t(0);
        }
      }
      // z = A (free * grad): the mel residual of `masked` against a zero target.
      mel_residual(taps, all_bins, n_mels, len, masked.data(), zero.data(), z.data());
      BandedLdlt<scalar_t> gram(n_mels, consts.bands, len);
      gram.assemble_and_factor(taps, all_bins, free.data(), ridge.data());
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

template void nnls_backward_kernel<float>(const float*, const float*, int64_t, int64_t, int64_t, const Tensor&,
                                          const Tensor&, int64_t, float*);
template void nnls_backward_kernel<double>(const double*, const double*, int64_t, int64_t, int64_t, const Tensor&,
                                           const Tensor&, int64_t, double*);

}  // namespace nnls
}  // namespace inverse_mel
