// CPU kernel of inverse_mel::lstsq_apply (schema in csrc/inverse_mel.cpp).
//
//   out[b, f, t] = relu( sum_j tap_weight[f, j] * Y[b, tap_index[f, j], t] ),
//   Y[b]         = gram_pinv @ melspec[b]                      (n_mels x time)
//
// or, when the Cholesky band of fb^T fb is given, Y[b] solves (L L^T) Y = melspec[b]
// by banded forward/back substitution, vectorised over time: a triangular bank
// has a tridiagonal Gram, so that is ~6 n_mels flops per frame instead of 2 n_mels^2.
//
// With F = fb and gram_pinv = (fb^T fb)^+ this is relu(pinv(fb^T) @ melspec),
// because pinv(A) = A^T (A A^T)^+. A triangular mel bank has at most two
// non-zero weights per frequency bin, so the expansion costs 2 multiply-adds
// per output instead of n_mels, and the output is written exactly once.
//
// Work is split into fixed tiles of (batch item, time range). The tiling
// depends only on the shapes, never on the thread count, so results are
// bit-identical for any number of threads.
#include "../shared/lstsq_apply_checks.h"
#include "ell_taps.h"
#include "output.h"
#include "simd.h"

#include <torch/csrc/stable/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

namespace inverse_mel {
namespace {

// Whether every value is finite, from the exponent bits: an integer OR reduction the compiler
// vectorises (a loop of std::isfinite does not, and cost 4-5 us per 80 x 100 tile).
template <typename scalar_t>
bool all_finite(const scalar_t* values, int64_t n) {
  using Bits = std::conditional_t<sizeof(scalar_t) == 4, uint32_t, uint64_t>;
  constexpr Bits exponent = static_cast<Bits>(sizeof(scalar_t) == 4 ? 0x7f800000ull : 0x7ff0000000000000ull);
  Bits all_ones = 0;  // per value: its exponent bits all set (Inf or NaN) -> exponent
  for (int64_t i = 0; i < n; ++i) {
    Bits bits;
    std::memcpy(&bits, values + i, sizeof(bits));
    all_ones |= (bits & exponent) == exponent ? exponent : Bits{0};
  }
  return all_ones == 0;
}

// Above this many taps per bin a dense GEMM beats the gather-expansion.
constexpr int64_t kMaxSparseTaps = 8;
// Bytes of Y kept per tile: small enough to stay in L2 while it is expanded.
constexpr int64_t kTileBytes = 128 * 1024;

// One output row segment: out[t] = relu(sum_j w[j] * rows[j][t]).
// Specialised for the 1- and 2-tap rows of triangular banks so the loop
// vectorises; `taps` is the number of non-zero taps of this row.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void expand_row_body(
    scalar_t* __restrict__ out,
    const scalar_t* const* rows,
    const scalar_t* weights,
    int64_t taps,
    int64_t len) {
  if (taps == 0) {
    std::fill(out, out + len, scalar_t(0));
  } else if (taps == 1) {
    const scalar_t* __restrict__ y0 = rows[0];
    const scalar_t w0 = weights[0];
    for (int64_t t = 0; t < len; ++t) {
      out[t] = simd::relu_keep_nan(w0 * y0[t]);
    }
  } else if (taps == 2) {
    const scalar_t* __restrict__ y0 = rows[0];
    const scalar_t* __restrict__ y1 = rows[1];
    const scalar_t w0 = weights[0];
    const scalar_t w1 = weights[1];
    for (int64_t t = 0; t < len; ++t) {
      out[t] = simd::relu_keep_nan(w0 * y0[t] + w1 * y1[t]);
    }
  } else {
    for (int64_t t = 0; t < len; ++t) {
      scalar_t acc = 0;
      for (int64_t j = 0; j < taps; ++j) {
        acc += weights[j] * rows[j][t];
      }
      out[t] = simd::relu_keep_nan(acc);
    }
  }
}

INVERSE_MEL_DISPATCHED(expand_row)

// A row-major (rows x inner) matrix packed for tile_gemm: blocks of kGemmRows rows, stored
// per block as [j][r] (zero-padded past the last row), with the list of the columns j that
// are not zero on the whole block (an empty filter or a rank cut leaves whole zero columns).
template <typename scalar_t>
struct PackedRows {
  static constexpr int64_t kGemmRows = 8;
  int64_t rows = 0, inner = 0;
  std::vector<scalar_t> weight;  // (blocks, inner, kGemmRows)
  std::vector<int64_t> begin;  // (blocks + 1,) offsets into columns
  std::vector<int64_t> columns;

  PackedRows() = default;
  PackedRows(const scalar_t* a, int64_t rows_, int64_t inner_) : rows(rows_), inner(inner_) {
    const int64_t blocks = (rows + kGemmRows - 1) / kGemmRows;
    weight.assign(blocks * inner * kGemmRows, scalar_t(0));
    begin.assign(1, 0);
    for (int64_t blk = 0; blk < blocks; ++blk) {
      for (int64_t j = 0; j < inner; ++j) {
        bool any = false;
        for (int64_t r = 0; r < kGemmRows && blk * kGemmRows + r < rows; ++r) {
          const scalar_t w = a[(blk * kGemmRows + r) * inner + j];
          weight[(blk * inner + j) * kGemmRows + r] = w;
          any |= w != scalar_t(0);
        }
        if (any) {
          columns.push_back(j);
        }
      }
      begin.push_back(static_cast<int64_t>(columns.size()));
    }
  }
};

// out[k * out_stride + t] = (relu of) sum_j a[k, j] * x[j * len + t] for k < rows, t < len,
// with a packed as above and x a contiguous tile. Every output sums its terms in the same
// order (the block's non-zero columns, ascending), whatever the tile or the thread count: a
// BLAS GEMM chooses its blocking, and so its rounding, by the number of threads it may use,
// which made results depend on torch.set_num_threads (found by the property tests). A block
// of 8 rows x one vector of frames keeps its sums in registers.
template <bool kRelu>
struct TileGemm {
  template <int kBytes, typename scalar_t>
  static INVERSE_MEL_ALWAYS_INLINE void run(
      scalar_t* __restrict__ out,
      int64_t out_stride,
      const PackedRows<scalar_t>& packed,
      const scalar_t* __restrict__ x,
      int64_t len);
};

template <bool kRelu>
template <int kBytes, typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void TileGemm<kRelu>::run(
    scalar_t* __restrict__ out,
    int64_t out_stride,
    const PackedRows<scalar_t>& packed,
    const scalar_t* __restrict__ x,
    int64_t len) {
  constexpr int64_t R = PackedRows<scalar_t>::kGemmRows;
  using Vec = typename simd::Vector<scalar_t, kBytes>::type;
  constexpr int64_t B = simd::Vector<scalar_t, kBytes>::lanes;
  const int64_t inner = packed.inner;
  for (int64_t k = 0, blk = 0; k < packed.rows; k += R, ++blk) {
    const int64_t rb = std::min(R, packed.rows - k);
    const int64_t* col = packed.columns.data() + packed.begin[blk];
    const int64_t n_cols = packed.begin[blk + 1] - packed.begin[blk];
    const scalar_t* __restrict__ wb = packed.weight.data() + blk * inner * R;
    int64_t t0 = 0;
    for (; t0 + B <= len; t0 += B) {
      Vec acc[R] = {};
      for (int64_t c = 0; c < n_cols; ++c) {
        const int64_t j = col[c];
        const scalar_t* __restrict__ w = wb + j * R;
        Vec v;
        std::memcpy(&v, x + j * len + t0, sizeof(Vec));
        acc[0] += w[0] * v;
        acc[1] += w[1] * v;
        acc[2] += w[2] * v;
        acc[3] += w[3] * v;
        acc[4] += w[4] * v;
        acc[5] += w[5] * v;
        acc[6] += w[6] * v;
        acc[7] += w[7] * v;
      }
      const Vec zero = {};
      for (int64_t r = 0; r < rb; ++r) {
        const Vec result = kRelu ? (acc[r] < zero ? zero : acc[r]) : acc[r];
        std::memcpy(out + (k + r) * out_stride + t0, &result, sizeof(Vec));
      }
    }
    // The remaining frames: the same sums in the same order, one output at a time.
    for (int64_t r = 0; r < rb; ++r) {
      for (int64_t t = t0; t < len; ++t) {
        scalar_t acc = 0;
        for (int64_t c = 0; c < n_cols; ++c) {
          acc += wb[col[c] * R + r] * x[col[c] * len + t];
        }
        out[(k + r) * out_stride + t] = kRelu ? simd::relu_keep_nan(acc) : acc;
      }
    }
  }
}

// Solve (L L^T) Y = Y in place for one tile, Y (n_mels x len) row-major, L lower
// banded: band[d * n_mels + k] = L[k, k - d]. Each step updates a whole row of
// frames, so the inner loops run over contiguous time and vectorise.
template <typename scalar_t>
INVERSE_MEL_ALWAYS_INLINE void banded_cholesky_solve_tile_body(
    scalar_t* __restrict__ y,
    const scalar_t* band,
    const scalar_t* inv_diag,
    int64_t bands,
    int64_t n_mels,
    int64_t len) {
  for (int64_t k = 0; k < n_mels; ++k) {  // L z = m
    scalar_t* __restrict__ yk = y + k * len;
    for (int64_t d = 1; d < bands && d <= k; ++d) {
      const scalar_t l = band[d * n_mels + k];
      const scalar_t* __restrict__ yj = y + (k - d) * len;
      for (int64_t t = 0; t < len; ++t) {
        yk[t] -= l * yj[t];
      }
    }
    const scalar_t inv = inv_diag[k];
    for (int64_t t = 0; t < len; ++t) {
      yk[t] *= inv;
    }
  }
  for (int64_t k = n_mels - 1; k >= 0; --k) {  // L^T y = z
    scalar_t* __restrict__ yk = y + k * len;
    for (int64_t d = 1; d < bands && k + d < n_mels; ++d) {
      const scalar_t l = band[d * n_mels + k + d];
      const scalar_t* __restrict__ yj = y + (k + d) * len;
      for (int64_t t = 0; t < len; ++t) {
        yk[t] -= l * yj[t];
      }
    }
    const scalar_t inv = inv_diag[k];
    for (int64_t t = 0; t < len; ++t) {
      yk[t] *= inv;
    }
  }
}


INVERSE_MEL_DISPATCHED(banded_cholesky_solve_tile)

// Per-call state of the least-squares inverse relu(F (G M)) on (batch item, time range)
// tiles: the compacted filterbank, and either the Cholesky band of the Gram (solve) or the
// dense truncated pinv G (small GEMM). solve_and_expand() writes one tile of the result.
template <typename scalar_t>
class LstsqTile {
 public:
  // Per-thread scratch: the solved tile Y (n_mels x len) and the tap row pointers.
  struct Scratch {
    std::unique_ptr<scalar_t[]> y;
    std::unique_ptr<scalar_t[]> m;  // the gathered mel tile, for the dense gram product
    std::vector<const scalar_t*> rows;
  };

  LstsqTile(
      const Batched3<scalar_t>& melspec3,  // (batch, n_mels, time), any strides
      const Tensor& gram_pinv,
      const Tensor& tap_index,
      const Tensor& tap_weight,
      const std::optional<Tensor>& band_opt,
      bool check_finite)
      : melspec3_(melspec3),
        check_finite_(check_finite),
        taps(tap_index, tap_weight, melspec3.rows, "lstsq_apply"),
        n_mels(melspec3.rows),
        n_freqs(tap_index.size(0)) {
    dense_ = taps.max_count > kMaxSparseTaps;
    if (dense_) {
      // Filterbanks that are not sparse (e.g. custom banks) expand with a GEMM; the
      // dense matrix is rebuilt per call from the ELL form: n_freqs x n_mels, no factorisation.
      // Taps naming one mel twice add up, as a scatter-add would.
      const Tensor index = as_contiguous(tap_index);
      const Tensor weight = as_contiguous(tap_weight);
      const int64_t* index_ptr = index.const_data_ptr<int64_t>();
      const scalar_t* weight_ptr = weight.const_data_ptr<scalar_t>();
      const int64_t width = index.size(1);
      std::vector<scalar_t> dense_fb(n_freqs * n_mels, scalar_t(0));
      for (int64_t f = 0; f < n_freqs; ++f) {
        for (int64_t j = 0; j < width; ++j) {
          dense_fb[f * n_mels + index_ptr[f * width + j]] += weight_ptr[f * width + j];
        }
      }
      packed_fb_ = PackedRows<scalar_t>(dense_fb.data(), n_freqs, n_mels);
    }
    if (!band_opt.has_value()) {
      // Only the packed copy is kept: the kernel reads gram_pinv through it.
      const Tensor gram = as_contiguous(gram_pinv);
      packed_gram_ = PackedRows<scalar_t>(gram.const_data_ptr<scalar_t>(), n_mels, n_mels);
    } else {
      band_ = as_contiguous(*band_opt);
      bands_ = band_.size(0);
      const scalar_t* diag = band_.const_data_ptr<scalar_t>();
      inv_diag_.resize(n_mels);
      for (int64_t k = 0; k < n_mels; ++k) {
        inv_diag_[k] = diag[k] != scalar_t(0) ? scalar_t(1) / diag[k] : scalar_t(0);
      }
    }
  }

  Scratch make_scratch(int64_t max_len) const {
    // Uninitialised and no larger than this call needs: a zero-filled 128 KiB vector per
    // call would cost an mmap and its page faults on every small forward.
    Scratch scratch;
    scratch.y.reset(new scalar_t[n_mels * max_len]);
    if (bands_ == 0) {
      scratch.m.reset(new scalar_t[n_mels * max_len]);
    }
    scratch.rows.resize(std::max<int64_t>(taps.taps, 1));
    return scratch;
  }

  // out[f * out_row_stride + t] = relu(F Y)[f, t] for frames [t0, t0 + len) of item b.
  void solve_and_expand(
      int64_t b, int64_t t0, int64_t len, scalar_t* out, int64_t out_row_stride, Scratch& scratch) const {
    scalar_t* y = scratch.y.get();
    // Gather the tile (any input strides): into Y for the in-place banded solve, else into M.
    scalar_t* tile = bands_ > 0 ? y : scratch.m.get();
    const scalar_t* src = melspec3_.data + b * melspec3_.stride_batch + t0 * melspec3_.stride_col;
    const int64_t stride_k = melspec3_.stride_row;
    const int64_t stride_t = melspec3_.stride_col;
    for (int64_t k = 0; k < n_mels; ++k) {
      const scalar_t* row = src + k * stride_k;
      for (int64_t t = 0; t < len; ++t) {
        tile[k * len + t] = row[t * stride_t];
      }
    }
    // The tile is in cache now: the check costs no extra pass over memory.
    if (check_finite_ && !all_finite(tile, n_mels * len)) {
      saw_nonfinite_.store(true, std::memory_order_relaxed);
    }
    if (bands_ > 0) {
      // Solve (L L^T) Y = M in place.
      banded_cholesky_solve_tile(y, band_.const_data_ptr<scalar_t>(), inv_diag_.data(), bands_, n_mels, len);
    } else {
      // The small product Y = gram_pinv (n_mels x n_mels) @ M (n_mels x len).
      simd::dispatch<TileGemm<false>>(y, len, packed_gram_, tile, len);
    }
    if (dense_) {
      simd::dispatch<TileGemm<true>>(out, out_row_stride, packed_fb_, y, len);
      return;
    }
    for (int64_t f = 0; f < n_freqs; ++f) {
      const int64_t c = taps.count[f];
      for (int64_t j = 0; j < c; ++j) {
        scratch.rows[j] = y + taps.index[f * taps.taps + j] * len;
      }
      expand_row(out + f * out_row_stride, scratch.rows.data(), taps.weight.data() + f * taps.taps, c, len);
    }
  }

 private:
  const Batched3<scalar_t>& melspec3_;
  const bool check_finite_;
  mutable std::atomic<bool> saw_nonfinite_{false};
  PackedRows<scalar_t> packed_gram_;  // gram_pinv, when there is no band to solve with
  PackedRows<scalar_t> packed_fb_;  // the dense filterbank, for banks that are not sparse
  Tensor band_;
  std::vector<scalar_t> inv_diag_;
  int64_t bands_ = 0;
  bool dense_ = false;

 public:
  bool saw_nonfinite() const {
    return saw_nonfinite_.load(std::memory_order_relaxed);
  }
  const CompactTaps<scalar_t> taps;
  const int64_t n_mels;
  const int64_t n_freqs;
};


template <typename scalar_t>
void lstsq_apply_kernel(
    const Batched3<scalar_t>& melspec3,  // (batch, n_mels, time), any strides
    const Tensor& gram_pinv,
    const Tensor& tap_index,
    const Tensor& tap_weight,
    const std::optional<Tensor>& band,
    bool check_finite,
    scalar_t* out_ptr) {  // (batch, n_freqs, time), contiguous
  const int64_t batch = melspec3.batch;
  const int64_t n_mels = melspec3.rows;
  const int64_t time = melspec3.cols;
  const int64_t n_freqs = tap_index.size(0);
  const LstsqTile<scalar_t> solver(melspec3, gram_pinv, tap_index, tap_weight, band, check_finite);

  const int64_t tile_time = std::clamp<int64_t>(
      (kTileBytes / (n_mels * static_cast<int64_t>(sizeof(scalar_t)))) / 16 * 16, 16, 1024);
  const int64_t tiles_per_item = (time + tile_time - 1) / tile_time;
  torch::stable::parallel_for(0, batch * tiles_per_item, 1, [&](int64_t tile_begin, int64_t tile_end) {
    auto scratch = solver.make_scratch(std::min(tile_time, time));
    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
      const int64_t b = tile / tiles_per_item;
      const int64_t t0 = (tile % tiles_per_item) * tile_time;
      const int64_t len = std::min(tile_time, time - t0);
      solver.solve_and_expand(b, t0, len, out_ptr + b * n_freqs * time + t0, time, scratch);
    }
  });
  // The module's input check, reported by the kernel's pass (the Python layer turns it into its
  // ValueError naming the first bad element).
  STD_TORCH_CHECK(!solver.saw_nonfinite(), "lstsq_apply: melspec contains NaN or Inf (check_finite=True)");
}

void run_lstsq_apply(
    const Tensor& melspec,
    const Tensor& gram_pinv,
    const Tensor& tap_index,
    const Tensor& tap_weight,
    const std::optional<Tensor>& gram_cholesky_band,
    bool check_finite,
    const Tensor& out) {
  if (out.numel() == 0) {
    return;
  }
  if (melspec.size(-2) == 0) {  // nothing to invert from: the minimum-norm solution is zero
    zero_(out);
    return;
  }
  THO_DISPATCH_V2(melspec.scalar_type(), "lstsq_apply_cpu", AT_WRAP([&] {
    const Batched3<scalar_t> melspec3(melspec);
    lstsq_apply_kernel<scalar_t>(melspec3, gram_pinv, tap_index, tap_weight, gram_cholesky_band, check_finite,
                                 out.mutable_data_ptr<scalar_t>());
  }), AT_FLOATING_TYPES);
}

Tensor lstsq_apply_cpu(
    const Tensor& melspec,
    const Tensor& gram_pinv,
    const Tensor& tap_index,
    const Tensor& tap_weight,
    const std::optional<Tensor>& gram_cholesky_band,
    bool check_finite) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, /*cuda=*/false);
  Tensor out = empty_output(melspec, lstsq_apply_output_sizes(melspec, tap_index));
  run_lstsq_apply(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, check_finite, out);
  return out;
}

void lstsq_apply_out_cpu(
    const Tensor& melspec,
    const Tensor& gram_pinv,
    const Tensor& tap_index,
    const Tensor& tap_weight,
    const std::optional<Tensor>& gram_cholesky_band,
    Tensor out) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, /*cuda=*/false);
  check_lstsq_apply_out(melspec, tap_index, out);
  run_lstsq_apply(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, /*check_finite=*/false, out);
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("lstsq_apply", TORCH_BOX(&lstsq_apply_cpu));
  m.impl("lstsq_apply_out", TORCH_BOX(&lstsq_apply_out_cpu));
}

}  // namespace inverse_mel
