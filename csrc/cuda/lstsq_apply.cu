// CUDA kernel of inverse_mel::lstsq_apply and lstsq_apply_out (schemas in csrc/inverse_mel.cpp), one
// fused pass per tile of frames:
//
//   y[b, :, t]   = gram_pinv @ melspec[b, :, t]                                   (shared memory)
//   out[b, f, t] = relu( sum_j tap_weight[f, j] * y[b, tap_index[f, j], t] )      (written once)
//
// The same factored operator as on CPU: with gram_pinv = (fb^T fb)^+ (cut at rcond) this is
// relu(pinv(fb^T) @ melspec). On GPU the tridiagonal Cholesky band is not used: gram_pinv is its
// exact inverse. A block loads a tile of frames of melspec (any strides) into shared memory, forms
// y there and expands it, so melspec is read once and the output written once, coalesced along
// time: the bytes of a copy, plus an n_mels x n_mels product per frame from L1.
//
// The arithmetic is shared/lstsq_expand.h (projected_mel, then expanded_bin), summed in a fixed
// order without fused multiply-adds, which the CPU op _lstsq_apply_per_frame also runs: the result
// does not depend on the batch, the strides or the tile, and the CPU tests check its bits.
//
// Every launch: device guard, the current stream, a launch check, early return on empty input. No
// host synchronisation: the tap indices come from the operator the Python layer built (and checked)
// once, and the kernel skips an out-of-range tap rather than read out of bounds.
#include "../shared/lstsq_apply_checks.h"
#include "../shared/lstsq_expand.h"

#include "launch.h"

#include <torch/csrc/stable/library.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace inverse_mel {
namespace {

constexpr int kThreads = 256;
// Frames per tile: 32, one warp's width, so the shared-memory rows are read without bank conflicts
// and the output rows written in 128-byte pieces; fewer when n_mels is large (shared memory).
constexpr int64_t kTileFrames = 32;
constexpr int64_t kSharedBytes = 48 * 1024;  // the default per-block limit, no opt-in needed

template <typename scalar_t>
__global__ void __launch_bounds__(kThreads) lstsq_apply_kernel(
    const scalar_t* __restrict__ mel, int64_t stride_b, int64_t stride_k, int64_t stride_t,
    const scalar_t* __restrict__ gram_pinv,   // (n_mels, n_mels), contiguous
    const int64_t* __restrict__ tap_index,    // (n_freqs, taps), contiguous
    const scalar_t* __restrict__ tap_weight,  // (n_freqs, taps), contiguous
    scalar_t* __restrict__ out,               // (batch, n_freqs, time), contiguous
    int64_t batch, int64_t n_mels, int64_t n_freqs, int64_t taps, int64_t time, int64_t tile_frames) {
  extern __shared__ __align__(sizeof(double)) unsigned char shared_bytes[];
  scalar_t* mel_tile = reinterpret_cast<scalar_t*>(shared_bytes);  // (n_mels, tile_frames)
  scalar_t* y_tile = mel_tile + n_mels * tile_frames;               // (n_mels, tile_frames)
  const int64_t tiles_per_item = (time + tile_frames - 1) / tile_frames;
  const int64_t tile_size = n_mels * tile_frames;
  for (int64_t tile = blockIdx.x; tile < batch * tiles_per_item; tile += gridDim.x) {
    const int64_t b = tile / tiles_per_item;
    const int64_t t0 = (tile - b * tiles_per_item) * tile_frames;
    const int64_t width = time - t0 < tile_frames ? time - t0 : tile_frames;
    const scalar_t* mel_item = mel + b * stride_b + t0 * stride_t;
    for (int64_t i = threadIdx.x; i < tile_size; i += blockDim.x) {
      const int64_t k = i / tile_frames, t = i - k * tile_frames;
      mel_tile[i] = t < width ? mel_item[k * stride_k + t * stride_t] : scalar_t(0);
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < tile_size; i += blockDim.x) {
      const int64_t k = i / tile_frames, t = i - k * tile_frames;
      y_tile[i] = projected_mel(gram_pinv + k * n_mels, mel_tile + t, tile_frames, n_mels);
    }
    __syncthreads();
    scalar_t* out_item = out + b * n_freqs * time + t0;
    for (int64_t i = threadIdx.x; i < n_freqs * tile_frames; i += blockDim.x) {
      const int64_t f = i / tile_frames, t = i - f * tile_frames;
      if (t < width) {
        out_item[f * time + t] =
            expanded_bin(tap_index + f * taps, tap_weight + f * taps, taps, n_mels, y_tile + t, tile_frames);
      }
    }
    __syncthreads();  // the next tile overwrites the shared memory
  }
}

template <typename scalar_t>
void launch_lstsq_apply(const Batched3<scalar_t>& mel3, const Tensor& gram, const Tensor& index, const Tensor& weight,
                        const Tensor& out, int64_t n_freqs, cudaStream_t stream) {
  const int64_t batch = mel3.batch, n_mels = mel3.rows, time = mel3.cols;
  const int64_t row_bytes = 2 * n_mels * static_cast<int64_t>(sizeof(scalar_t));  // a frame in both tiles
  const int64_t tile_frames = std::min<int64_t>(kTileFrames, kSharedBytes / row_bytes);
  STD_TORCH_CHECK(tile_frames >= 1, "lstsq_apply (CUDA): at most ", kSharedBytes / (2 * sizeof(scalar_t)),
                  " mel bands in ", out.scalar_type(), ", found ", n_mels, "; solve larger filterbanks on the CPU");
  const int64_t tiles = batch * ((time + tile_frames - 1) / tile_frames);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(tiles, 1 << 20));  // grid-stride beyond
  const size_t shared = static_cast<size_t>(tile_frames * row_bytes);
  lstsq_apply_kernel<scalar_t><<<blocks, kThreads, shared, stream>>>(
      mel3.data, mel3.stride_batch, mel3.stride_row, mel3.stride_col, gram.const_data_ptr<scalar_t>(),
      index.const_data_ptr<int64_t>(), weight.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), batch,
      n_mels, n_freqs, index.size(1), time, tile_frames);
  STD_CUDA_KERNEL_LAUNCH_CHECK();
}

void run_lstsq_apply_cuda(
    const Tensor& melspec,
    const Tensor& gram_pinv,
    const Tensor& tap_index,
    const Tensor& tap_weight,
    const Tensor& out) {
  const int64_t n_freqs = tap_index.size(0);
  if (out.numel() == 0) {
    return;
  }
  if (melspec.size(-2) == 0) {  // nothing to invert from: the minimum-norm solution is zero
    zero_(out);
    return;
  }
  const Tensor gram = as_contiguous(gram_pinv);
  const Tensor index = as_contiguous(tap_index);
  const Tensor weight = as_contiguous(tap_weight);
  cudaStream_t stream = current_stream(melspec);
  THO_DISPATCH_V2(melspec.scalar_type(), "lstsq_apply_cuda", AT_WRAP([&] {
    launch_lstsq_apply<scalar_t>(Batched3<scalar_t>(melspec), gram, index, weight, out, n_freqs, stream);
  }), AT_FLOATING_TYPES);
}

Tensor lstsq_apply_cuda(
    const Tensor& melspec,
    const Tensor& gram_pinv,
    const Tensor& tap_index,
    const Tensor& tap_weight,
    const std::optional<Tensor>& gram_cholesky_band) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, /*cuda=*/true);
  const auto guard = device_guard(melspec);
  Tensor out = empty_on(melspec, lstsq_apply_output_sizes(melspec, tap_index));
  run_lstsq_apply_cuda(melspec, gram_pinv, tap_index, tap_weight, out);
  return out;
}

// lstsq_apply's CUDA kernel: check_finite is not honoured on CUDA (it would sync the host).
Tensor lstsq_apply_cuda_op(const Tensor& melspec, const Tensor& gram_pinv, const Tensor& tap_index,
                           const Tensor& tap_weight, const std::optional<Tensor>& gram_cholesky_band,
                           bool /*check_finite*/) {
  return lstsq_apply_cuda(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band);
}

void lstsq_apply_out_cuda(
    const Tensor& melspec,
    const Tensor& gram_pinv,
    const Tensor& tap_index,
    const Tensor& tap_weight,
    const std::optional<Tensor>& gram_cholesky_band,
    Tensor out) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, /*cuda=*/true);
  check_lstsq_apply_out(melspec, tap_index, out);
  const auto guard = device_guard(melspec);
  run_lstsq_apply_cuda(melspec, gram_pinv, tap_index, tap_weight, out);
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(inverse_mel, CUDA, m) {
  m.impl("lstsq_apply", TORCH_BOX(&lstsq_apply_cuda_op));
  m.impl("lstsq_apply_out", TORCH_BOX(&lstsq_apply_out_cuda));
  m.impl("_lstsq_apply_per_frame", TORCH_BOX(&lstsq_apply_cuda));
}

}  // namespace inverse_mel
