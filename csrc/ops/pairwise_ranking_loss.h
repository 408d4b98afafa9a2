// pairwise_ranking_loss: the per-pair loss and its derivative (shared by the CPU and CUDA
// kernels) and the input checks (schemas in pairwise_ranking_loss.cpp).
//
// A pair (a, b) with label y (+1: b is better) has margin-free score gap x = y * (s_b - s_a):
//   hinge     f(x) = max(0, margin - x)                       (aw_nas `margin_linear`, A1.5)
//   logistic  f(x) = softplus(-x) = BCE(sigmoid(s_b - s_a), [y > 0])   (A1.5, for y = +-1)
// NaN propagates: a NaN gap gives a NaN loss and a NaN derivative.
#pragma once

#include <cmath>
#include <string>

#include "checks.h"
#include "hd.h"

namespace nasfast {
namespace pairwise_ranking_loss {

enum class Kind : int { kHinge = 0, kLogistic = 1 };

inline Kind parse_kind(c10::string_view kind) {
  if (kind == "hinge") return Kind::kHinge;
  if (kind == "logistic") return Kind::kLogistic;
  TORCH_CHECK(false, "kind must be 'hinge' or 'logistic', got '", std::string(kind), "'");
}

template <typename T>
NASFAST_HD T pair_loss(T x, Kind kind, T margin) {
  if (kind == Kind::kHinge) {
    const T v = margin - x;
    return v < T(0) ? T(0) : v;  // NaN stays NaN
  }
  // softplus(-x) = max(-x, 0) + log1p(exp(-|x|)), exact and overflow-free for any x.
  return (x < T(0) ? -x : T(0)) + log1p(exp(-fabs(x)));
}

// d f / d x
template <typename T>
NASFAST_HD T pair_loss_grad(T x, Kind kind, T margin) {
  if (kind == Kind::kHinge) {
    const T v = margin - x;
    return v > T(0) ? T(-1) : (v == v ? T(0) : v);  // relu'(0) = 0, as torch; NaN stays NaN
  }
  // -sigmoid(-x), from exp(-|x|) so that nothing overflows.
  if (x >= T(0)) {
    const T e = exp(-x);
    return -e / (T(1) + e);
  }
  return T(-1) / (T(1) + exp(x));  // also the NaN branch
}

inline void check_scores(const at::Tensor& scores) {
  TORCH_CHECK(scores.scalar_type() == at::kFloat || scores.scalar_type() == at::kDouble,
              "scores must have dtype float32 or float64, got ", scores.scalar_type());
  NASFAST_CHECK_DIM(scores, 1);
}

// scores (n,); pairs (P, 2) int64 of (a, b) indices into scores; labels (P,) of the scores' dtype.
inline void check_pairs(const at::Tensor& scores, const at::Tensor& pairs, const at::Tensor& labels) {
  check_scores(scores);
  NASFAST_CHECK_DTYPE(pairs, at::kLong);
  TORCH_CHECK(pairs.dim() == 2 && pairs.size(1) == 2, "pairs must be (P, 2), got shape ",
              pairs.sizes());
  TORCH_CHECK(labels.scalar_type() == scores.scalar_type(), "labels must have the dtype of scores (",
              scores.scalar_type(), "), got ", labels.scalar_type());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == pairs.size(0), "labels must be (P,) with P = ",
              pairs.size(0), " (the rows of pairs), got shape ", labels.sizes());
  NASFAST_CHECK_SAME_DEVICE(scores, pairs);
  NASFAST_CHECK_SAME_DEVICE(scores, labels);
}

// scores (n,) and targets (n,) of one dtype; tie_threshold >= 0.
inline void check_all_pairs(const at::Tensor& scores, const at::Tensor& targets, double tie_threshold) {
  check_scores(scores);
  TORCH_CHECK(targets.scalar_type() == scores.scalar_type(), "targets must have the dtype of scores (",
              scores.scalar_type(), "), got ", targets.scalar_type());
  TORCH_CHECK(targets.sizes() == scores.sizes(), "targets must have the shape of scores ",
              scores.sizes(), ", got ", targets.sizes());
  NASFAST_CHECK_SAME_DEVICE(scores, targets);
  TORCH_CHECK(tie_threshold >= 0, "tie_threshold must be >= 0, got ", tie_threshold);
}

// The incoming gradient of a scalar loss: a 0-dim (or 1-element) tensor of the scores' dtype.
inline void check_scalar_grad(const at::Tensor& grad, const at::Tensor& scores) {
  TORCH_CHECK(grad.numel() == 1, "grad must be a scalar, got shape ", grad.sizes());
  TORCH_CHECK(grad.scalar_type() == scores.scalar_type(), "grad must have the dtype of scores (",
              scores.scalar_type(), "), got ", grad.scalar_type());
  NASFAST_CHECK_SAME_DEVICE(grad, scores);
}

inline void report_bad_pair(int64_t p, int64_t a, int64_t b, int64_t n) {
  TORCH_CHECK(false, "pairs[", p, "] = (", a, ", ", b, ") is out of range for ", n,
              " scores (indices are 0..n-1)");
}

}  // namespace pairwise_ranking_loss
}  // namespace nasfast
