// CUDA kernel of inverse_mel::lstsq_apply and lstsq_apply_out (schemas in csrc/inverse_mel.cpp).
//
//   Y[b]         = gram_pinv @ melspec[b]                       (cuBLAS: a small n_mels x n_mels GEMM)
//   out[b, f, t] = relu( sum_j tap_weight[f, j] * Y[b, tap_index[f, j], t] )   (expand_kernel)
//
// The same factored operator as on CPU: with gram_pinv = (fb^T fb)^+ (cut at rcond) this is
// relu(pinv(fb^T) @ melspec). On GPU the tridiagonal Cholesky band is not used: gram_pinv is its
// exact inverse, and the dense product runs at cuBLAS speed on an input n_mels/n_freqs the size
// of the output. The expansion reads Y (small) and writes the output once, with the ReLU fused;
// a triangular bank has at most 2 non-zero taps per bin, so it moves the fewest bytes.
//
// Every launch: device guard, the current stream, a launch check, early return on empty input. No
// host synchronisation: the tap indices come from the operator the Python layer built (and checked)
// once, and the kernel skips an out-of-range tap rather than read out of bounds. The expansion's
// arithmetic is shared/lstsq_expand.h, which the CPU op _lstsq_apply_per_frame also runs.
#include "../shared/lstsq_apply_checks.h"
#include "../shared/lstsq_expand.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

namespace inverse_mel {
namespace {

constexpr int kThreads = 256;

// Grid (time blocks, f, b): threads run over time, so reads of Y rows and writes of the output row
// are coalesced. Taps with weight 0 (ELL padding) are skipped, as on CPU, so a NaN in another
// band never enters a bin through a zero weight.
template <typename scalar_t>
__global__ void expand_kernel(
    const scalar_t* __restrict__ y,  // (batch, n_mels, time), contiguous
    const int64_t* __restrict__ tap_index,  // (n_freqs, taps)
    const scalar_t* __restrict__ tap_weight,  // (n_freqs, taps)
    scalar_t* __restrict__ out,  // (batch, n_freqs, time), contiguous
    int64_t n_mels,
    int64_t n_freqs,
    int64_t taps,
    int64_t time) {
  const int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= time) {
    return;
  }
  const int64_t f = blockIdx.y;
  const int64_t b = blockIdx.z;
  out[(b * n_freqs + f) * time + t] =
      expanded_bin(tap_index + f * taps, tap_weight + f * taps, taps, n_mels, y + b * n_mels * time + t, time);
}

void run_lstsq_apply_cuda(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    at::Tensor& out) {
  const int64_t n_mels = melspec.size(-2);
  const int64_t time = melspec.size(-1);
  const int64_t n_freqs = tap_index.size(0);
  if (out.numel() == 0) {
    return;
  }
  if (n_mels == 0) {  // nothing to invert from: the minimum-norm solution is zero
    out.zero_();
    return;
  }
  const int64_t batch = out.numel() / (n_freqs * time);
  // The small product, batched, on the current stream (cuBLAS through ATen).
  const at::Tensor y = at::matmul(gram_pinv, melspec.reshape({batch, n_mels, time})).contiguous();
  const at::Tensor index = tap_index.contiguous();
  const at::Tensor weight = tap_weight.contiguous();
  constexpr int64_t kMaxGridYZ = 65535;
  TORCH_CHECK(n_freqs <= kMaxGridYZ, "lstsq_apply (CUDA): at most ", kMaxGridYZ, " frequency bins, found ", n_freqs);
  const int64_t time_blocks = (time + kThreads - 1) / kThreads;
  TORCH_CHECK(time_blocks <= 2147483647LL, "lstsq_apply (CUDA): too many frames for one launch: ", time);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(melspec.scalar_type(), "lstsq_apply_cuda", [&] {
    // gridDim.z is limited to 65535 items: launch batch chunks, with pointers offset by whole items.
    for (int64_t b0 = 0; b0 < batch; b0 += kMaxGridYZ) {
      const int64_t items = std::min<int64_t>(kMaxGridYZ, batch - b0);
      const dim3 grid(static_cast<unsigned>(time_blocks), static_cast<unsigned>(n_freqs), static_cast<unsigned>(items));
      expand_kernel<scalar_t><<<grid, kThreads, 0, stream>>>(
          y.data_ptr<scalar_t>() + b0 * n_mels * time, index.data_ptr<int64_t>(), weight.data_ptr<scalar_t>(),
          out.data_ptr<scalar_t>() + b0 * n_freqs * time, n_mels, n_freqs, index.size(1), time);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
}

at::Tensor lstsq_apply_cuda(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& gram_cholesky_band) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, at::kCUDA);
  const c10::cuda::CUDAGuard guard(melspec.device());
  at::Tensor out = at::empty(lstsq_apply_output_sizes(melspec, tap_index), melspec.options());
  run_lstsq_apply_cuda(melspec, gram_pinv, tap_index, tap_weight, out);
  return out;
}

void lstsq_apply_out_cuda(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& gram_cholesky_band,
    at::Tensor out) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, at::kCUDA);
  check_lstsq_apply_out(melspec, tap_index, out);
  const c10::cuda::CUDAGuard guard(melspec.device());
  run_lstsq_apply_cuda(melspec, gram_pinv, tap_index, tap_weight, out);
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CUDA, m) {
  m.impl("lstsq_apply", &lstsq_apply_cuda);
  m.impl("lstsq_apply_out", &lstsq_apply_out_cuda);
  m.impl("_lstsq_apply_per_frame", &lstsq_apply_cuda);
}

}  // namespace inverse_mel
