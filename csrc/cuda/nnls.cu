// CUDA kernels of inverse_mel::nnls and inverse_mel::nnls_backward (schemas in csrc/inverse_mel.cpp),
// also registered as _nnls_per_frame / _nnls_backward_per_frame: the per-frame solver of
// shared/nnls_frame.h, one thread per frame, which the CPU tests check against the CPU solver.
//
//   prepare_bank_kernel   one thread: what shared/nnls_bank.h derives from the filterbank (the touched
//                         bins, the Gram's bands, ||A||_2, the envelope weights), on the device, so
//                         the forward never reads the filterbank on the host
//   nnls_forward_kernel   one thread per frame (a grid-stride loop over a grid that fills the SMs):
//                         adjacent frames are adjacent in
//                         memory in (..., n_mels, time), so the mel reads and the output and info
//                         writes are coalesced; the solver's state is thread-local (mel-sized);
//                         phase 2's iterate lives in `workspace`, the threads' rows interleaved
//   nnls_backward_kernel  one thread per frame, the implicit derivative on the free set
//   mel_projection_kernel one thread per frame, mel-consistent Griffin-Lim's magnitude step
//                         (FrameNnls::project: phase 1 with the prior as the envelope)
//
// Every launch: device guard, the current stream, a launch check, early return on empty input, no
// host synchronisation (CUDA-graph safe). Filterbanks of more than kFrameMaxMels mels are refused
// from their shape; a bank whose bins touch more than kFrameMaxBands filters (only custom, not mel,
// banks) gives NaN frames marked not converged, since the host cannot see it without a sync (the
// Python layer refuses it when it builds the operator).
#include "../shared/nnls_bank.h"
#include "../shared/nnls_checks.h"
#include "../shared/nnls_frame.h"
#include "../shared/nnls_frame_backward.h"

#include "launch.h"

#include <torch/csrc/stable/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

namespace inverse_mel {
namespace {

constexpr int kThreads = 128;

// header: lo, hi, bands (int64); norm: ||A||_2; envelope: (n_freqs, taps); scratch: n_mels * (3 + kFrameMaxBands).
template <typename scalar_t>
__global__ void prepare_bank_kernel(const int64_t* index, const scalar_t* weight, int64_t n_freqs, int64_t taps,
                                    int64_t n_mels, int64_t* header, double* norm, double* envelope, double* scratch) {
  if (blockIdx.x != 0 || threadIdx.x != 0) {
    return;
  }
  int64_t lo = 0, hi = 0;
  nnls::touched_bin_range(index, weight, n_freqs, taps, n_mels, &lo, &hi);
  const int64_t bands = nnls::gram_bands(index, weight, n_freqs, taps, n_mels);
  header[0] = lo;
  header[1] = hi;
  header[2] = bands;
  double* area = scratch;
  double* x = scratch + n_mels;
  double* y = scratch + 2 * n_mels;
  double* gram = scratch + 3 * n_mels;
  *norm = bands <= nnls::kFrameMaxBands ? nnls::spectral_norm(index, weight, n_freqs, taps, n_mels, bands, gram, x, y)
                                        : 0.0;
  nnls::envelope_weights(index, weight, n_freqs, taps, n_mels, area, envelope);
}

struct BankArrays {
  Tensor index, weight, header, norm, envelope;
};

template <typename scalar_t>
BankArrays prepare_bank(const Tensor& tap_index, const Tensor& tap_weight, int64_t n_mels, cudaStream_t stream) {
  const Tensor index = as_contiguous(tap_index);
  const Tensor weight = as_contiguous(tap_weight);
  const int64_t n_freqs = index.size(0), taps = index.size(1);
  BankArrays bank{index, weight, empty_on(tap_index, {3}), empty_on(tap_weight, {1}, ScalarType::Double),
                  empty_on(tap_weight, {std::max<int64_t>(n_freqs * taps, 1)}, ScalarType::Double)};
  const Tensor scratch = empty_on(tap_weight, {n_mels * (3 + nnls::kFrameMaxBands)}, ScalarType::Double);
  prepare_bank_kernel<scalar_t><<<1, 1, 0, stream>>>(
      index.const_data_ptr<int64_t>(), weight.const_data_ptr<scalar_t>(), n_freqs, taps, n_mels,
      bank.header.mutable_data_ptr<int64_t>(), bank.norm.mutable_data_ptr<double>(),
      bank.envelope.mutable_data_ptr<double>(), scratch.mutable_data_ptr<double>());
  STD_CUDA_KERNEL_LAUNCH_CHECK();
  return bank;
}

template <typename scalar_t>
__device__ nnls::FrameBank<scalar_t> device_bank(const int64_t* index, const scalar_t* weight, const double* envelope,
                                                 const int64_t* band_edge_fill, int64_t n_freqs, int64_t taps,
                                                 int64_t n_mels, const int64_t* header, const double* norm) {
  return nnls::FrameBank<scalar_t>{index, weight, envelope, band_edge_fill, n_freqs, taps, n_mels,
                                   header[0], header[1], header[2], *norm};
}

template <typename scalar_t, int kMels>
__global__ void __launch_bounds__(kThreads) nnls_forward_kernel(
    const scalar_t* __restrict__ mel, int64_t stride_b, int64_t stride_k, int64_t stride_t, int64_t batch,
    int64_t time, const int64_t* index, const scalar_t* weight, const double* envelope, const int64_t* band_edge_fill,
    int64_t n_freqs, int64_t taps, int64_t n_mels, const int64_t* header, const double* norm, int64_t max_iter,
    double tol, scalar_t* __restrict__ out, int32_t* __restrict__ iterations, scalar_t* __restrict__ residual,
    bool* __restrict__ converged, double* workspace) {
  const nnls::FrameBank<scalar_t> bank =
      device_bank(index, weight, envelope, band_edge_fill, n_freqs, taps, n_mels, header, norm);
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t threads = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const nnls::StridedRow s_work{workspace + thread, threads};  // interleaved: coalesced
  for (int64_t frame = thread; frame < batch * time; frame += threads) {
    const int64_t b = frame / time, t = frame - b * time;
    scalar_t* out_frame = out + b * n_freqs * time + t;
    if (bank.bands > nnls::kFrameMaxBands) {
      for (int64_t f = 0; f < n_freqs; ++f) {
        out_frame[f * time] = std::numeric_limits<scalar_t>::quiet_NaN();
      }
      iterations[frame] = 0;
      residual[frame] = std::numeric_limits<scalar_t>::quiet_NaN();
      converged[frame] = false;
      continue;
    }
    nnls::FrameNnls<scalar_t, kMels, nnls::kFrameMaxBands> solver(bank, max_iter, tol);
    const nnls::FrameReport<scalar_t> report = solver.solve(mel + b * stride_b + t * stride_t, stride_k, out_frame, time, s_work);
    iterations[frame] = report.steps;
    residual[frame] = report.residual;
    converged[frame] = report.converged;
  }
}

template <typename scalar_t, int kMels>
__global__ void __launch_bounds__(kThreads) nnls_backward_kernel(
    const scalar_t* __restrict__ grad, const scalar_t* __restrict__ solution, int64_t batch, int64_t time,
    const int64_t* index, const scalar_t* weight, const double* envelope, int64_t n_freqs, int64_t taps,
    int64_t n_mels, const int64_t* header, const double* norm, scalar_t* __restrict__ grad_mel) {
  const nnls::FrameBank<scalar_t> bank = device_bank(index, weight, envelope, nullptr, n_freqs, taps, n_mels, header, norm);
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t threads = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t frame = thread; frame < batch * time; frame += threads) {
    const int64_t b = frame / time, t = frame - b * time;
    if (bank.bands > nnls::kFrameMaxBands) {
      for (int64_t k = 0; k < n_mels; ++k) {
        grad_mel[(b * n_mels + k) * time + t] = std::numeric_limits<scalar_t>::quiet_NaN();
      }
      continue;
    }
    nnls::FrameNnlsBackward<scalar_t, kMels, nnls::kFrameMaxBands> solver(bank);
    const int64_t offset = b * n_freqs * time + t;
    solver.solve(grad + offset, solution + offset, time, grad_mel + b * n_mels * time + t, time);
  }
}

// mel-consistent Griffin-Lim's magnitude step: FrameNnls::project, one thread per frame.
template <typename scalar_t, int kMels>
__global__ void __launch_bounds__(kThreads) mel_projection_kernel(
    const scalar_t* __restrict__ mel, int64_t mel_stride_b, int64_t mel_stride_k, int64_t mel_stride_t,
    const scalar_t* __restrict__ prior, int64_t prior_stride_b, int64_t prior_stride_f, int64_t prior_stride_t,
    int64_t batch, int64_t time, const int64_t* index, const scalar_t* weight, const double* envelope,
    int64_t n_freqs, int64_t taps, int64_t n_mels, const int64_t* header, const double* norm, double penalty,
    int64_t steps, scalar_t* __restrict__ out) {
  const nnls::FrameBank<scalar_t> bank = device_bank(index, weight, envelope, nullptr, n_freqs, taps, n_mels, header, norm);
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t threads = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t frame = thread; frame < batch * time; frame += threads) {
    const int64_t b = frame / time, t = frame - b * time;
    scalar_t* out_frame = out + b * n_freqs * time + t;
    const scalar_t* prior_frame = prior + b * prior_stride_b + t * prior_stride_t;
    if (bank.bands > nnls::kFrameMaxBands) {
      for (int64_t f = 0; f < n_freqs; ++f) {
        out_frame[f * time] = std::numeric_limits<scalar_t>::quiet_NaN();
      }
      continue;
    }
    nnls::FrameNnls<scalar_t, kMels, nnls::kFrameMaxBands> solver(bank);
    solver.project(mel + b * mel_stride_b + t * mel_stride_t, mel_stride_k, prior_frame, prior_stride_f, penalty, steps,
                   out_frame, time);
  }
}

// Enough blocks to fill every SM to the occupancy the kernel's registers allow (more would only
// queue), fewer when there are fewer frames. The local memory of every resident thread is reserved
// by the driver whatever the grid, so filling the SMs costs only the phase-2 workspace.
template <typename Kernel>
int64_t grid_for(Kernel kernel, int64_t frames, const Tensor& on) {
  int sms = 0, blocks_per_sm = 0;
  STD_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, on.get_device_index()));
  STD_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kernel, kThreads, 0));
  const int64_t needed = (frames + kThreads - 1) / kThreads;
  return std::max<int64_t>(1, std::min<int64_t>(needed, static_cast<int64_t>(sms) * std::max(blocks_per_sm, 1)));
}

void check_mel_capacity(int64_t n_mels, const char* op) {
  STD_TORCH_CHECK(n_mels <= nnls::kFrameMaxMels, op, " (CUDA kernel): at most ", nnls::kFrameMaxMels,
                  " mel bands, found ", n_mels, "; solve larger filterbanks on the CPU");
}

// Fills `t` (contiguous, on the current device) with the byte `value`, on `stream`.
void fill_bytes(const Tensor& t, int value, cudaStream_t stream) {
  STD_CUDA_CHECK(cudaMemsetAsync(t.data_ptr(), value, static_cast<size_t>(t.numel()) * t.element_size(), stream));
}

std::tuple<Tensor, Tensor, Tensor, Tensor> nnls_cuda(const Tensor& melspec, const Tensor& tap_index,
                                                     const Tensor& tap_weight, int64_t max_iter, double tol,
                                                     const std::optional<Tensor>& band_edge_fill) {
  check_nnls_inputs(melspec, tap_index, tap_weight, max_iter, tol, band_edge_fill, /*cuda=*/true);
  const int64_t n_mels = melspec.size(-2), time = melspec.size(-1), n_freqs = tap_index.size(0);
  check_mel_capacity(n_mels, "nnls");
  const auto guard = device_guard(melspec);
  const std::vector<int64_t> frame_sizes = nnls_frame_sizes(melspec);
  Tensor out = empty_on(melspec, nnls_output_sizes(melspec, n_freqs));
  Tensor iterations = empty_on(melspec, frame_sizes, ScalarType::Int);
  Tensor residual = empty_on(melspec, frame_sizes);
  Tensor converged = empty_on(melspec, frame_sizes, ScalarType::Bool);
  cudaStream_t stream = current_stream(melspec);
  if (out.numel() == 0 || n_mels == 0) {
    fill_bytes(out, 0, stream);
    fill_bytes(iterations, 0, stream);
    fill_bytes(residual, 0, stream);
    fill_bytes(converged, 1, stream);  // true
    return {out, iterations, residual, converged};
  }
  const std::optional<Tensor> fill =
      band_edge_fill.has_value() ? std::optional<Tensor>(as_contiguous(*band_edge_fill)) : std::nullopt;
  THO_DISPATCH_V2(melspec.scalar_type(), "nnls_cuda", AT_WRAP([&] {
    const Batched3<scalar_t> mel3(melspec);
    const int64_t batch = mel3.batch;
    const BankArrays bank = prepare_bank<scalar_t>(tap_index, tap_weight, n_mels, stream);
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      const int64_t blocks = grid_for(nnls_forward_kernel<scalar_t, kMels>, batch * time, melspec);
      // Phase 2's float64 iterate: n_freqs per thread of the grid, interleaved.
      const Tensor workspace = empty_on(melspec, {blocks * kThreads * n_freqs}, ScalarType::Double);
      nnls_forward_kernel<scalar_t, kMels><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
          mel3.data, mel3.stride_batch, mel3.stride_row, mel3.stride_col, batch, time,
          bank.index.const_data_ptr<int64_t>(), bank.weight.const_data_ptr<scalar_t>(),
          bank.envelope.const_data_ptr<double>(), fill.has_value() ? fill->const_data_ptr<int64_t>() : nullptr,
          n_freqs, bank.index.size(1), n_mels, bank.header.const_data_ptr<int64_t>(),
          bank.norm.const_data_ptr<double>(), max_iter, tol, out.mutable_data_ptr<scalar_t>(),
          iterations.mutable_data_ptr<int32_t>(), residual.mutable_data_ptr<scalar_t>(),
          converged.mutable_data_ptr<bool>(), workspace.mutable_data_ptr<double>());
      STD_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }), AT_FLOATING_TYPES);
  return {out, iterations, residual, converged};
}

Tensor nnls_backward_cuda(const Tensor& grad, const Tensor& solution, const Tensor& tap_index,
                          const Tensor& tap_weight, int64_t n_mels) {
  check_nnls_backward_inputs(grad, solution, tap_index, tap_weight, n_mels, /*cuda=*/true);
  check_mel_capacity(n_mels, "nnls_backward");
  const auto guard = device_guard(grad);
  const int64_t time = grad.size(-1), n_freqs = grad.size(-2);
  Tensor grad_mel = empty_on(grad, with_last_two(leading_sizes(grad), n_mels, time));
  cudaStream_t stream = current_stream(grad);
  fill_bytes(grad_mel, 0, stream);
  if (grad_mel.numel() == 0 || n_freqs == 0) {
    return grad_mel;
  }
  const Tensor grad_c = as_contiguous(grad);
  const Tensor sol_c = as_contiguous(solution);
  const int64_t batch = grad_c.numel() / (n_freqs * time);
  THO_DISPATCH_V2(grad.scalar_type(), "nnls_backward_cuda", AT_WRAP([&] {
    const BankArrays bank = prepare_bank<scalar_t>(tap_index, tap_weight, n_mels, stream);
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      const int64_t blocks = grid_for(nnls_backward_kernel<scalar_t, kMels>, batch * time, grad);
      nnls_backward_kernel<scalar_t, kMels><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
          grad_c.const_data_ptr<scalar_t>(), sol_c.const_data_ptr<scalar_t>(), batch, time,
          bank.index.const_data_ptr<int64_t>(), bank.weight.const_data_ptr<scalar_t>(),
          bank.envelope.const_data_ptr<double>(), n_freqs, bank.index.size(1), n_mels,
          bank.header.const_data_ptr<int64_t>(), bank.norm.const_data_ptr<double>(),
          grad_mel.mutable_data_ptr<scalar_t>());
      STD_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }), AT_FLOATING_TYPES);
  return grad_mel;
}

Tensor mel_projection_cuda(const Tensor& melspec, const Tensor& prior, const Tensor& tap_index,
                           const Tensor& tap_weight, double penalty, int64_t steps) {
  check_mel_projection_inputs(melspec, prior, tap_index, tap_weight, penalty, steps, /*cuda=*/true);
  const int64_t n_mels = melspec.size(-2), time = melspec.size(-1), n_freqs = tap_index.size(0);
  check_mel_capacity(n_mels, "mel_projection");
  const auto guard = device_guard(melspec);
  Tensor out = empty_on(prior, sizes_of(prior));
  if (out.numel() == 0) {
    return out;
  }
  if (n_mels == 0) {  // nothing to fit: the prior itself (a cold path, through the dispatcher)
    torch::stable::copy_(out, prior);
    return out;
  }
  cudaStream_t stream = current_stream(melspec);
  THO_DISPATCH_V2(melspec.scalar_type(), "mel_projection_cuda", AT_WRAP([&] {
    const Batched3<scalar_t> mel3(melspec);
    const Batched3<scalar_t> prior3(prior);
    const int64_t batch = mel3.batch;
    const BankArrays bank = prepare_bank<scalar_t>(tap_index, tap_weight, n_mels, stream);
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      const int64_t blocks = grid_for(mel_projection_kernel<scalar_t, kMels>, batch * time, melspec);
      mel_projection_kernel<scalar_t, kMels><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
          mel3.data, mel3.stride_batch, mel3.stride_row, mel3.stride_col, prior3.data, prior3.stride_batch,
          prior3.stride_row, prior3.stride_col, batch, time, bank.index.const_data_ptr<int64_t>(),
          bank.weight.const_data_ptr<scalar_t>(), bank.envelope.const_data_ptr<double>(), n_freqs,
          bank.index.size(1), n_mels, bank.header.const_data_ptr<int64_t>(), bank.norm.const_data_ptr<double>(),
          penalty, steps, out.mutable_data_ptr<scalar_t>());
      STD_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }), AT_FLOATING_TYPES);
  return out;
}

std::vector<int64_t> nnls_cuda_launch_info(const Tensor& like, int64_t n_mels) {
  STD_TORCH_CHECK(like.is_cuda(), "_nnls_cuda_launch_info: like must be a CUDA tensor, found ", device_text(like));
  STD_TORCH_CHECK(n_mels >= 1, "_nnls_cuda_launch_info: n_mels must be >= 1, found ", n_mels);
  check_mel_capacity(n_mels, "_nnls_cuda_launch_info");
  const auto guard = device_guard(like);
  const int device = like.get_device_index();
  std::vector<int64_t> info;
  THO_DISPATCH_V2(like.scalar_type(), "nnls_cuda_launch_info", AT_WRAP([&] {
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      const auto kernel = nnls_forward_kernel<scalar_t, kMels>;
      cudaFuncAttributes attributes{};
      STD_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
      int sms = 0, blocks_per_sm = 0, threads_per_sm = 0;
      STD_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
      STD_CUDA_CHECK(cudaDeviceGetAttribute(&threads_per_sm, cudaDevAttrMaxThreadsPerMultiProcessor, device));
      STD_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kernel, kThreads, 0));
      info = {attributes.numRegs, static_cast<int64_t>(attributes.localSizeBytes), kThreads, blocks_per_sm, sms,
              threads_per_sm};
    });
  }), AT_FLOATING_TYPES);
  return info;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(inverse_mel, CUDA, m) {
  m.impl("_nnls_cuda_launch_info", TORCH_BOX(&nnls_cuda_launch_info));
  m.impl("nnls", TORCH_BOX(&nnls_cuda));
  m.impl("nnls_backward", TORCH_BOX(&nnls_backward_cuda));
  m.impl("_nnls_per_frame", TORCH_BOX(&nnls_cuda));
  m.impl("_nnls_backward_per_frame", TORCH_BOX(&nnls_backward_cuda));
  m.impl("mel_projection", TORCH_BOX(&mel_projection_cuda));
}

}  // namespace inverse_mel
