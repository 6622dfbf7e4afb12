// The one way CPU kernels get the machine's vector width: each hot loop is written once, as a
// kernel struct with an always-inlined `template <int kBytes, ...> static void run(...)`, and
// simd::dispatch<Kernel>(args...) calls it compiled for the widest ISA the CPU has: AVX-512
// (kBytes 64), AVX2 (32) or the baseline (16; SSE2 on x86-64, NEON on arm64). Loops that keep sums
// in GCC vectors use Vector<scalar_t, kBytes> (a generic vector wider than the ISA is split and
// partly scalarised: measured 4x slower under AVX2 with 64-byte vectors); plain loops are
// auto-vectorised at that width. The whole library is built with -ffp-contract=off, so every
// width computes the same IEEE operations per lane and gives the same bits (tests/test_kernel_snapshot.py
// runs every width). INVERSE_MEL_VECTOR_ISA=avx2|baseline caps the choice, for those tests.
#pragma once

// Dispatch kernels pass GCC vectors only between always-inlined functions, so no call passes one
// across the ABI that -Wpsabi warns about.
#pragma GCC diagnostic ignored "-Wpsabi"

#include "../shared/host_device.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>

// Whether this build can compile code for AVX-512 and AVX2 beside the baseline.
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__CUDACC__)
#define INVERSE_MEL_HAS_ISA_CLONES 1
#else
#define INVERSE_MEL_HAS_ISA_CLONES 0
#endif

#define INVERSE_MEL_ALWAYS_INLINE inline __attribute__((always_inline))


namespace inverse_mel {
namespace simd {

// kBytes-byte vectors of scalar_t and of the same-width unsigned integer (GCC/Clang vector extensions).
template <typename scalar_t>
struct UnsignedOf;
template <>
struct UnsignedOf<float> {
  using type = uint32_t;
};
template <>
struct UnsignedOf<double> {
  using type = uint64_t;
};
template <typename scalar_t, int kBytes>
struct Vector {
  typedef scalar_t type __attribute__((vector_size(kBytes)));
  typedef typename UnsignedOf<scalar_t>::type bits __attribute__((vector_size(kBytes)));
  static constexpr int64_t lanes = kBytes / static_cast<int64_t>(sizeof(scalar_t));
};

template <int kBytes, typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE typename Vector<scalar_t, kBytes>::type load(const scalar_t* p) {
  typename Vector<scalar_t, kBytes>::type v;
  __builtin_memcpy(&v, p, sizeof(v));  // rows are not aligned to whole vectors
  return v;
}

template <int kBytes, typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void store(scalar_t* p, typename Vector<scalar_t, kBytes>::type v) {
  __builtin_memcpy(p, &v, sizeof(v));
}

// relu that keeps NaN (like torch.relu), so a bad frame stays visibly bad. value_t is a scalar
// or a GCC vector of them (value_t{} is zero either way).
template <typename value_t>
INVERSE_MEL_ALWAYS_INLINE value_t relu_keep_nan(value_t v) {
  return v < value_t{} ? value_t{} : v;
}

// 2: AVX-512, 1: AVX2, 0: baseline; the CPU's widest, capped by INVERSE_MEL_VECTOR_ISA (read once
// per process).
inline int isa_level() {
  static const int level = [] {
#if INVERSE_MEL_HAS_ISA_CLONES
    const int detected = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    const int detected = 0;
#endif
    const char* cap = std::getenv("INVERSE_MEL_VECTOR_ISA");
    if (cap != nullptr && std::strcmp(cap, "baseline") == 0) {
      return 0;
    }
    if (cap != nullptr && std::strcmp(cap, "avx2") == 0) {
      return std::min(detected, 1);
    }
    // Any other value means the widest; the Python layer warns about it when it loads the
    // library (the stable ABI has no C++ warning channel).
    return detected;
  }();
  return level;
}

namespace {
#if INVERSE_MEL_HAS_ISA_CLONES
template <typename Kernel, typename... Args>
__attribute__((target("avx512f"))) void run_avx512(Args&&... args) {
  Kernel::template run<64>(std::forward<Args>(args)...);
}
template <typename Kernel, typename... Args>
__attribute__((target("avx2"))) void run_avx2(Args&&... args) {
  Kernel::template run<32>(std::forward<Args>(args)...);
}
#endif
template <typename Kernel, typename... Args>
void run_baseline(Args&&... args) {
  Kernel::template run<16>(std::forward<Args>(args)...);
}
}  // namespace

// Kernel::template run<kBytes>(args...) compiled for the widest ISA (see the top of this file).
template <typename Kernel, typename... Args>
void dispatch(Args&&... args) {
#if INVERSE_MEL_HAS_ISA_CLONES
  const int level = isa_level();
  if (level == 2) {
    return run_avx512<Kernel>(std::forward<Args>(args)...);
  }
  if (level == 1) {
    return run_avx2<Kernel>(std::forward<Args>(args)...);
  }
#endif
  run_baseline<Kernel>(std::forward<Args>(args)...);
}

}  // namespace simd
}  // namespace inverse_mel

// Defines `name(args...)`, which runs the always-inlined template function `name##_body(args...)`
// through simd::dispatch: for a plain loop that only needs to be auto-vectorised at the CPU's width.
#define INVERSE_MEL_DISPATCHED(name)                                                       \
  struct name##_kernel {                                                                   \
    template <int kBytes, typename... Args>                                                \
    static INVERSE_MEL_ALWAYS_INLINE void run(Args&&... args) {                            \
      name##_body(std::forward<Args>(args)...);                                            \
    }                                                                                      \
  };                                                                                       \
  template <typename... Args>                                                              \
  void name(Args&&... args) {                                                              \
    ::inverse_mel::simd::dispatch<name##_kernel>(std::forward<Args>(args)...);             \
  }
