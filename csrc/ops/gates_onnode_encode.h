// gates_onnode_encode: input checks (schema in gates_onnode_encode.cpp).
#pragma once

#include <vector>

#include "checks.h"

namespace nasfast {
namespace gates_onnode_encode {

// x0 (N, d0); weights[k] (d_k, d_{k+1}); gates[k] (K, d_{k+1}); biases[k] (d_{k+1}), all of one
// floating dtype; adjacency (B, N, N) bool with row = destination; node_op (B, N) int64;
// valid (B, N) bool. Op indices (< K) and the input node's empty row are checked by the kernel.
inline void check_inputs(const at::Tensor& x0, at::TensorList weights, at::TensorList gates,
                         at::TensorList biases, const at::Tensor& adjacency,
                         const at::Tensor& node_op, const at::Tensor& valid) {
  TORCH_CHECK(x0.scalar_type() == at::kFloat || x0.scalar_type() == at::kDouble,
              "x0 must have dtype float32 or float64, got ", x0.scalar_type());
  NASFAST_CHECK_DIM(x0, 2);
  NASFAST_CHECK_DTYPE(adjacency, at::kBool);
  NASFAST_CHECK_DTYPE(node_op, at::kLong);
  NASFAST_CHECK_DTYPE(valid, at::kBool);
  NASFAST_CHECK_DIM(adjacency, 3);
  NASFAST_CHECK_DIM(node_op, 2);
  NASFAST_CHECK_DIM(valid, 2);
  const int64_t L = static_cast<int64_t>(weights.size());
  TORCH_CHECK(L >= 1, "weights must hold at least one layer");
  TORCH_CHECK(static_cast<int64_t>(gates.size()) == L && static_cast<int64_t>(biases.size()) == L,
              "weights, gates and biases must have one entry per layer, got ", L, ", ",
              gates.size(), " and ", biases.size());
  const int64_t N = x0.size(0), B = adjacency.size(0);
  TORCH_CHECK(N >= 2, "x0 must have at least 2 nodes (an input node and one more), got ", x0.sizes());
  TORCH_CHECK(adjacency.size(1) == N && adjacency.size(2) == N,
              "adjacency must be (B, N, N) with N = ", N, " (the rows of x0), got ", adjacency.sizes());
  TORCH_CHECK(node_op.size(0) == B && node_op.size(1) == N, "node_op must be (B, N) = (", B, ", ",
              N, "), got ", node_op.sizes());
  TORCH_CHECK(valid.size(0) == B && valid.size(1) == N, "valid must be (B, N) = (", B, ", ", N,
              "), got ", valid.sizes());
  NASFAST_CHECK_SAME_DEVICE(x0, adjacency);
  NASFAST_CHECK_SAME_DEVICE(x0, node_op);
  NASFAST_CHECK_SAME_DEVICE(x0, valid);
  const int64_t K = gates[0].dim() == 2 ? gates[0].size(0) : -1;
  int64_t d = x0.size(1);
  for (int64_t k = 0; k < L; ++k) {
    const at::Tensor &W = weights[k], &G = gates[k], &b = biases[k];
    for (const at::Tensor* t : {&W, &G, &b}) {
      TORCH_CHECK(t->scalar_type() == x0.scalar_type(), "layer ", k, ": every weight, gate table and bias must have "
                  "the dtype of x0 (", x0.scalar_type(), "), got ", t->scalar_type());
      NASFAST_CHECK_SAME_DEVICE(x0, (*t));
    }
    TORCH_CHECK(W.dim() == 2 && W.size(0) == d, "layer ", k, ": weight must be (", d, ", d_out), got ", W.sizes());
    const int64_t dout = W.size(1);
    TORCH_CHECK(G.dim() == 2 && G.size(0) == K && G.size(1) == dout, "layer ", k, ": gate table must be (K, ",
                dout, ") with K = ", K, " (the rows of the first), got ", G.sizes());
    TORCH_CHECK(b.dim() == 1 && b.size(0) == dout, "layer ", k, ": bias must be (", dout, "), got ", b.sizes());
    d = dout;
  }
}

}  // namespace gates_onnode_encode
}  // namespace nasfast
