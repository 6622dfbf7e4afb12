// 2^x as the NNLS solvers compute it: one formula for the CPU's vector lanes (value_t a GCC vector)
// and for scalars on the host and the GPU (cpu/nnls/entropy_passes.h, shared/nnls_frame.h).
#pragma once

#include "host_device.h"

#include <cstdint>
#include <cstring>

namespace inverse_mel {

// The bits of v as a to_t of the same size.
template <typename to_t, typename from_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE to_t bit_cast(const from_t& v) {
#if defined(__CUDA_ARCH__)
  to_t out;
  memcpy(&out, &v, sizeof(to_t));
  return out;
#else
  return __builtin_bit_cast(to_t, v);
#endif
}

// 2^x, vectorisable: x = k + r (k = round(x), so |r| <= 1/2 and r is exact), 2^r by a
// polynomial, 2^k from the exponent bits. Base 2 needs no Cody-Waite reduction: the passes use
// exponent weights w log2(e) (EntropyWeights, filterbank.h), so 2^u is e^(A^T lam). Plain IEEE operations only
// (no libm call, built without FMA contraction), so every vector width and lane, and the GPU
// (built with -fmad=false), give the same bits.
// Relative error 2.9e-6 (float: degree-4 minimax) and 2e-16 (double: degree-12 Taylor of
// e^(r ln 2)); large arguments are clamped so that the result stays finite, and below lo it is 0.
template <typename scalar_t>
struct Exp2Constants;
template <>
struct Exp2Constants<float> {
  using bits_t = uint32_t;  // unsigned: the shift into the exponent field drops the bits above
  static constexpr float lo = -86.0f, hi = 127.0f;  // 2^lo ~ 1e-26
  // 1.5 * 2^23 + bias: adding it rounds to an integer, and the low bits then hold k + bias.
  static constexpr float shifter = 12582912.0f + 127.0f;
  static constexpr int mantissa_bits = 23, degree = 4;
  // 2^r ~ 1 + c1 r + ... + c4 r^4 on [-1/2, 1/2], minimax in relative error with p(0) = 1
  // (fitted by linear programming on 4001 points; 2.88e-6 after rounding to float, as accurate
  // as a degree-5 Taylor polynomial).
  static constexpr float coefficient(int i) {
    constexpr float c[] = {1.0f, 0x1.62e12ap-1f, 0x1.ec0382p-3f, 0x1.c9fd1ep-5f, 0x1.3a007ap-7f};
    return c[i];
  }
  template <typename value_t>
  INVERSE_MEL_HOST_DEVICE static value_t reduced(value_t r) {
    return r;
  }
};
template <>
struct Exp2Constants<double> {
  using bits_t = uint64_t;
  static constexpr double lo = -865.0, hi = 1023.0;  // 2^lo ~ 1e-260
  static constexpr double shifter = 6755399441055744.0 + 1023.0;  // 1.5 * 2^52 + bias
  static constexpr int mantissa_bits = 52, degree = 12;
  static constexpr double coefficient(int i) {  // Taylor: 1 / i!
    double value = 1.0;
    for (int j = 2; j <= i; ++j) {
      value /= j;
    }
    return value;
  }
  template <typename value_t>
  INVERSE_MEL_HOST_DEVICE static value_t reduced(value_t r) {  // the Taylor polynomial is in r ln 2
    return r * 0.6931471805599453;
  }
};

// sum_{j >= i}^{degree} coefficient(j) r^(j - i), in Horner form (i = 0: the polynomial for
// 2^r). value_t is scalar_t or a vector of it (see Vector).
template <typename scalar_t, int i, typename value_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE value_t exp2_polynomial(value_t r) {
  using C = Exp2Constants<scalar_t>;
  constexpr scalar_t coefficient = C::coefficient(i);
  if constexpr (i == C::degree) {
    return value_t{} + coefficient;
  } else {
    return exp2_polynomial<scalar_t, i + 1>(r) * r + coefficient;
  }
}

// The same operations on a scalar or on a vector of lanes, so both give the same bits per lane.
template <typename scalar_t, typename value_t = scalar_t, typename bits_t = typename Exp2Constants<scalar_t>::bits_t>
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE value_t exp2_approx(value_t x) {
  using C = Exp2Constants<scalar_t>;
  const value_t lo = value_t{} + C::lo, hi = value_t{} + C::hi, shifter = value_t{} + C::shifter;
  value_t v = x < lo ? lo : x;
  v = v > hi ? hi : v;
  const value_t shifted = v + shifter;  // k + shifter, k = round(v)
  const value_t r = v - (shifted - shifter);
  const value_t p = exp2_polynomial<scalar_t, 0>(C::reduced(r));
  // The low mantissa bits of `shifted` hold k + bias (in [1, 2 bias] after the clamps); shifted
  // into the exponent field (the bits above drop out) they make 2^k.
  const bits_t two_to_k = bit_cast<bits_t>(shifted) << C::mantissa_bits;
  const value_t result = p * bit_cast<value_t>(two_to_k);
  // Below lo the result is flushed to 0: a bin suppressed that far is zero for every purpose,
  // and subnormal spectra would slow every later pass (and underflow when scaled back).
  return x < lo ? value_t{} : result;
}

}  // namespace inverse_mel
