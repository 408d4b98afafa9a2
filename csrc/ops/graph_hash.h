// graph_hash: shape checks shared by the CPU and CUDA kernels (schemas live in graph_hash.cpp).
#pragma once

#include "checks.h"
#include "graph_hash_impl.h"

namespace nasfast {
namespace graph_hash {

// adjacency: uint8 (B, N, N) 0/1, row = source; labels: int64 (B, N), -3 = padding; N <= 16.
inline void check_graph_batch(const at::Tensor& adjacency, const at::Tensor& labels) {
  NASFAST_CHECK_DTYPE(adjacency, at::kByte);
  NASFAST_CHECK_DTYPE(labels, at::kLong);
  NASFAST_CHECK_DIM(adjacency, 3);
  NASFAST_CHECK_DIM(labels, 2);
  NASFAST_CHECK_SAME_DEVICE(adjacency, labels);
  TORCH_CHECK(adjacency.size(1) == adjacency.size(2), "adjacency must be (B, N, N), got ",
              adjacency.sizes());
  TORCH_CHECK(labels.size(0) == adjacency.size(0) && labels.size(1) == adjacency.size(1),
              "labels must be (B, N) matching adjacency ", adjacency.sizes(), ", got ", labels.sizes());
  TORCH_CHECK(adjacency.size(1) >= 1 && adjacency.size(1) <= kMaxNodes, "graphs must have 1..",
              kMaxNodes, " vertices, got N = ", adjacency.size(1));
}

}  // namespace graph_hash
}  // namespace nasfast
