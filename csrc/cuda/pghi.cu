// CUDA kernel of inverse_mel::pghi_integrate (schema in csrc/inverse_mel.cpp): the phase-gradient
// heap integration of csrc/shared/pghi_integrate.h, one signal per thread (the integration within a
// signal is sequential; a batch runs its signals in parallel). Its workspace (the heap and the
// reached flags, n_freqs * frames each per signal) lives in global memory. The phase steps and the
// magnitude order are computed on the device by the Python layer (torch ops): no host round trip.
//
// Device guard, the current stream, a launch check, early return on empty input, no host sync.
#include "../shared/pghi_checks.h"
#include "../shared/pghi_integrate.h"

#include "launch.h"

#include <torch/csrc/stable/library.h>

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

template <typename scalar_t>
void launch_pghi_integrate(const Tensor& mag, const Tensor& dt, const Tensor& df, const Tensor& ord, const Tensor& init,
                           int64_t signals, int64_t n_freqs, int64_t frames, double relative_tol, const Tensor& phase,
                           const Tensor& heap_slots, const Tensor& reached, cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>((signals + kThreads - 1) / kThreads);
  pghi_integrate_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
      mag.const_data_ptr<scalar_t>(), dt.const_data_ptr<scalar_t>(), df.const_data_ptr<scalar_t>(),
      ord.const_data_ptr<int64_t>(), init.const_data_ptr<scalar_t>(), signals, n_freqs, frames, relative_tol,
      phase.mutable_data_ptr<scalar_t>(), heap_slots.mutable_data_ptr<int64_t>(), reached.mutable_data_ptr<uint8_t>());
  STD_CUDA_KERNEL_LAUNCH_CHECK();
}

Tensor pghi_integrate_cuda(const Tensor& magnitude, const Tensor& time_step, const Tensor& freq_step,
                           const Tensor& order, const Tensor& init_phase, double relative_tol) {
  check_pghi_inputs(magnitude, time_step, freq_step, order, init_phase, relative_tol, /*cuda=*/true);
  const auto guard = device_guard(magnitude);
  Tensor phase = empty_on(magnitude, sizes_of(magnitude));
  if (phase.numel() == 0) {
    return phase;
  }
  const int64_t n_freqs = magnitude.size(-2), frames = magnitude.size(-1), n = n_freqs * frames;
  const int64_t signals = magnitude.numel() / n;
  const Tensor mag = as_contiguous(magnitude), dt = as_contiguous(time_step), df = as_contiguous(freq_step);
  const Tensor ord = as_contiguous(order), init = as_contiguous(init_phase);
  Tensor heap_slots = empty_on(order, {signals * n});
  Tensor reached = empty_on(magnitude, {signals * n}, ScalarType::Byte);
  cudaStream_t stream = current_stream(magnitude);
  THO_DISPATCH_V2(magnitude.scalar_type(), "pghi_integrate_cuda", AT_WRAP([&] {
    launch_pghi_integrate<scalar_t>(mag, dt, df, ord, init, signals, n_freqs, frames, relative_tol, phase, heap_slots,
                                    reached, stream);
  }), AT_FLOATING_TYPES);
  return phase;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(inverse_mel, CUDA, m) {
  m.impl("pghi_integrate", TORCH_BOX(&pghi_integrate_cuda));
}

}  // namespace inverse_mel
