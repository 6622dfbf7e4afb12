// The capacities the per-frame NNLS solver is instantiated for (the CUDA kernels' thread-local
// arrays), defined once: shared/nnls_frame.h sizes its state with them, and the extension module
// exports them (inverse_mel._C.CUDA_NNLS_MAX_MELS, CUDA_NNLS_MAX_BANDS) for the Python layer's
// checks. n_mels up to 512; Gram bands up to 4 (a mel bank's bins touch 1 or 2 adjacent filters:
// 2 bands).
#pragma once

namespace inverse_mel {
namespace nnls {

constexpr int kFrameMaxMels = 512;
constexpr int kFrameMaxBands = 4;

}  // namespace nnls
}  // namespace inverse_mel
