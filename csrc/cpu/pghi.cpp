// CPU kernel of inverse_mel::pghi_integrate (schema in csrc/inverse_mel.cpp): the phase-gradient
// heap integration of csrc/shared/pghi_integrate.h, one signal per task (the integration within a
// signal is sequential). The CUDA kernel runs the same header, one signal per thread.
#include "../shared/pghi_checks.h"
#include "../shared/pghi_integrate.h"

#include <torch/csrc/stable/library.h>

#include <cstdint>
#include <vector>

namespace inverse_mel {
namespace {

Tensor pghi_integrate_cpu(const Tensor& magnitude, const Tensor& time_step, const Tensor& freq_step,
                          const Tensor& order, const Tensor& init_phase, double relative_tol) {
  check_pghi_inputs(magnitude, time_step, freq_step, order, init_phase, relative_tol, /*cuda=*/false);
  Tensor phase = empty_on(magnitude, sizes_of(magnitude));
  if (phase.numel() == 0) {
    return phase;
  }
  const int64_t n_freqs = magnitude.size(-2), frames = magnitude.size(-1), n = n_freqs * frames;
  const int64_t signals = magnitude.numel() / n;
  const Tensor mag = as_contiguous(magnitude), dt = as_contiguous(time_step), df = as_contiguous(freq_step);
  const Tensor ord = as_contiguous(order), init = as_contiguous(init_phase);
  THO_DISPATCH_V2(magnitude.scalar_type(), "pghi_integrate_cpu", AT_WRAP([&] {
    const scalar_t* mag_ptr = mag.const_data_ptr<scalar_t>();
    const scalar_t* dt_ptr = dt.const_data_ptr<scalar_t>();
    const scalar_t* df_ptr = df.const_data_ptr<scalar_t>();
    const scalar_t* init_ptr = init.const_data_ptr<scalar_t>();
    const int64_t* order_ptr = ord.const_data_ptr<int64_t>();
    scalar_t* out = phase.mutable_data_ptr<scalar_t>();
    torch::stable::parallel_for(0, signals, 1, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> heap_slots(n);
      std::vector<uint8_t> reached(n);
      for (int64_t s = begin; s < end; ++s) {
        const int64_t offset = s * n;
        pghi::integrate(mag_ptr + offset, dt_ptr + offset, df_ptr + offset, order_ptr + offset, init_ptr + offset,
                        n_freqs, frames, relative_tol, out + offset, heap_slots.data(), reached.data());
      }
    });
  }), AT_FLOATING_TYPES);
  return phase;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("pghi_integrate", TORCH_BOX(&pghi_integrate_cpu));
}

}  // namespace inverse_mel
