// The backtracking line search both NNLS phases share.
#pragma once

namespace inverse_mel {
namespace nnls {

// A step is accepted when it achieves kArmijo of its first-order change; each failed trial halves it.
constexpr double kArmijo = 1e-4;
constexpr int kMaxBacktracks = 30;

}  // namespace nnls
}  // namespace inverse_mel
