// avg_pool3x3: op schemas. Kernels register per backend in cpu/ and cuda/; the fake kernels,
// autograd and Python face live in nasfast/ops/avg_pool3x3.py.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(nasfast, m) {
  // 3x3 average pool, stride 1, padding 1, padded zeros not counted (NB201's avg_pool_3x3):
  // y[i, j] = sum of the in-bounds window / its size.
  m.def("avg_pool3x3(Tensor x) -> Tensor");
  // Its adjoint (the backward): g_in[p, q] = sum over windows containing (p, q) of g[i, j] / size(i, j).
  m.def("avg_pool3x3_backward(Tensor grad) -> Tensor");
}
