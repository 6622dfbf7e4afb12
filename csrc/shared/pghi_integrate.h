// Phase-gradient heap integration (PGHI; Prusa, Balazs and Sondergaard, IEEE/ACM TASLP 2017) for
// one signal, host and device: the CPU op runs it per batch item on a thread, the CUDA op one signal
// per thread, so the CPU tests check the arithmetic the GPU runs.
//
// The spectrogram is (n_freqs, frames), coefficient i = f * frames + t. The phase steps are given
// (computed from the log-magnitude's gradients by the Python layer, in torch's stft convention):
// time_step[i] the phase advance per hop at i, freq_step[i] the advance per frequency bin. From the
// largest coefficient not yet reached, the phase spreads to its four neighbours in order of
// decreasing magnitude (a binary max-heap), each step the trapezoid rule: the mean of the two ends'
// steps. Coefficients below threshold keep init_phase (a random phase), and each one above it that
// no spreading reached starts a spread of its own, in the order `order` gives (descending magnitude).
#pragma once

#include "host_device.h"

#include <cstdint>

namespace inverse_mel {
namespace pghi {

// A binary max-heap of coefficient indices keyed by their magnitude; `slots` holds up to n entries.
template <typename scalar_t>
class MagnitudeHeap {
 public:
  INVERSE_MEL_HOST_DEVICE MagnitudeHeap(const scalar_t* magnitude, int64_t* slots)
      : magnitude_(magnitude), slots_(slots), size_(0) {}

  INVERSE_MEL_HOST_DEVICE bool empty() const { return size_ == 0; }

  INVERSE_MEL_HOST_DEVICE void push(int64_t index) {
    int64_t hole = size_++;
    const scalar_t key = magnitude_[index];
    while (hole > 0) {
      const int64_t parent = (hole - 1) / 2;
      if (!(magnitude_[slots_[parent]] < key)) {
        break;
      }
      slots_[hole] = slots_[parent];
      hole = parent;
    }
    slots_[hole] = index;
  }

  INVERSE_MEL_HOST_DEVICE int64_t pop() {
    const int64_t top = slots_[0];
    const int64_t last = slots_[--size_];
    const scalar_t key = magnitude_[last];
    int64_t hole = 0;
    while (true) {
      int64_t child = 2 * hole + 1;
      if (child >= size_) {
        break;
      }
      if (child + 1 < size_ && magnitude_[slots_[child]] < magnitude_[slots_[child + 1]]) {
        ++child;
      }
      if (!(key < magnitude_[slots_[child]])) {
        break;
      }
      slots_[hole] = slots_[child];
      hole = child;
    }
    if (size_ > 0) {
      slots_[hole] = last;
    }
    return top;
  }

 private:
  const scalar_t* magnitude_;
  int64_t* slots_;
  int64_t size_;
};

// One signal. magnitude, time_step, freq_step, init_phase, phase: (n_freqs, frames) contiguous;
// order: the n_freqs * frames indices by decreasing magnitude; heap_slots: n_freqs * frames scratch;
// reached: n_freqs * frames flags (scratch). relative_tol: coefficients below relative_tol * max
// keep init_phase.
template <typename scalar_t>
INVERSE_MEL_HOST_DEVICE void integrate(const scalar_t* magnitude, const scalar_t* time_step, const scalar_t* freq_step,
                                       const int64_t* order, const scalar_t* init_phase, int64_t n_freqs,
                                       int64_t frames, double relative_tol, scalar_t* phase, int64_t* heap_slots,
                                       uint8_t* reached) {
  const int64_t n = n_freqs * frames;
  for (int64_t i = 0; i < n; ++i) {
    phase[i] = init_phase[i];
    reached[i] = 0;
  }
  if (n == 0) {
    return;
  }
  const scalar_t largest = magnitude[order[0]];
  // Not finite or all zero: nothing to integrate (every coefficient keeps its initial phase).
  if (!(largest > scalar_t(0)) || !is_finite(static_cast<double>(largest))) {
    return;
  }
  const scalar_t threshold = static_cast<scalar_t>(relative_tol * static_cast<double>(largest));
  MagnitudeHeap<scalar_t> heap(magnitude, heap_slots);
  for (int64_t rank = 0; rank < n; ++rank) {
    const int64_t start = order[rank];
    if (!(magnitude[start] >= threshold)) {
      break;  // the rest is below the threshold too
    }
    if (reached[start]) {
      continue;
    }
    reached[start] = 1;  // a new spread keeps this coefficient's initial phase
    heap.push(start);
    while (!heap.empty()) {
      const int64_t i = heap.pop();
      const int64_t f = i / frames, t = i - f * frames;
      // Neighbours: next/previous frame (time steps), next/previous bin (frequency steps).
      const int64_t neighbour[4] = {t + 1 < frames ? i + 1 : -1, t > 0 ? i - 1 : -1,
                                    f + 1 < n_freqs ? i + frames : -1, f > 0 ? i - frames : -1};
      for (int d = 0; d < 4; ++d) {
        const int64_t j = neighbour[d];
        if (j < 0 || reached[j] || !(magnitude[j] >= threshold)) {
          continue;
        }
        const scalar_t* step = d < 2 ? time_step : freq_step;
        const scalar_t mean_step = scalar_t(0.5) * (step[i] + step[j]);
        phase[j] = (d % 2 == 0) ? phase[i] + mean_step : phase[i] - mean_step;
        reached[j] = 1;
        heap.push(j);
      }
    }
  }
}

}  // namespace pghi
}  // namespace inverse_mel
