// gates_aggregate: input checks shared by the CPU and CUDA kernels (schemas in gates_aggregate.cpp).
#pragma once

#include "checks.h"

namespace nasfast {
namespace gates_aggregate {

// S (B, N, D) and G (K, D) of one floating dtype; edge_op (B, N, N) int64; residual (N,) bool.
// Op indices (< K) are checked by the kernels, which read edge_op anyway.
inline void check_inputs(const at::Tensor& S, const at::Tensor& G, const at::Tensor& edge_op,
                         const at::Tensor& residual) {
  TORCH_CHECK(S.scalar_type() == at::kFloat || S.scalar_type() == at::kDouble,
              "S must have dtype float32 or float64, got ", S.scalar_type());
  TORCH_CHECK(G.scalar_type() == S.scalar_type(), "G must have the dtype of S (", S.scalar_type(),
              "), got ", G.scalar_type());
  NASFAST_CHECK_DTYPE(edge_op, at::kLong);
  NASFAST_CHECK_DTYPE(residual, at::kBool);
  NASFAST_CHECK_DIM(S, 3);
  NASFAST_CHECK_DIM(G, 2);
  NASFAST_CHECK_DIM(edge_op, 3);
  NASFAST_CHECK_DIM(residual, 1);
  NASFAST_CHECK_SAME_DEVICE(S, G);
  NASFAST_CHECK_SAME_DEVICE(S, edge_op);
  NASFAST_CHECK_SAME_DEVICE(S, residual);
  const int64_t B = S.size(0), N = S.size(1), D = S.size(2);
  TORCH_CHECK(G.size(1) == D, "G must be (K, D) with D = ", D, " (the last dim of S ", S.sizes(),
              "), got ", G.sizes());
  TORCH_CHECK(edge_op.size(0) == B && edge_op.size(1) == N && edge_op.size(2) == N,
              "edge_op must be (B, N, N) = (", B, ", ", N, ", ", N, ") matching S ", S.sizes(),
              ", got ", edge_op.sizes());
  TORCH_CHECK(residual.size(0) == N, "residual must be (N,) with N = ", N, ", got ",
              residual.sizes());
}

inline void check_grad(const at::Tensor& grad, const at::Tensor& S) {
  TORCH_CHECK(grad.scalar_type() == S.scalar_type(), "grad must have the dtype of S (",
              S.scalar_type(), "), got ", grad.scalar_type());
  TORCH_CHECK(grad.sizes() == S.sizes(), "grad must have the shape of S ", S.sizes(), ", got ",
              grad.sizes());
  NASFAST_CHECK_SAME_DEVICE(grad, S);
}

}  // namespace gates_aggregate
}  // namespace nasfast
