// The slice of the LibTorch stable ABI (torch/csrc/stable, torch/headeronly) that the op library
// uses, with the few helpers it lacks: one binary then loads into every torch from
// TORCH_TARGET_VERSION on (setup.py). Host code only; kernels see raw pointers and strides.
//
// Outputs are allocated through the C shim (aoti_torch_empty_strided), never by calling an op by
// name through the dispatcher: that costs a schema look-up and a boxed call per output.
#pragma once

#include <torch/csrc/inductor/aoti_torch/c/shim.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/Dispatch_v2.h>
#include <torch/headeronly/core/ScalarType.h>
#include <torch/headeronly/util/Exception.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace inverse_mel {

using Tensor = torch::stable::Tensor;
using torch::headeronly::ScalarType;

// A shape as ATen prints it, "[2, 80, 100]", for error messages.
struct ShapeText {
  std::vector<int64_t> sizes;
};
inline std::ostream& operator<<(std::ostream& os, const ShapeText& shape) {
  os << '[';
  for (size_t i = 0; i < shape.sizes.size(); ++i) {
    os << (i ? ", " : "") << shape.sizes[i];
  }
  return os << ']';
}
inline ShapeText shape_of(const Tensor& t) {
  const auto sizes = t.sizes();
  return ShapeText{std::vector<int64_t>(sizes.begin(), sizes.end())};
}
inline ShapeText shape_of(const std::vector<int64_t>& sizes) {
  return ShapeText{sizes};
}

// "cpu" or "cuda:0", as ATen prints a device.
inline std::string device_text(const Tensor& t) {
  if (t.is_cpu()) {
    return "cpu";
  }
  std::ostringstream os;
  os << (t.is_cuda() ? "cuda" : "other") << ':' << t.get_device_index();
  return os.str();
}

// The backend a kernel serves, for its error messages.
inline const char* backend_name(bool cuda) {
  return cuda ? "CUDA" : "CPU";
}

inline bool same_device(const Tensor& a, const Tensor& b) {
  return a.is_cuda() == b.is_cuda() && a.is_cpu() == b.is_cpu() && a.get_device_index() == b.get_device_index();
}

inline bool same_sizes(const Tensor& a, const Tensor& b) {
  const auto sa = a.sizes(), sb = b.sizes();
  return sa.size() == sb.size() && std::equal(sa.begin(), sa.end(), sb.begin());
}
inline bool has_sizes(const Tensor& t, const std::vector<int64_t>& sizes) {
  const auto s = t.sizes();
  return s.size() == sizes.size() && std::equal(s.begin(), s.end(), sizes.begin());
}

inline bool is_float_or_double(ScalarType type) {
  return type == ScalarType::Float || type == ScalarType::Double;
}

inline std::vector<int64_t> sizes_of(const Tensor& t) {
  const auto sizes = t.sizes();
  return std::vector<int64_t>(sizes.begin(), sizes.end());
}

// The leading dimensions of `t` (..., rows, cols), all but the last two.
inline std::vector<int64_t> leading_sizes(const Tensor& t) {
  const auto sizes = t.sizes();
  return std::vector<int64_t>(sizes.begin(), sizes.end() - 2);
}
inline std::vector<int64_t> with_last_two(std::vector<int64_t> sizes, int64_t rows, int64_t cols) {
  sizes.push_back(rows);
  sizes.push_back(cols);
  return sizes;
}

namespace detail {
inline int32_t shim_dtype(ScalarType type) {
  switch (type) {
    case ScalarType::Float:
      return aoti_torch_dtype_float32();
    case ScalarType::Double:
      return aoti_torch_dtype_float64();
    case ScalarType::Int:
      return aoti_torch_dtype_int32();
    case ScalarType::Long:
      return aoti_torch_dtype_int64();
    case ScalarType::Bool:
      return aoti_torch_dtype_bool();
    case ScalarType::Byte:
      return aoti_torch_dtype_uint8();
    default:
      STD_TORCH_CHECK(false, "inverse_mel: internal error, no output dtype ", type);
  }
  return 0;
}
}  // namespace detail

// A new contiguous tensor of `sizes` and `dtype` on `like`'s device (uninitialised).
inline Tensor empty_on(const Tensor& like, const std::vector<int64_t>& sizes, ScalarType dtype) {
  std::vector<int64_t> strides(sizes.size());
  int64_t stride = 1;
  for (size_t i = sizes.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= sizes[i] > 1 ? sizes[i] : 1;
  }
  int32_t device_type = 0;
  int32_t device_index = 0;
  TORCH_ERROR_CODE_CHECK(aoti_torch_get_device_type(like.get(), &device_type));
  TORCH_ERROR_CODE_CHECK(aoti_torch_get_device_index(like.get(), &device_index));
  AtenTensorHandle handle = nullptr;
  TORCH_ERROR_CODE_CHECK(aoti_torch_empty_strided(static_cast<int64_t>(sizes.size()), sizes.data(), strides.data(),
                                                   detail::shim_dtype(dtype), device_type, device_index, &handle));
  return Tensor(handle);
}
inline Tensor empty_on(const Tensor& like, const std::vector<int64_t>& sizes) {
  return empty_on(like, sizes, like.scalar_type());
}

inline void zero_(const Tensor& t) {
  if (t.is_cpu() && t.is_contiguous()) {  // the common case, without an op call
    std::memset(t.data_ptr(), 0, static_cast<size_t>(t.numel()) * t.element_size());
    return;
  }
  TORCH_ERROR_CODE_CHECK(aoti_torch_zero_(t.get()));
}

// `t` itself when it is contiguous; else a contiguous copy (through the dispatcher: a cold path).
inline Tensor as_contiguous(const Tensor& t) {
  return t.is_contiguous() ? t : torch::stable::contiguous(t);
}

// The bytes [begin, end) that `t`'s elements span (empty for an empty tensor).
inline std::pair<uintptr_t, uintptr_t> byte_span(const Tensor& t) {
  if (t.numel() == 0) {
    return {0, 0};
  }
  const auto sizes = t.sizes(), strides = t.strides();
  int64_t lo = 0, hi = 0;  // element offsets from data_ptr
  for (size_t d = 0; d < sizes.size(); ++d) {
    const int64_t reach = (sizes[d] - 1) * strides[d];
    (reach < 0 ? lo : hi) += reach;
  }
  const uintptr_t base = reinterpret_cast<uintptr_t>(t.data_ptr());
  const int64_t item = static_cast<int64_t>(t.element_size());
  return {base + lo * item, base + (hi + 1) * item};
}
inline bool memory_overlaps(const Tensor& a, const Tensor& b) {
  const auto sa = byte_span(a), sb = byte_span(b);
  return sa.first < sa.second && sb.first < sb.second && sa.first < sb.second && sb.first < sa.second;
}

// A (..., rows, cols) tensor seen as (batch, rows, cols) with strides: no copy when its leading
// dimensions collapse into one (always for a contiguous or expanded batch), else a contiguous copy.
template <typename scalar_t>
struct Batched3 {
  Tensor holder;  // keeps a copy alive when one was needed
  const scalar_t* data = nullptr;
  int64_t batch = 0, rows = 0, cols = 0;
  int64_t stride_batch = 0, stride_row = 0, stride_col = 0;

  explicit Batched3(const Tensor& t) : holder(t) {
    const int64_t dims = t.dim();
    rows = t.size(-2);
    cols = t.size(-1);
    if (!collapse(t)) {
      holder = torch::stable::contiguous(t);
      collapse(holder);
    }
    data = holder.const_data_ptr<scalar_t>();
    stride_row = holder.stride(dims - 2);
    stride_col = holder.stride(dims - 1);
  }

 private:
  bool collapse(const Tensor& t) {
    const auto sizes = t.sizes(), strides = t.strides();
    const int64_t lead = static_cast<int64_t>(sizes.size()) - 2;
    batch = 1;
    stride_batch = rows * cols;  // any value works for batch 1
    int64_t expected = -1;  // the stride the next outer dimension of size > 1 must have
    bool first = true;
    for (int64_t d = lead - 1; d >= 0; --d) {
      batch *= sizes[d];
      if (sizes[d] == 1) {
        continue;
      }
      if (first) {
        stride_batch = strides[d];
        first = false;
      } else if (strides[d] != expected) {
        return false;
      }
      expected = strides[d] * sizes[d];
    }
    return true;
  }
};

}  // namespace inverse_mel
