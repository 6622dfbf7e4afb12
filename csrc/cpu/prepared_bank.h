// The filterbank as the per-frame NNLS solver (shared/nnls_frame.h) reads it, prepared on the CPU
// as the GPU's one-thread kernel prepares it (cuda/nnls.cu): for the CPU builds of the per-frame
// code (per_frame.cpp, mel_projection.cpp).
#pragma once

#include "../shared/nnls_bank.h"
#include "../shared/nnls_frame.h"

#include "../shared/stable_tensor.h"

#include <cstdint>
#include <vector>

namespace inverse_mel {

// The filterbank as the per-frame solver reads it, prepared as the GPU's one-thread kernel does.
template <typename scalar_t>
struct PreparedBank {
  Tensor index, weight;  // contiguous
  std::vector<double> envelope;
  nnls::FrameBank<scalar_t> bank;

  PreparedBank(const Tensor& tap_index, const Tensor& tap_weight, int64_t n_mels, const int64_t* band_edge_fill)
      : index(as_contiguous(tap_index)), weight(as_contiguous(tap_weight)) {
    const int64_t n_freqs = index.size(0), taps = index.size(1);
    const int64_t* idx = index.const_data_ptr<int64_t>();
    const scalar_t* w = weight.const_data_ptr<scalar_t>();
    bank = nnls::FrameBank<scalar_t>{idx, w, nullptr, band_edge_fill, n_freqs, taps, n_mels, 0, 0, 1, 0.0};
    nnls::touched_bin_range(idx, w, n_freqs, taps, n_mels, &bank.lo, &bank.hi);
    bank.bands = nnls::gram_bands(idx, w, n_freqs, taps, n_mels);
    STD_TORCH_CHECK(
        bank.bands <= nnls::kFrameMaxBands && n_mels <= nnls::kFrameMaxMels,
        "the per-frame NNLS solver (the CUDA kernels) takes filterbanks of at most ", nnls::kFrameMaxMels,
        " mels whose bins touch at most ", nnls::kFrameMaxBands, " adjacent filters; found ", n_mels, " mels and ",
        bank.bands, " (use the CPU for such filterbanks)");
    std::vector<double> gram(bank.bands * n_mels), x(n_mels), y(n_mels), area(n_mels);
    bank.spectral_norm = nnls::spectral_norm(idx, w, n_freqs, taps, n_mels, bank.bands, gram.data(), x.data(), y.data());
    envelope.resize(n_freqs * taps);
    nnls::envelope_weights(idx, w, n_freqs, taps, n_mels, area.data(), envelope.data());
    bank.envelope64 = envelope.data();
  }
};

}  // namespace inverse_mel
