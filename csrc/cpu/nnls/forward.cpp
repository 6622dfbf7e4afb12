// CPU kernel of the NNLS forward (op inverse_mel::nnls; entry point in nnls.cpp): the tile loop.
// Per tile of frames (README.md: "Tile layout"): scale, phase 1 (entropy_newton.h), write the
// entropy solution out with its optimality measure, test every frame (shared/nnls_stopping.h), phase 2
// (projected_newton.h) for the rest, then the bins no filter touches.
#include "kernels.h"

#include "../ell_taps.h"
#include "../simd.h"
#include "entropy_newton.h"
#include "entropy_passes.h"
#include "filterbank.h"
#include "lane_ops.h"
#include "projected_newton.h"
#include "../../shared/nnls_rules.h"
#include "../../shared/nnls_stopping.h"
#include "tile.h"


#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

namespace inverse_mel {
namespace nnls {

template <typename scalar_t>
void nnls_forward_kernel(const Batched3<scalar_t>& mel3, const Tensor& tap_index, const Tensor& tap_weight,
                         const std::vector<int64_t>& band_edge_fill, int64_t max_iter, double tol, int64_t n_freqs,
                         scalar_t* out_ptr, int32_t* iter_ptr, scalar_t* res_ptr, bool* conv_ptr) {
  const int64_t batch = mel3.batch;
  const int64_t n_mels = mel3.rows;
  const int64_t time = mel3.cols;
  // Per call (README.md: "Per call"): the filterbank as the passes read it.
  const CompactTaps<scalar_t> taps(tap_index, tap_weight, n_mels, "nnls");
  const FilterbankConstants<scalar_t> consts(taps, n_freqs, n_mels);
  const BinRange bins = touched_bins(taps, n_freqs);
  const int64_t rows = bins.rows();
  const int64_t bands = consts.bands;
  // Phase 2 runs in float64 (see ProjectedNewton): the filterbank in float64, same taps.
  const CompactTaps<double> taps64(taps);
  const std::vector<double> envelope_weight64 = envelope_weights(taps, n_freqs, n_mels);
  const EntropyWeights<scalar_t> weights(taps, envelope_weight64, bins);

  const int64_t tile_time = forward_tile_frames<scalar_t>();
  const int64_t tiles_per_item = (time + tile_time - 1) / tile_time;
  const scalar_t* mel_ptr = mel3.data;
  const int64_t mel_stride_b = mel3.stride_batch;
  const int64_t mel_stride_k = mel3.stride_row;
  const int64_t mel_stride_t = mel3.stride_col;
  const scalar_t tol_s = static_cast<scalar_t>(tol);
  const scalar_t lipschitz = consts.spectral_norm * consts.spectral_norm;  // of the gradient A^T (A s - m)

  torch::stable::parallel_for(0, batch * tiles_per_item, 1, [&](int64_t tile_begin, int64_t tile_end) {
    const int64_t cap = round_up_to_vector<scalar_t>(std::min(tile_time, time));
    TileFrames<scalar_t> frames(n_mels, cap);
    EntropyNewton<scalar_t> entropy(taps, weights, n_mels, bands, cap);
    std::vector<scalar_t> mapping_squared(cap), objective(cap), scratch(4 * cap);
    std::vector<int64_t> phase2_frames(cap);
    // Allocated on first use: on real spectrograms few frames need it.
    std::unique_ptr<ProjectedNewton<double>> projected_newton_storage;

    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
      const int64_t b = tile / tiles_per_item;
      const int64_t t0 = (tile % tiles_per_item) * tile_time;
      const int64_t tile_len = std::min(tile_time, time - t0);
      scalar_t* out_tile = out_ptr + b * n_freqs * time + t0;
      frames.load(mel_ptr + b * mel_stride_b + t0 * mel_stride_t, mel_stride_k, mel_stride_t, n_mels, tile_len);
      const int64_t ld = frames.ld;

      entropy.solve(frames, max_iter, tol);

      // The entropy solution of every frame, written out, and the NNLS tests.
      simd::dispatch<EntropyWrite>(taps, weights, tile_len, ld, frames.mel.data(), frames.lam.data(),
                                   frames.residual.data(), frames.unscale.data(), out_tile, time, lipschitz,
                                   mapping_squared.data(), scratch.data());
      lane_dot(n_mels, tile_len, ld, frames.residual.data(), frames.residual.data(), objective.data());
      auto report = [&](int64_t t, int32_t steps, scalar_t relative, bool ok) {
        iter_ptr[b * time + t0 + t] = steps;
        res_ptr[b * time + t0 + t] = relative;
        conv_ptr[b * time + t0 + t] = ok;
      };
      int64_t len = 0;
      for (int64_t t = 0; t < tile_len; ++t) {
        const Verdict verdict = nnls_verdict(objective[t], mapping_squared[t], frames.mel_norm[t], tol_s,
                                             consts.spectral_norm, frames.steps[t], max_iter);
        if (verdict == Verdict::kContinue) {
          phase2_frames[len++] = t;
        } else {
          report(t, frames.steps[t], relative_residual(objective[t], frames.mel_norm[t]),
                 verdict == Verdict::kConverged);
        }
      }

      // Phase 2: projected Newton steps for the rest, from the entropy solution.
      if (len > 0) {
        if (!projected_newton_storage) {
          projected_newton_storage = std::make_unique<ProjectedNewton<double>>(
              taps64, envelope_weight64.data(), bins, n_mels, bands, consts.spectral_norm_exact, cap);
        }
        ProjectedNewton<double>& projected_newton = *projected_newton_storage;
        double* start = projected_newton.start();
        double* mel = projected_newton.mel();
        for (int64_t f = 0; f < rows; ++f) {
          const scalar_t* row = out_tile + (bins.lo + f) * time;
          for (int64_t i = 0; i < len; ++i) {
            start[f * len + i] = static_cast<double>(row[phase2_frames[i]] * frames.scale[phase2_frames[i]]);
          }
        }
        for (int64_t k = 0; k < n_mels; ++k) {
          for (int64_t i = 0; i < len; ++i) {
            mel[k * len + i] = static_cast<double>(frames.mel[k * ld + phase2_frames[i]]);
          }
        }
        for (int64_t i = 0; i < len; ++i) {
          projected_newton.iterations()[i] = frames.steps[phase2_frames[i]];
        }
        projected_newton.run(len, max_iter, tol, [&](int64_t id, const double* column, int64_t stride,
                                                     double relative, int32_t steps, bool ok) {
          const int64_t t = phase2_frames[id];
          report(t, steps, static_cast<scalar_t>(relative), ok);
          for (int64_t f = 0; f < rows; ++f) {
            out_tile[(bins.lo + f) * time + t] = static_cast<scalar_t>(column[f * stride]) * frames.unscale[t];
          }
        });
      }

      fill_unweighed_bins(out_tile, time, tile_len, n_freqs, bins.lo, bins.hi,
                          band_edge_fill.empty() ? nullptr : band_edge_fill.data());
    }
  });
}

template void nnls_forward_kernel<float>(const Batched3<float>&, const Tensor&, const Tensor&,
                                         const std::vector<int64_t>&, int64_t, double, int64_t, float*, int32_t*,
                                         float*, bool*);
template void nnls_forward_kernel<double>(const Batched3<double>&, const Tensor&, const Tensor&,
                                          const std::vector<int64_t>&, int64_t, double, int64_t, double*, int32_t*,
                                          double*, bool*);

}  // namespace nnls
}  // namespace inverse_mel
