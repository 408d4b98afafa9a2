// gather_dropout: op schemas. Kernels register per backend in cpu/ and cuda/; the fake kernels,
// autograd and Python face live in nasfast/ops/gather_dropout.py. The keep mask, keep(seed, u, j),
// and the scale 1 / (1 - p) are defined in gather_dropout.h.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(nasfast, m) {
  // y[u, j] = x[index[u], j] * keep(seed, u, j) / (1 - p): rows gathered from x, each output
  // element with its own dropout draw. (n, d), (U,) -> (U, d).
  m.def("gather_dropout(Tensor x, Tensor index, float p, int seed) -> Tensor");
  // Its adjoint (the backward w.r.t. x): g_x[i, j] = sum over u with index[u] = i of
  // grad[u, j] * keep(seed, u, j) / (1 - p). (U, d), (U,) -> (rows, d).
  m.def("gather_dropout_backward(Tensor grad, Tensor index, int rows, float p, int seed) -> Tensor");
  // gather_dropout followed by a dot product with w (a Linear to one output, without its bias):
  // y[u] = sum_j x[index[u], j] * keep(seed, u, j) / (1 - p) * w[j]. (n, d), (U,), (d,) -> (U,).
  m.def("gather_dropout_dot(Tensor x, Tensor index, Tensor w, float p, int seed) -> Tensor");
  // Its gradients w.r.t. x (rows, d) and w (d,) for the incoming grad (U,).
  m.def(
      "gather_dropout_dot_backward(Tensor grad, Tensor x, Tensor index, Tensor w, float p, int seed)"
      " -> (Tensor, Tensor)");
}
