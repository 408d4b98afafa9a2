// pairwise_ranking_loss: op schemas. Kernels register per backend in cpu/ and cuda/; the fake
// kernels, autograd and Python face live in nasfast/ops/pairwise_ranking_loss.py.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(nasfast, m) {
  // Mean over the given pairs (a, b) with labels y (+1: b is better) of f(y * (s_b - s_a)),
  // f = hinge max(0, margin - x) or logistic softplus(-x) (kind); 0 for P = 0. 0-dim result.
  m.def("pairwise_ranking_loss(Tensor scores, Tensor pairs, Tensor labels, str kind, float margin) -> Tensor");
  m.def(
      "pairwise_ranking_loss_backward(Tensor grad, Tensor scores, Tensor pairs, Tensor labels, str kind,"
      " float margin) -> Tensor");
  // Every i < j with |t_i - t_j| > tie_threshold is a pair, y = sign(t_j - t_i); the mean of f over
  // them (0 if none) and their number, without forming n x n tensors.
  m.def(
      "all_pairs_ranking_loss(Tensor scores, Tensor targets, str kind, float margin, float tie_threshold)"
      " -> (Tensor, Tensor)");
  m.def(
      "all_pairs_ranking_loss_backward(Tensor grad, Tensor scores, Tensor targets, Tensor num_pairs,"
      " str kind, float margin, float tie_threshold) -> Tensor");
}
