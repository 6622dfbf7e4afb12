// Allocation of the CPU kernels' outputs.
#pragma once

#include "../shared/nnls_checks.h"
#include "../shared/stable_tensor.h"

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace inverse_mel {

// A fresh output larger than glibc's mmap threshold is page-faulted in on first write at ~4 GB/s
// with 4 KiB pages. Asking for transparent huge pages before the first write cuts that several-fold
// (measured: 66 MB from 12 ms to 2.4 ms). It is only advice: if the kernel refuses, nothing changes.
inline Tensor empty_output(const Tensor& like, const std::vector<int64_t>& sizes) {
  Tensor out = empty_on(like, sizes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t(2) << 20;
  const uintptr_t nbytes = static_cast<uintptr_t>(out.numel()) * out.element_size();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(out.data_ptr());
  const uintptr_t end = begin + nbytes;
  const uintptr_t aligned_begin = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t aligned_end = end & ~(kHugePage - 1);
  if (nbytes >= 4 * kHugePage && aligned_end > aligned_begin) {
    madvise(reinterpret_cast<void*>(aligned_begin), aligned_end - aligned_begin, MADV_HUGEPAGE);
  }
#endif
  return out;
}

// The outputs of the CPU NNLS ops (nnls, _nnls_per_frame) for melspec (..., n_mels, time): the
// solution (..., n_freqs, time), uninitialised, and the per-frame reports (..., time) started as
// "0 steps, residual 0, converged" (what a frame with nothing to fit reports).
inline std::tuple<Tensor, Tensor, Tensor, Tensor> nnls_outputs(const Tensor& melspec, int64_t n_freqs) {
  const std::vector<int64_t> frame_sizes = nnls_frame_sizes(melspec);
  Tensor out = empty_output(melspec, nnls_output_sizes(melspec, n_freqs));
  Tensor iterations = empty_on(melspec, frame_sizes, ScalarType::Int);
  Tensor residual = empty_on(melspec, frame_sizes);
  Tensor converged = empty_on(melspec, frame_sizes, ScalarType::Bool);
  zero_(iterations);
  zero_(residual);
  std::fill_n(converged.mutable_data_ptr<bool>(), converged.numel(), true);
  return {out, iterations, residual, converged};
}

}  // namespace inverse_mel
