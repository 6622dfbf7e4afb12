// Building blocks of the CPU kernels: the compacted filterbank, the huge-page output
// allocation, the multiversioning macro and NaN-keeping ReLU (used by lstsq_apply.cpp and
// nnls.cpp), and the least-squares tile solver LstsqTile (lstsq_apply.cpp). Everything
// lives in an anonymous namespace: each kernel file gets its own copy (and its own
// multiversioned clones).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstring>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace inverse_mel {
namespace {

// Above this many taps per bin a dense GEMM beats the gather-expansion.
constexpr int64_t kMaxSparseTaps = 8;
// Bytes of Y kept per tile: small enough to stay in L2 while it is expanded.
constexpr int64_t kTileBytes = 128 * 1024;

// A fresh output larger than glibc's mmap threshold is page-faulted in on first
// write at ~4 GB/s with 4 KiB pages. Asking for transparent huge pages before the
// first write cuts that several-fold (see shared PERF-NOTES). It is only advice:
// if the kernel refuses, nothing changes.
at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  at::Tensor out = at::empty(sizes, options);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t(2) << 20;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(out.data_ptr());
  const uintptr_t end = begin + out.nbytes();
  const uintptr_t aligned_begin = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t aligned_end = end & ~(kHugePage - 1);
  if (out.nbytes() >= 4 * kHugePage && aligned_end > aligned_begin) {
    madvise(reinterpret_cast<void*>(aligned_begin), aligned_end - aligned_begin, MADV_HUGEPAGE);
  }
#endif
  return out;
}

// The hot loops are compiled for AVX-512, AVX2 and the baseline ISA, picked at load
// time (GCC/Clang function multiversioning), so one portable build runs wide vectors.
// INVERSE_MEL_HAS_ISA_CLONES says whether this build can compile code for those ISAs.
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__CUDACC__)
#define INVERSE_MEL_HAS_ISA_CLONES 1
#define INVERSE_MEL_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define INVERSE_MEL_HAS_ISA_CLONES 0
#define INVERSE_MEL_MULTIVERSION
#endif

// relu that keeps NaN (like torch.relu), so a bad frame stays visibly bad. value_t is a scalar
// or a GCC vector of them (value_t{} is zero either way).
template <typename value_t>
inline __attribute__((always_inline)) value_t relu_keep_nan(value_t v) {
  return v < value_t{} ? value_t{} : v;
}

// One output row segment: out[t] = relu(sum_j w[j] * rows[j][t]).
// Specialised for the 1- and 2-tap rows of triangular banks so the loop
// vectorises; `taps` is the number of non-zero taps of this row.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void expand_row(
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
      out[t] = relu_keep_nan(w0 * y0[t]);
    }
  } else if (taps == 2) {
    const scalar_t* __restrict__ y0 = rows[0];
    const scalar_t* __restrict__ y1 = rows[1];
    const scalar_t w0 = weights[0];
    const scalar_t w1 = weights[1];
    for (int64_t t = 0; t < len; ++t) {
      out[t] = relu_keep_nan(w0 * y0[t] + w1 * y1[t]);
    }
  } else {
    for (int64_t t = 0; t < len; ++t) {
      scalar_t acc = 0;
      for (int64_t j = 0; j < taps; ++j) {
        acc += weights[j] * rows[j][t];
      }
      out[t] = relu_keep_nan(acc);
    }
  }
}

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
// of 8 rows x one 64-byte vector of frames keeps its sums in registers.
template <typename scalar_t, bool kRelu>
INVERSE_MEL_MULTIVERSION void tile_gemm(
    scalar_t* __restrict__ out,
    int64_t out_stride,
    const PackedRows<scalar_t>& packed,
    const scalar_t* __restrict__ x,
    int64_t len) {
  constexpr int64_t R = PackedRows<scalar_t>::kGemmRows;
  constexpr int64_t B = 64 / sizeof(scalar_t);
  const int64_t inner = packed.inner;
  for (int64_t k = 0, blk = 0; k < packed.rows; k += R, ++blk) {
    const int64_t rb = std::min(R, packed.rows - k);
    const int64_t* col = packed.columns.data() + packed.begin[blk];
    const int64_t n_cols = packed.begin[blk + 1] - packed.begin[blk];
    const scalar_t* __restrict__ wb = packed.weight.data() + blk * inner * R;
    // GCC vector extensions: 64-byte vectors, lowered to what the clone's ISA has.
    typedef scalar_t Vec __attribute__((vector_size(64)));
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
        out[(k + r) * out_stride + t] = kRelu ? relu_keep_nan(acc) : acc;
      }
    }
  }
}

// Compacted copy of the ELL filterbank: per row, only the non-zero taps,
// so zero padding never multiplies a NaN/Inf from another mel band into a bin.
template <typename scalar_t>
struct CompactTaps {
  std::vector<int64_t> count;  // (n_freqs,)
  std::vector<int64_t> index;  // (n_freqs * taps)
  std::vector<scalar_t> weight;  // (n_freqs * taps)
  int64_t taps = 0;
  int64_t max_count = 0;

  // op names the calling op in the bounds-check error.
  CompactTaps(const at::Tensor& tap_index, const at::Tensor& tap_weight, int64_t n_mels, const char* op) {
    const at::Tensor idx = tap_index.contiguous();
    const at::Tensor w = tap_weight.contiguous();
    const int64_t n_freqs = idx.size(0);
    taps = idx.size(1);
    count.assign(n_freqs, 0);
    index.assign(n_freqs * taps, 0);
    weight.assign(n_freqs * taps, scalar_t(0));
    const int64_t* idx_ptr = idx.data_ptr<int64_t>();
    const scalar_t* w_ptr = w.data_ptr<scalar_t>();
    for (int64_t f = 0; f < n_freqs; ++f) {
      int64_t c = 0;
      for (int64_t j = 0; j < taps; ++j) {
        const scalar_t wj = w_ptr[f * taps + j];
        const int64_t mel = idx_ptr[f * taps + j];
        TORCH_CHECK(
            mel >= 0 && mel < n_mels, op, ": tap_index entries must lie in [0, ", n_mels,
            "), found ", mel, " at (", f, ", ", j, ")");
        if (wj != scalar_t(0)) {
          index[f * taps + c] = mel;
          weight[f * taps + c] = wj;
          ++c;
        }
      }
      count[f] = c;
      max_count = std::max(max_count, c);
    }
  }
};

// Solve (L L^T) Y = Y in place for one tile, Y (n_mels x len) row-major, L lower
// banded: band[d * n_mels + k] = L[k, k - d]. Each step updates a whole row of
// frames, so the inner loops run over contiguous time and vectorise.
template <typename scalar_t>
INVERSE_MEL_MULTIVERSION void banded_cholesky_solve_tile(
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
      const at::Tensor& melspec3,  // (batch, n_mels, time), any strides
      const at::Tensor& gram_pinv,
      const at::Tensor& tap_index,
      const at::Tensor& tap_weight,
      const std::optional<at::Tensor>& band_opt)
      : melspec3_(melspec3),
        taps(tap_index, tap_weight, melspec3.size(1), "lstsq_apply"),
        n_mels(melspec3.size(1)),
        n_freqs(tap_index.size(0)) {
    dense_ = taps.max_count > kMaxSparseTaps;
    if (dense_) {
      // Filterbanks that are not sparse (e.g. custom banks) expand with a GEMM; the
      // dense matrix is rebuilt per call from the ELL form: n_freqs x n_mels, no factorisation.
      const at::Tensor dense_fb =
          at::zeros({n_freqs, n_mels}, tap_weight.options()).scatter_add_(1, tap_index, tap_weight);
      packed_fb_ = PackedRows<scalar_t>(dense_fb.data_ptr<scalar_t>(), n_freqs, n_mels);
    }
    if (!band_opt.has_value()) {
      // Only the packed copy is kept: the kernel reads gram_pinv through it.
      const at::Tensor gram = gram_pinv.contiguous();
      packed_gram_ = PackedRows<scalar_t>(gram.data_ptr<scalar_t>(), n_mels, n_mels);
    } else {
      band_ = band_opt->contiguous();
      bands_ = band_.size(0);
      const scalar_t* diag = band_.data_ptr<scalar_t>();
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
    const scalar_t* src = melspec3_.data_ptr<scalar_t>() + b * melspec3_.stride(0) + t0 * melspec3_.stride(2);
    const int64_t stride_k = melspec3_.stride(1);
    const int64_t stride_t = melspec3_.stride(2);
    for (int64_t k = 0; k < n_mels; ++k) {
      const scalar_t* row = src + k * stride_k;
      for (int64_t t = 0; t < len; ++t) {
        tile[k * len + t] = row[t * stride_t];
      }
    }
    if (bands_ > 0) {
      // Solve (L L^T) Y = M in place.
      banded_cholesky_solve_tile<scalar_t>(y, band_.data_ptr<scalar_t>(), inv_diag_.data(), bands_, n_mels, len);
    } else {
      // The small product Y = gram_pinv (n_mels x n_mels) @ M (n_mels x len).
      tile_gemm<scalar_t, false>(y, len, packed_gram_, tile, len);
    }
    if (dense_) {
      tile_gemm<scalar_t, true>(out, out_row_stride, packed_fb_, y, len);
      return;
    }
    for (int64_t f = 0; f < n_freqs; ++f) {
      const int64_t c = taps.count[f];
      for (int64_t j = 0; j < c; ++j) {
        scratch.rows[j] = y + taps.index[f * taps.taps + j] * len;
      }
      expand_row<scalar_t>(out + f * out_row_stride, scratch.rows.data(), taps.weight.data() + f * taps.taps, c, len);
    }
  }

 private:
  const at::Tensor& melspec3_;
  PackedRows<scalar_t> packed_gram_;  // gram_pinv, when there is no band to solve with
  PackedRows<scalar_t> packed_fb_;  // the dense filterbank, for banks that are not sparse
  at::Tensor band_;
  std::vector<scalar_t> inv_diag_;
  int64_t bands_ = 0;
  bool dense_ = false;

 public:
  const CompactTaps<scalar_t> taps;
  const int64_t n_mels;
  const int64_t n_freqs;
};

}  // namespace
}  // namespace inverse_mel
