// gather_dropout: the keep-mask generator and the input checks shared by the CPU and CUDA kernels
// (schemas in gather_dropout.cpp).
//
// Element (u, j) of the output is kept when the top 32 bits of the (u * cols + j)-th output of
// SplitMix64 seeded with `seed` are >= round(p * 2^32); kept elements are scaled by 1 / (1 - p).
// The mask is a pure function of (seed, u, j): the backward recomputes it instead of storing it,
// and the CPU and CUDA kernels draw the same one.
#pragma once

#include <cmath>
#include <cstdint>

#include "checks.h"
#include "hd.h"

namespace nasfast {
namespace gather_dropout {

// The k-th output (k = 0, 1, ...) of SplitMix64 seeded with `seed` (Steele, Lea and Flood 2014;
// the generator Java's SplittableRandom uses): a counter-based generator, so any element's draw is
// computed directly.
NASFAST_HD uint64_t splitmix64(uint64_t seed, uint64_t k) {
  uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Kept iff the draw's top 32 bits >= threshold; P(kept) = 1 - threshold / 2^32.
NASFAST_HD bool keep(uint64_t seed, uint64_t k, uint64_t threshold) {
  return (splitmix64(seed, k) >> 32) >= threshold;
}

// threshold = round(p * 2^32): p = 0 keeps everything, p = 1 nothing.
inline uint64_t drop_threshold(double p) { return static_cast<uint64_t>(std::llround(std::ldexp(p, 32))); }

// 1 / (1 - p), and 0 for p = 1 (everything dropped, as torch's dropout gives zeros).
inline double keep_scale(double p) { return p < 1.0 ? 1.0 / (1.0 - p) : 0.0; }

inline void check_p(double p) {
  TORCH_CHECK(p >= 0.0 && p <= 1.0, "dropout probability p must be in [0, 1], got ", p);
}

// x (n, d) float32/float64; index (U,) int64.
inline void check_inputs(const at::Tensor& x, const at::Tensor& index, double p, const char* x_name) {
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, x_name,
              " must have dtype float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(x.dim() == 2, x_name, " must be 2-D (rows, features), got shape ", x.sizes());
  NASFAST_CHECK_DTYPE(index, at::kLong);
  NASFAST_CHECK_DIM(index, 1);
  NASFAST_CHECK_SAME_DEVICE(x, index);
  check_p(p);
}

// gather_dropout_backward: grad (U, d) with one row per index entry; rows >= 0.
inline void check_backward_inputs(const at::Tensor& grad, const at::Tensor& index, int64_t rows, double p) {
  check_inputs(grad, index, p, "grad");
  TORCH_CHECK(rows >= 0, "rows must be >= 0, got ", rows);
  TORCH_CHECK(grad.size(0) == index.size(0), "grad must have one row per index (", index.size(0), "), got shape ",
              grad.sizes());
}

// gather_dropout_dot: w (d,) of x's dtype and device.
inline void check_weight(const at::Tensor& x, const at::Tensor& w) {
  TORCH_CHECK(w.scalar_type() == x.scalar_type(), "w must have the dtype of x (", x.scalar_type(), "), got ",
              w.scalar_type());
  TORCH_CHECK(w.dim() == 1 && w.size(0) == x.size(1), "w must be (d,) with d = ", x.size(1),
              " (the columns of x), got shape ", w.sizes());
  NASFAST_CHECK_SAME_DEVICE(x, w);
}

// gather_dropout_dot_backward: grad (U,) of x's dtype and device.
inline void check_dot_grad(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& index) {
  TORCH_CHECK(grad.scalar_type() == x.scalar_type(), "grad must have the dtype of x (", x.scalar_type(),
              "), got ", grad.scalar_type());
  TORCH_CHECK(grad.dim() == 1 && grad.size(0) == index.size(0), "grad must be (U,) with U = ", index.size(0),
              " (the entries of index), got shape ", grad.sizes());
  NASFAST_CHECK_SAME_DEVICE(grad, x);
}

inline void report_bad_index(int64_t u, int64_t i, int64_t n) {
  TORCH_CHECK(false, "index[", u, "] = ", i, " is out of range for ", n, " rows (indices are 0..n-1)");
}

}  // namespace gather_dropout
}  // namespace nasfast
