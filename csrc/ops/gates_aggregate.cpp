// gates_aggregate: op schemas. Kernels register per backend in cpu/ and cuda/; the fake (meta)
// kernels, the autograd formula and the Python face live in nasfast/ops/gates_aggregate.py.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(nasfast, m) {
  // y[b,i] = sum_j [edge_op[b,i,j] >= 0] * G[edge_op[b,i,j]] * S[b,j] + residual[i] * S[b,i]:
  // one GATES layer's aggregation (REFERENCES A1.2-A1.4) over a batch of small DAGs.
  // S (B, N, D), G (K, D) float32/float64; edge_op (B, N, N) int64, row = destination, -1 = masked;
  // residual (N,) bool.
  m.def("gates_aggregate(Tensor S, Tensor G, Tensor edge_op, Tensor residual) -> Tensor");
  // (dL/dS, dL/dG) given dL/dy. dL/dG is reduced over the batch in a fixed order (deterministic).
  m.def(
      "gates_aggregate_backward(Tensor grad, Tensor S, Tensor G, Tensor edge_op, Tensor residual)"
      " -> (Tensor, Tensor)");
}
