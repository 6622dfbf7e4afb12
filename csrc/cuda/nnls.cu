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

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

namespace inverse_mel {
namespace {

constexpr int kThreads = 128;
// mel_projection's early stop (dual gradient below this times ||m||), as on the CPU.
constexpr double kProjectionTolerance = 1e-4;

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
  at::Tensor index, weight, header, norm, envelope;
};

template <typename scalar_t>
BankArrays prepare_bank(const at::Tensor& tap_index, const at::Tensor& tap_weight, int64_t n_mels, cudaStream_t stream) {
  BankArrays bank;
  bank.index = tap_index.contiguous();
  bank.weight = tap_weight.contiguous();
  const int64_t n_freqs = bank.index.size(0), taps = bank.index.size(1);
  const auto f64 = tap_weight.options().dtype(at::kDouble);
  bank.header = at::empty({3}, tap_index.options());
  bank.norm = at::empty({1}, f64);
  bank.envelope = at::empty({std::max<int64_t>(n_freqs * taps, 1)}, f64);
  at::Tensor scratch = at::empty({n_mels * (3 + nnls::kFrameMaxBands)}, f64);
  prepare_bank_kernel<scalar_t><<<1, 1, 0, stream>>>(
      bank.index.data_ptr<int64_t>(), bank.weight.data_ptr<scalar_t>(), n_freqs, taps, n_mels,
      bank.header.data_ptr<int64_t>(), bank.norm.data_ptr<double>(), bank.envelope.data_ptr<double>(),
      scratch.data_ptr<double>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return bank;
}

template <typename scalar_t>
__device__ nnls::FrameBank<scalar_t> device_bank(const int64_t* index, const scalar_t* weight, const double* envelope,
                                                 const int64_t* fill_from, int64_t n_freqs, int64_t taps,
                                                 int64_t n_mels, const int64_t* header, const double* norm) {
  return nnls::FrameBank<scalar_t>{index, weight, envelope, fill_from, n_freqs, taps, n_mels,
                                   header[0], header[1], header[2], *norm};
}

template <typename scalar_t, int kMels>
__global__ void __launch_bounds__(kThreads) nnls_forward_kernel(
    const scalar_t* __restrict__ mel, int64_t stride_b, int64_t stride_k, int64_t stride_t, int64_t batch,
    int64_t time, const int64_t* index, const scalar_t* weight, const double* envelope, const int64_t* fill_from,
    int64_t n_freqs, int64_t taps, int64_t n_mels, const int64_t* header, const double* norm, int64_t max_iter,
    double tol, scalar_t* __restrict__ out, int32_t* __restrict__ iterations, scalar_t* __restrict__ residual,
    bool* __restrict__ converged, double* workspace) {
  const nnls::FrameBank<scalar_t> bank = device_bank(index, weight, envelope, fill_from, n_freqs, taps, n_mels, header, norm);
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
    nnls::FrameNnls<scalar_t, kMels, nnls::kFrameMaxBands> solver(bank, steps, kProjectionTolerance);
    solver.project(mel + b * mel_stride_b + t * mel_stride_t, mel_stride_k, prior_frame, prior_stride_f, penalty, steps,
                   out_frame, time);
  }
}

// Enough blocks to fill every SM to the occupancy the kernel's registers allow (more would only
// queue), fewer when there are fewer frames. The local memory of every resident thread is reserved
// by the driver whatever the grid, so filling the SMs costs only the phase-2 workspace.
template <typename Kernel>
int64_t grid_for(Kernel kernel, int64_t frames, const at::Device& device) {
  int sms = 0, blocks_per_sm = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device.index()));
  C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kernel, kThreads, 0));
  const int64_t needed = (frames + kThreads - 1) / kThreads;
  return std::max<int64_t>(1, std::min<int64_t>(needed, static_cast<int64_t>(sms) * std::max(blocks_per_sm, 1)));
}

void check_mel_capacity(int64_t n_mels, const char* op) {
  TORCH_CHECK(n_mels <= nnls::kFrameMaxMels, op, " (CUDA kernel): at most ", nnls::kFrameMaxMels,
              " mel bands, found ", n_mels, "; solve larger filterbanks on the CPU");
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> nnls_cuda(
    const at::Tensor& melspec, const at::Tensor& tap_index, const at::Tensor& tap_weight, int64_t max_iter, double tol,
    const std::optional<at::Tensor>& fill_from) {
  check_nnls_inputs(melspec, tap_index, tap_weight, max_iter, tol, fill_from, at::kCUDA);
  const int64_t n_mels = melspec.size(-2), time = melspec.size(-1), n_freqs = tap_index.size(0);
  check_mel_capacity(n_mels, "nnls");
  const c10::cuda::CUDAGuard guard(melspec.device());
  const std::vector<int64_t> frame_sizes = nnls_frame_sizes(melspec);
  at::Tensor out = at::empty(nnls_output_sizes(melspec, n_freqs), melspec.options());
  at::Tensor iterations = at::empty(frame_sizes, melspec.options().dtype(at::kInt));
  at::Tensor residual = at::empty(frame_sizes, melspec.options());
  at::Tensor converged = at::empty(frame_sizes, melspec.options().dtype(at::kBool));
  if (out.numel() == 0 || n_mels == 0) {
    out.zero_();
    iterations.zero_();
    residual.zero_();
    converged.fill_(true);
    return {out, iterations, residual, converged};
  }
  const at::Tensor mel3 = melspec.reshape({-1, n_mels, time});
  const int64_t batch = mel3.size(0);
  const at::Tensor fill = fill_from.has_value() ? fill_from->contiguous() : at::Tensor();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(melspec.scalar_type(), "nnls_cuda", [&] {
    const BankArrays bank = prepare_bank<scalar_t>(tap_index, tap_weight, n_mels, stream);
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      const int64_t blocks = grid_for(nnls_forward_kernel<scalar_t, kMels>, batch * time, melspec.device());
      // Phase 2's float64 iterate: n_freqs per thread of the grid, interleaved.
      at::Tensor workspace = at::empty({blocks * kThreads * n_freqs}, melspec.options().dtype(at::kDouble));
      nnls_forward_kernel<scalar_t, kMels><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
          mel3.data_ptr<scalar_t>(), mel3.stride(0), mel3.stride(1), mel3.stride(2), batch, time,
          bank.index.data_ptr<int64_t>(), bank.weight.data_ptr<scalar_t>(), bank.envelope.data_ptr<double>(),
          fill.defined() ? fill.data_ptr<int64_t>() : nullptr, n_freqs, bank.index.size(1), n_mels,
          bank.header.data_ptr<int64_t>(), bank.norm.data_ptr<double>(), max_iter, tol, out.data_ptr<scalar_t>(),
          iterations.data_ptr<int32_t>(), residual.data_ptr<scalar_t>(), converged.data_ptr<bool>(),
          workspace.data_ptr<double>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return {out, iterations, residual, converged};
}

at::Tensor nnls_backward_cuda(const at::Tensor& grad, const at::Tensor& solution, const at::Tensor& tap_index,
                              const at::Tensor& tap_weight, int64_t n_mels) {
  check_nnls_backward_inputs(grad, solution, tap_index, tap_weight, n_mels, at::kCUDA);
  check_mel_capacity(n_mels, "nnls_backward");
  const c10::cuda::CUDAGuard guard(grad.device());
  std::vector<int64_t> sizes(grad.sizes().begin(), grad.sizes().end() - 2);
  const int64_t time = grad.size(-1), n_freqs = grad.size(-2);
  sizes.push_back(n_mels);
  sizes.push_back(time);
  at::Tensor grad_mel = at::zeros(sizes, grad.options());
  if (grad_mel.numel() == 0 || n_freqs == 0) {
    return grad_mel;
  }
  const at::Tensor grad3 = grad.reshape({-1, n_freqs, time}).contiguous();
  const at::Tensor sol3 = solution.reshape({-1, n_freqs, time}).contiguous();
  const int64_t batch = grad3.size(0);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "nnls_backward_cuda", [&] {
    const BankArrays bank = prepare_bank<scalar_t>(tap_index, tap_weight, n_mels, stream);
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      const int64_t blocks = grid_for(nnls_backward_kernel<scalar_t, kMels>, batch * time, grad.device());
      nnls_backward_kernel<scalar_t, kMels><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
          grad3.data_ptr<scalar_t>(), sol3.data_ptr<scalar_t>(), batch, time, bank.index.data_ptr<int64_t>(),
          bank.weight.data_ptr<scalar_t>(), bank.envelope.data_ptr<double>(), n_freqs, bank.index.size(1), n_mels,
          bank.header.data_ptr<int64_t>(), bank.norm.data_ptr<double>(), grad_mel.data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return grad_mel;
}

at::Tensor mel_projection_cuda(const at::Tensor& melspec, const at::Tensor& prior, const at::Tensor& tap_index,
                               const at::Tensor& tap_weight, double penalty, int64_t steps) {
  check_mel_projection_inputs(melspec, prior, tap_index, tap_weight, penalty, steps, at::kCUDA);
  const int64_t n_mels = melspec.size(-2), time = melspec.size(-1), n_freqs = tap_index.size(0);
  check_mel_capacity(n_mels, "mel_projection");
  const c10::cuda::CUDAGuard guard(melspec.device());
  at::Tensor out = at::empty(prior.sizes(), prior.options());
  if (out.numel() == 0) {
    return out;
  }
  if (n_mels == 0) {
    return out.copy_(prior);
  }
  const at::Tensor mel3 = melspec.reshape({-1, n_mels, time});
  const at::Tensor prior3 = prior.reshape({-1, n_freqs, time});
  const int64_t batch = mel3.size(0);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(melspec.scalar_type(), "mel_projection_cuda", [&] {
    const BankArrays bank = prepare_bank<scalar_t>(tap_index, tap_weight, n_mels, stream);
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      const int64_t blocks = grid_for(mel_projection_kernel<scalar_t, kMels>, batch * time, melspec.device());
      mel_projection_kernel<scalar_t, kMels><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
          mel3.data_ptr<scalar_t>(), mel3.stride(0), mel3.stride(1), mel3.stride(2), prior3.data_ptr<scalar_t>(),
          prior3.stride(0), prior3.stride(1), prior3.stride(2), batch, time, bank.index.data_ptr<int64_t>(),
          bank.weight.data_ptr<scalar_t>(), bank.envelope.data_ptr<double>(), n_freqs, bank.index.size(1), n_mels,
          bank.header.data_ptr<int64_t>(), bank.norm.data_ptr<double>(), penalty, steps, out.data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return out;
}

std::vector<int64_t> nnls_cuda_launch_info(const at::Tensor& like, int64_t n_mels) {
  TORCH_CHECK(like.is_cuda(), "_nnls_cuda_launch_info: like must be a CUDA tensor, found ", like.device());
  TORCH_CHECK(n_mels >= 1, "_nnls_cuda_launch_info: n_mels must be >= 1, found ", n_mels);
  check_mel_capacity(n_mels, "_nnls_cuda_launch_info");
  const c10::cuda::CUDAGuard guard(like.device());
  std::vector<int64_t> info;
  AT_DISPATCH_FLOATING_TYPES(like.scalar_type(), "nnls_cuda_launch_info", [&] {
    nnls::with_mel_capacity(n_mels, [&](auto capacity) {
      constexpr int kMels = decltype(capacity)::value;
      const auto kernel = nnls_forward_kernel<scalar_t, kMels>;
      cudaFuncAttributes attributes{};
      C10_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
      int sms = 0, blocks_per_sm = 0, threads_per_sm = 0;
      C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, like.device().index()));
      C10_CUDA_CHECK(cudaDeviceGetAttribute(&threads_per_sm, cudaDevAttrMaxThreadsPerMultiProcessor,
                                            like.device().index()));
      C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks_per_sm, kernel, kThreads, 0));
      info = {attributes.numRegs, static_cast<int64_t>(attributes.localSizeBytes), kThreads, blocks_per_sm, sms,
              threads_per_sm};
    });
  });
  return info;
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CUDA, m) {
  m.impl("_nnls_cuda_launch_info", &nnls_cuda_launch_info);
  m.impl("nnls", &nnls_cuda);
  m.impl("nnls_backward", &nnls_backward_cuda);
  m.impl("_nnls_per_frame", &nnls_cuda);
  m.impl("_nnls_backward_per_frame", &nnls_backward_cuda);
  m.impl("mel_projection", &mel_projection_cuda);
}

}  // namespace inverse_mel
