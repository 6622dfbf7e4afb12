// CPU kernel of inverse_mel::pghi_integrate (schema in csrc/inverse_mel.cpp): the phase-gradient
// heap integration of csrc/shared/pghi_integrate.h, one signal per task (the integration within a
// signal is sequential). The CUDA kernel runs the same header, one signal per thread.
#include "../shared/pghi_checks.h"
#include "../shared/pghi_integrate.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <cstdint>
#include <vector>

namespace inverse_mel {
namespace {

at::Tensor pghi_integrate_cpu(const at::Tensor& magnitude, const at::Tensor& time_step, const at::Tensor& freq_step,
                              const at::Tensor& order, const at::Tensor& init_phase, double relative_tol) {
  check_pghi_inputs(magnitude, time_step, freq_step, order, init_phase, relative_tol, at::kCPU);
  at::Tensor phase = at::empty(magnitude.sizes(), magnitude.options());
  if (phase.numel() == 0) {
    return phase;
  }
  const int64_t n_freqs = magnitude.size(-2), frames = magnitude.size(-1), n = n_freqs * frames;
  const int64_t signals = magnitude.numel() / n;
  const at::Tensor mag = magnitude.contiguous(), dt = time_step.contiguous(), df = freq_step.contiguous();
  const at::Tensor ord = order.contiguous(), init = init_phase.contiguous();
  AT_DISPATCH_FLOATING_TYPES(magnitude.scalar_type(), "pghi_integrate_cpu", [&] {
    const scalar_t* mag_ptr = mag.data_ptr<scalar_t>();
    const scalar_t* dt_ptr = dt.data_ptr<scalar_t>();
    const scalar_t* df_ptr = df.data_ptr<scalar_t>();
    const scalar_t* init_ptr = init.data_ptr<scalar_t>();
    const int64_t* order_ptr = ord.data_ptr<int64_t>();
    scalar_t* out = phase.data_ptr<scalar_t>();
    at::parallel_for(0, signals, 1, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> heap_slots(n);
      std::vector<uint8_t> reached(n);
      for (int64_t s = begin; s < end; ++s) {
        const int64_t offset = s * n;
        pghi::integrate(mag_ptr + offset, dt_ptr + offset, df_ptr + offset, order_ptr + offset, init_ptr + offset,
                        n_freqs, frames, relative_tol, out + offset, heap_slots.data(), reached.data());
      }
    });
  });
  return phase;
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("pghi_integrate", &pghi_integrate_cpu);
}

}  // namespace inverse_mel
