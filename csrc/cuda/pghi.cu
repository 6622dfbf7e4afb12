// CUDA kernel of inverse_mel::pghi_integrate (schema in csrc/inverse_mel.cpp): the phase-gradient
// heap integration of csrc/shared/pghi_integrate.h, one signal per thread (the integration within a
// signal is sequential; a batch runs its signals in parallel). Its workspace (the heap and the
// reached flags, n_freqs * frames each per signal) lives in global memory. The phase steps and the
// magnitude order are computed on the device by the Python layer (torch ops): no host round trip.
//
// Device guard, the current stream, a launch check, early return on empty input, no host sync.
#include "../shared/pghi_checks.h"
#include "../shared/pghi_integrate.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>

namespace inverse_mel {
namespace {

constexpr int kThreads = 64;

template <typename scalar_t>
__global__ void pghi_integrate_kernel(const scalar_t* magnitude, const scalar_t* time_step, const scalar_t* freq_step,
                                      const int64_t* order, const scalar_t* init_phase, int64_t signals,
                                      int64_t n_freqs, int64_t frames, double relative_tol, scalar_t* phase,
                                      int64_t* heap_slots, uint8_t* reached) {
  const int64_t s = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (s >= signals) {
    return;
  }
  const int64_t n = n_freqs * frames, offset = s * n;
  pghi::integrate(magnitude + offset, time_step + offset, freq_step + offset, order + offset, init_phase + offset,
                  n_freqs, frames, relative_tol, phase + offset, heap_slots + offset, reached + offset);
}

at::Tensor pghi_integrate_cuda(const at::Tensor& magnitude, const at::Tensor& time_step, const at::Tensor& freq_step,
                               const at::Tensor& order, const at::Tensor& init_phase, double relative_tol) {
  check_pghi_inputs(magnitude, time_step, freq_step, order, init_phase, relative_tol, at::kCUDA);
  const c10::cuda::CUDAGuard guard(magnitude.device());
  at::Tensor phase = at::empty(magnitude.sizes(), magnitude.options());
  if (phase.numel() == 0) {
    return phase;
  }
  const int64_t n_freqs = magnitude.size(-2), frames = magnitude.size(-1), n = n_freqs * frames;
  const int64_t signals = magnitude.numel() / n;
  const at::Tensor mag = magnitude.contiguous(), dt = time_step.contiguous(), df = freq_step.contiguous();
  const at::Tensor ord = order.contiguous(), init = init_phase.contiguous();
  at::Tensor heap_slots = at::empty({signals * n}, order.options());
  at::Tensor reached = at::empty({signals * n}, magnitude.options().dtype(at::kByte));
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const unsigned blocks = static_cast<unsigned>((signals + kThreads - 1) / kThreads);
  AT_DISPATCH_FLOATING_TYPES(magnitude.scalar_type(), "pghi_integrate_cuda", [&] {
    pghi_integrate_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
        mag.data_ptr<scalar_t>(), dt.data_ptr<scalar_t>(), df.data_ptr<scalar_t>(), ord.data_ptr<int64_t>(),
        init.data_ptr<scalar_t>(), signals, n_freqs, frames, relative_tol, phase.data_ptr<scalar_t>(),
        heap_slots.data_ptr<int64_t>(), reached.data_ptr<uint8_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return phase;
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CUDA, m) {
  m.impl("pghi_integrate", &pghi_integrate_cuda);
}

}  // namespace inverse_mel
