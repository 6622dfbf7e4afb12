// Each NNLS frame is solved scaled by a power of two, to max |m| in [1, 2), and scaled back on
// output: exact, so results are bit-identical for any input scale, and squares of very quiet (or
// loud) frames neither underflow nor overflow. Shared by the CPU solver and the per-frame one.
#pragma once

#include "host_device.h"

#include <cmath>
#include <limits>

namespace inverse_mel {
namespace nnls {

INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE int exponent_of(float x) {
  return ilogbf(x);
}
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE int exponent_of(double x) {
  return ilogb(x);
}
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE float two_to(float, int e) {
  return ldexpf(1.0f, e);
}
INVERSE_MEL_HOST_DEVICE INVERSE_MEL_FORCE_INLINE double two_to(double, int e) {
  return ldexp(1.0, e);
}

// The scale of a frame whose largest magnitude is max_abs (1 for an all-zero or non-finite frame).
// The exponent is clamped so that the scale and its inverse stay normal numbers: a subnormal frame
// (|m| < 2^-126 in float32, e.g. near-silence) would otherwise get a scale of 2^130 = inf and come out
// NaN (found on recorded speech). Such a frame is scaled by 2^126 instead, which is still exact.
template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE scalar_t frame_scale(scalar_t max_abs) {
  constexpr int kMaxScaleExponent = std::numeric_limits<scalar_t>::max_exponent - 2;
  if (!(max_abs > scalar_t(0) && is_finite(max_abs))) {
    return scalar_t(1);
  }
  int exponent = -exponent_of(max_abs);
  exponent = exponent < -kMaxScaleExponent ? -kMaxScaleExponent : exponent;
  exponent = exponent > kMaxScaleExponent ? kMaxScaleExponent : exponent;
  return two_to(scalar_t(1), exponent);
}

}  // namespace nnls
}  // namespace inverse_mel
