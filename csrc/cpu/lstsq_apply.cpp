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
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
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

void check_lstsq_apply_inputs(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& band) {
  TORCH_CHECK(
      melspec.dim() >= 2,
      "lstsq_apply: melspec must have shape (..., n_mels, time) with at least 2 dims, found ",
      melspec.dim(), " dim(s)");
  TORCH_CHECK(
      melspec.scalar_type() == at::kFloat || melspec.scalar_type() == at::kDouble,
      "lstsq_apply: melspec must be float32 or float64, found ", melspec.scalar_type(),
      "; cast it first (the Python API computes float16/bfloat16 in float32)");
  TORCH_CHECK(
      gram_pinv.dim() == 2 && gram_pinv.size(0) == gram_pinv.size(1),
      "lstsq_apply: gram_pinv must be a square (n_mels, n_mels) matrix, found shape ",
      gram_pinv.sizes());
  const int64_t n_mels = melspec.size(-2);
  TORCH_CHECK(
      gram_pinv.size(0) == n_mels,
      "lstsq_apply: expected an input with ", gram_pinv.size(0), " mel bins. Found: ", n_mels);
  TORCH_CHECK(
      tap_index.dim() == 2 && tap_weight.dim() == 2 && tap_index.sizes() == tap_weight.sizes(),
      "lstsq_apply: tap_index and tap_weight must both have shape (n_freqs, taps), found ",
      tap_index.sizes(), " and ", tap_weight.sizes());
  TORCH_CHECK(
      tap_index.scalar_type() == at::kLong,
      "lstsq_apply: tap_index must be int64, found ", tap_index.scalar_type());
  TORCH_CHECK(
      gram_pinv.scalar_type() == melspec.scalar_type() &&
          tap_weight.scalar_type() == melspec.scalar_type(),
      "lstsq_apply: gram_pinv and tap_weight must have melspec's dtype ", melspec.scalar_type(),
      ", found ", gram_pinv.scalar_type(), " and ", tap_weight.scalar_type());
  for (const at::Tensor* t : {&melspec, &gram_pinv, &tap_index, &tap_weight}) {
    TORCH_CHECK(
        t->device().is_cpu(), "lstsq_apply (CPU kernel): all inputs must be on the CPU, found ",
        t->device());
  }
  if (band.has_value()) {
    TORCH_CHECK(
        band->dim() == 2 && band->size(0) >= 1 && band->size(1) == n_mels,
        "lstsq_apply: gram_cholesky_band must have shape (bands, n_mels) = (bands, ", n_mels,
        "), found ", band->sizes());
    TORCH_CHECK(
        band->scalar_type() == melspec.scalar_type() && band->device().is_cpu(),
        "lstsq_apply: gram_cholesky_band must be a CPU tensor of melspec's dtype ",
        melspec.scalar_type(), ", found ", band->scalar_type(), " on ", band->device());
  }
  // tap_index bounds are checked while the taps are compacted (one pass, no extra reduction).
}

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
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__CUDACC__)
#define INVERSE_MEL_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define INVERSE_MEL_MULTIVERSION
#endif

// relu that keeps NaN (like torch.relu), so a bad frame stays visibly bad.
template <typename scalar_t>
inline scalar_t relu_keep_nan(scalar_t v) {
  return v < scalar_t(0) ? scalar_t(0) : v;
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

// Compacted copy of the ELL filterbank: per row, only the non-zero taps,
// so zero padding never multiplies a NaN/Inf from another mel band into a bin.
template <typename scalar_t>
struct CompactTaps {
  std::vector<int64_t> count;  // (n_freqs,)
  std::vector<int64_t> index;  // (n_freqs * taps)
  std::vector<scalar_t> weight;  // (n_freqs * taps)
  int64_t taps = 0;
  int64_t max_count = 0;

  CompactTaps(const at::Tensor& tap_index, const at::Tensor& tap_weight, int64_t n_mels) {
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
            mel >= 0 && mel < n_mels, "lstsq_apply: tap_index entries must lie in [0, ", n_mels,
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

template <typename scalar_t>
void lstsq_apply_kernel(
    const at::Tensor& melspec3,  // (batch, n_mels, time), any strides
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& band_opt,
    at::Tensor& out) {  // (batch, n_freqs, time), contiguous
  const int64_t batch = melspec3.size(0);
  const int64_t n_mels = melspec3.size(1);
  const int64_t time = melspec3.size(2);
  const int64_t n_freqs = out.size(1);

  const CompactTaps<scalar_t> taps(tap_index, tap_weight, n_mels);
  const bool dense = taps.max_count > kMaxSparseTaps;
  // Dense fallback for filterbanks that are not sparse (e.g. custom banks):
  // rebuilt per call from the ELL form, it costs n_freqs x n_mels, no factorisation.
  at::Tensor dense_fb;
  if (dense) {
    dense_fb = at::zeros({n_freqs, n_mels}, gram_pinv.options())
                   .scatter_add_(1, tap_index, tap_weight);
  }
  const at::Tensor gram = gram_pinv.contiguous();

  // Banded path: the Cholesky band and its reciprocal diagonal, read by every tile.
  const bool banded = band_opt.has_value();
  at::Tensor band;
  std::vector<scalar_t> inv_diag;
  int64_t bands = 0;
  if (banded) {
    band = band_opt->contiguous();
    bands = band.size(0);
    const scalar_t* diag = band.data_ptr<scalar_t>();
    inv_diag.resize(n_mels);
    for (int64_t k = 0; k < n_mels; ++k) {
      inv_diag[k] = diag[k] != scalar_t(0) ? scalar_t(1) / diag[k] : scalar_t(0);
    }
  }
  const scalar_t* band_ptr = banded ? band.data_ptr<scalar_t>() : nullptr;
  const scalar_t* mel_ptr = melspec3.data_ptr<scalar_t>();
  const int64_t mel_stride_b = melspec3.stride(0);
  const int64_t mel_stride_k = melspec3.stride(1);
  const int64_t mel_stride_t = melspec3.stride(2);

  const int64_t tile_time = std::clamp<int64_t>(
      (kTileBytes / (n_mels * static_cast<int64_t>(sizeof(scalar_t)))) / 16 * 16, 16, 1024);
  const int64_t tiles_per_item = (time + tile_time - 1) / tile_time;
  const int64_t n_tiles = batch * tiles_per_item;
  scalar_t* out_ptr = out.data_ptr<scalar_t>();

  at::parallel_for(0, n_tiles, 1, [&](int64_t tile_begin, int64_t tile_end) {
    std::vector<const scalar_t*> rows(std::max<int64_t>(taps.taps, 1));
    // Uninitialised and no larger than this call needs: a zero-filled 128 KiB vector per call
    // would cost an mmap and its page faults on every small forward.
    std::unique_ptr<scalar_t[]> y_buffer(
        banded ? new scalar_t[n_mels * std::min(tile_time, time)] : nullptr);
    for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
      const int64_t b = tile / tiles_per_item;
      const int64_t t0 = (tile % tiles_per_item) * tile_time;
      const int64_t len = std::min(tile_time, time - t0);
      at::Tensor y_dense;
      const scalar_t* y_ptr = nullptr;
      if (banded) {
        // Gather the tile (any input strides), then solve in place: (n_mels x len).
        scalar_t* y = y_buffer.get();
        const scalar_t* src = mel_ptr + b * mel_stride_b + t0 * mel_stride_t;
        for (int64_t k = 0; k < n_mels; ++k) {
          const scalar_t* row = src + k * mel_stride_k;
          for (int64_t t = 0; t < len; ++t) {
            y[k * len + t] = row[t * mel_stride_t];
          }
        }
        banded_cholesky_solve_tile<scalar_t>(y, band_ptr, inv_diag.data(), bands, n_mels, len);
        y_ptr = y;
      } else {
        // The small product: (n_mels x n_mels) @ (n_mels x len), contiguous result.
        y_dense = at::mm(gram, melspec3.select(0, b).narrow(1, t0, len));
        y_ptr = y_dense.data_ptr<scalar_t>();
      }
      scalar_t* out_tile = out_ptr + b * n_freqs * time + t0;
      if (dense) {
        const at::Tensor y = at::from_blob(
            const_cast<scalar_t*>(y_ptr), {n_mels, len}, gram.options());
        const at::Tensor s = at::mm(dense_fb, y);
        const scalar_t* s_ptr = s.data_ptr<scalar_t>();
        for (int64_t f = 0; f < n_freqs; ++f) {
          scalar_t* o = out_tile + f * time;
          const scalar_t* src = s_ptr + f * len;
          for (int64_t t = 0; t < len; ++t) {
            o[t] = relu_keep_nan(src[t]);
          }
        }
        continue;
      }
      for (int64_t f = 0; f < n_freqs; ++f) {
        const int64_t c = taps.count[f];
        for (int64_t j = 0; j < c; ++j) {
          rows[j] = y_ptr + taps.index[f * taps.taps + j] * len;
        }
        expand_row<scalar_t>(
            out_tile + f * time, rows.data(), taps.weight.data() + f * taps.taps, c, len);
      }
    }
  });
}

std::vector<int64_t> output_sizes(const at::Tensor& melspec, const at::Tensor& tap_index) {
  std::vector<int64_t> sizes(melspec.sizes().begin(), melspec.sizes().end() - 2);
  sizes.push_back(tap_index.size(0));
  sizes.push_back(melspec.size(-1));
  return sizes;
}

void run_lstsq_apply(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& gram_cholesky_band,
    at::Tensor& out) {
  if (out.numel() == 0) {
    return;
  }
  const int64_t n_mels = melspec.size(-2);
  if (n_mels == 0) {  // nothing to invert from: the minimum-norm solution is zero
    out.zero_();
    return;
  }
  const int64_t time = melspec.size(-1);
  const at::Tensor melspec3 = melspec.reshape({-1, n_mels, time});
  at::Tensor out3 = out.view({-1, tap_index.size(0), time});
  AT_DISPATCH_FLOATING_TYPES(melspec.scalar_type(), "lstsq_apply_cpu", [&] {
    lstsq_apply_kernel<scalar_t>(
        melspec3, gram_pinv, tap_index, tap_weight, gram_cholesky_band, out3);
  });
}

at::Tensor lstsq_apply_cpu(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& gram_cholesky_band) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band);
  at::Tensor out = empty_output(output_sizes(melspec, tap_index), melspec.options());
  run_lstsq_apply(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, out);
  return out;
}

void lstsq_apply_out_cpu(
    const at::Tensor& melspec,
    const at::Tensor& gram_pinv,
    const at::Tensor& tap_index,
    const at::Tensor& tap_weight,
    const std::optional<at::Tensor>& gram_cholesky_band,
    at::Tensor out) {
  check_lstsq_apply_inputs(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band);
  const auto expected = output_sizes(melspec, tap_index);
  TORCH_CHECK(
      out.sizes() == at::IntArrayRef(expected), "lstsq_apply_out: out must have shape ",
      at::IntArrayRef(expected), ", found ", out.sizes());
  TORCH_CHECK(
      out.scalar_type() == melspec.scalar_type() && out.device().is_cpu(),
      "lstsq_apply_out: out must be a CPU tensor of melspec's dtype ", melspec.scalar_type(),
      ", found ", out.scalar_type(), " on ", out.device());
  TORCH_CHECK(out.is_contiguous(), "lstsq_apply_out: out must be contiguous");
  // The kernel reads melspec while it writes out: they must not share memory.
  TORCH_CHECK(
      !out.is_alias_of(melspec), "lstsq_apply_out: out must not share memory with melspec");
  run_lstsq_apply(melspec, gram_pinv, tap_index, tap_weight, gram_cholesky_band, out);
}

}  // namespace

TORCH_LIBRARY_IMPL(inverse_mel, CPU, m) {
  m.impl("lstsq_apply", &lstsq_apply_cpu);
  m.impl("lstsq_apply_out", &lstsq_apply_out_cpu);
}

}  // namespace inverse_mel
