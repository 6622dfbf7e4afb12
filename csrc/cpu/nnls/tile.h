// The NNLS forward's tiles and their frames (README.md: "Tile layout").
#pragma once

#include "../../shared/nnls_scaling.h"
#include "../simd.h"
#include "lane_ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace inverse_mel {
namespace nnls {
namespace {

// Frames per tile of the forward: its entropy phase works on mel-sized arrays only, and longer
// rows amortise each bin's loop set-up (measured on the benchmark configs at batch 32 x 1000:
// 128 float32 lanes beat 32 and 64 by 15-35%, 256 gained nothing).
template <typename scalar_t>
int64_t forward_tile_frames() {
  return 512 / static_cast<int64_t>(sizeof(scalar_t));
}

// Frames per tile of the backward: a multiple of 8 in [8, 64], so that one (bins x frames) working
// array is about 256 KiB.
template <typename scalar_t>
int64_t backward_tile_frames(int64_t n_freqs) {
  constexpr int64_t kTileBytes = 256 * 1024;
  return std::clamp<int64_t>(
      (kTileBytes / (std::max<int64_t>(n_freqs, 1) * static_cast<int64_t>(sizeof(scalar_t)))) / 8 * 8, 8, 64);
}

// n rounded up to whole 64-byte vectors of scalar_t: rows padded so that every pass runs over whole
// vectors at any ISA width (no scalar tail with a scalar exp; padding lanes compute harmless values).
template <typename scalar_t>
int64_t round_up_to_vector(int64_t n) {
  constexpr int64_t lanes = 64 / static_cast<int64_t>(sizeof(scalar_t));
  return (n + lanes - 1) / lanes * lanes;
}

// The frames of one tile, by frame: row k of an (n_mels, ld) array holds mel band k, lane t frame t
// of the tile (t < len; lanes len..ld-1 pad the row to whole vectors).
template <typename scalar_t>
struct TileFrames {
  int64_t len = 0, ld = 0;
  std::vector<scalar_t> mel;  // (n_mels, ld) the input, scaled per frame by a power of two
  std::vector<scalar_t> lam;  // (n_mels, ld) phase 1's dual point
  std::vector<scalar_t> residual;  // (n_mels, ld) A s - m at phase 1's solution
  std::vector<scalar_t> scale, unscale, mel_norm;  // (ld,) the scale, its inverse, ||m|| scaled
  std::vector<int32_t> steps;  // (ld,) Newton steps taken

  TileFrames(int64_t n_mels, int64_t cap)
      : mel(n_mels * cap), lam(n_mels * cap), residual(n_mels * cap), scale(cap), unscale(cap), mel_norm(cap),
        steps(cap) {}

  // Gathers `len` frames (any strides) and scales each by a power of two (../../shared/nnls_scaling.h).
  void load(const scalar_t* src, int64_t stride_k, int64_t stride_t, int64_t n_mels, int64_t frames) {
    len = frames;
    ld = round_up_to_vector<scalar_t>(frames);
    for (int64_t k = 0; k < n_mels; ++k) {
      for (int64_t t = 0; t < len; ++t) {
        mel[k * ld + t] = src[k * stride_k + t * stride_t];
      }
      std::fill(mel.begin() + k * ld + len, mel.begin() + (k + 1) * ld, scalar_t(0));
    }
    std::fill(scale.begin(), scale.begin() + len, scalar_t(0));
    for (int64_t k = 0; k < n_mels; ++k) {
      for (int64_t t = 0; t < len; ++t) {
        scale[t] = std::max(scale[t], std::abs(mel[k * ld + t]));
      }
    }
    for (int64_t t = 0; t < len; ++t) {
      scale[t] = frame_scale(scale[t]);
      unscale[t] = scalar_t(1) / scale[t];  // a power of two: exact
    }
    for (int64_t k = 0; k < n_mels; ++k) {
      for (int64_t t = 0; t < len; ++t) {
        mel[k * ld + t] *= scale[t];
      }
    }
    lane_dot(n_mels, len, ld, mel.data(), mel.data(), mel_norm.data());
    for (int64_t t = 0; t < len; ++t) {
      mel_norm[t] = std::sqrt(mel_norm[t]);
    }
  }
};

}  // namespace
}  // namespace nnls
}  // namespace inverse_mel
