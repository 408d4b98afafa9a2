// gates_onnode_encode: op schema. The CPU kernel is in cpu/; the fake kernel, the autograd formula
// and the Python face live in nasfast/ops/gates_onnode_encode.py.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(nasfast, m) {
  // The whole op-on-node GATES encoder of the NB101 paper config (REFERENCES A1.2) in one call:
  //   Y0 = x0 for every graph;  S = Y W_k;  Y_i = act(G_k[op_i] * sum_j adj[i, j] S_j + S_i + b_k)
  //   (ReLU between layers, none after the last);  out = sum_{i >= 1} valid_i Y_i / (N - 1).
  // Node 0 is the input node (no incoming edges), so its features do not depend on the graph and
  // layer 1's S does not either: both are computed once per call, not per graph.
  m.def(
      "gates_onnode_encode(Tensor x0, Tensor[] weights, Tensor[] gates, Tensor[] biases,"
      " Tensor adjacency, Tensor node_op, Tensor valid) -> Tensor");
}
