// INVERSE_MEL_HOST_DEVICE marks code that CPU and CUDA share: compiled for the device by nvcc, and
// as plain C++ on the host, where the CPU tests check the very arithmetic the GPU runs.
#pragma once

#ifdef __CUDACC__
#define INVERSE_MEL_HOST_DEVICE __host__ __device__
#else
#define INVERSE_MEL_HOST_DEVICE
#endif

// Inlined everywhere: the CPU's vectorised passes need their helpers inlined into the ISA-targeted
// caller (cpu/simd.h), and small device helpers belong in registers.
#ifdef __CUDACC__
#define INVERSE_MEL_FORCE_INLINE __forceinline__
#else
#define INVERSE_MEL_FORCE_INLINE inline __attribute__((always_inline))
#endif

// Loops over lanes that read and write distinct rows (e.g. a bin's taps name distinct mels),
// which GCC cannot prove: without this it versions or gives up on vectorising them (host only).
#if defined(__CUDA_ARCH__) || !defined(__GNUC__) || defined(__clang__)
#define INVERSE_MEL_IVDEP
#else
#define INVERSE_MEL_IVDEP _Pragma("GCC ivdep")
#endif

#include <cmath>

namespace inverse_mel {

// The correctly rounded square root (IEEE on the host and on the GPU, which nvcc keeps by default).
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE float square_root(float x) {
  return sqrtf(x);
}
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE double square_root(double x) {
  return sqrt(x);
}

// Neither NaN nor infinite (x - x is NaN for both), without libm.
template <typename real_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE bool is_finite(real_t x) {
  return (x - x) == real_t(0);
}

}  // namespace inverse_mel
