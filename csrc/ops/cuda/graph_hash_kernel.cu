// graph_hash CUDA kernels: one thread per graph (graphs are tiny and independent; the work is
// md5 and small bit-set loops, so there is nothing to share within a block).
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../graph_hash.h"

namespace nasfast {
namespace graph_hash {
namespace {

constexpr int kThreads = 128;

template <bool kFingerprint>
__global__ void hash_kernel(const uint8_t* __restrict__ adj, const int64_t* __restrict__ labels,
                            int64_t B, int N, bool prune, uint8_t* __restrict__ out) {
  const int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= B) return;
  Graph g;
  if (!load_graph(adj + b * N * N, labels + b * N, N, prune, g)) return;  // row stays zero
  if (kFingerprint) {
    SerialDigests digests;
    nb101_fingerprint(g, out + b * 16, digests);
  } else {
    canonical_hash(g, out + b * 16);
  }
}

template <bool kFingerprint>
at::Tensor hash_batch_cuda(const at::Tensor& adjacency, const at::Tensor& labels, bool prune) {
  check_graph_batch(adjacency, labels);
  TORCH_CHECK(adjacency.device().is_cuda(), "expected CUDA tensors, got ", adjacency.device());
  const c10::cuda::CUDAGuard guard(adjacency.device());
  const at::Tensor adj = adjacency.contiguous();
  const at::Tensor lab = labels.contiguous();
  const int64_t B = adj.size(0);
  const int N = static_cast<int>(adj.size(1));
  at::Tensor out = at::zeros({B, 16}, adj.options());
  if (B == 0) return out;
  const int64_t blocks = (B + kThreads - 1) / kThreads;
  auto stream = c10::cuda::getCurrentCUDAStream();
  hash_kernel<kFingerprint><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      adj.const_data_ptr<uint8_t>(), lab.const_data_ptr<int64_t>(), B, N, prune,
      out.mutable_data_ptr<uint8_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

at::Tensor nb101_fingerprint_cuda(const at::Tensor& adjacency, const at::Tensor& labels) {
  return hash_batch_cuda<true>(adjacency, labels, /*prune=*/true);
}

at::Tensor graph_canonical_hash_cuda(const at::Tensor& adjacency, const at::Tensor& labels, bool prune) {
  return hash_batch_cuda<false>(adjacency, labels, prune);
}

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CUDA, m) {
  m.impl("nb101_fingerprint", &nb101_fingerprint_cuda);
  m.impl("graph_canonical_hash", &graph_canonical_hash_cuda);
}

}  // namespace graph_hash
}  // namespace nasfast
