// gates_aggregate CUDA kernels.
//
// * Forward and dL/dS: one thread per output element. A block is (bx threads over D) x (by rows),
//   so a warp reads whole contiguous D-rows of S and G, and the N op indices of a row are a
//   broadcast load. dL/dS is the same sum over the transposed edge matrix, applied to dL/dy.
// * dL/dG: deterministic two-stage reduction, no atomics. Stage 1: one block per fixed chunk of
//   graphs (and D tile, and group of ops); each thread owns one column d and sums its chunk's
//   dy[b,i,d] * S[b,j,d] into per-op accumulators in shared memory (only its own column: no
//   races, no syncs). Stage 2: one thread per (k, d) sums the chunk partials in chunk order.
//   The chunk size depends only on B, so the result does not depend on the device or on timing.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/max.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "../gates_aggregate.h"

namespace nasfast {
namespace gates_aggregate {
namespace {

constexpr int kBlockThreads = 256;
constexpr int64_t kMaxGradChunks = 2048;
constexpr int kSharedBytes = 48 * 1024;

template <typename scalar_t, typename acc_t, bool kTranspose>
__global__ void aggregate_rows_kernel(const scalar_t* __restrict__ X, const scalar_t* __restrict__ G,
                                      const int64_t* __restrict__ E, const bool* __restrict__ res,
                                      int64_t rows, int N, int D, int64_t K,
                                      scalar_t* __restrict__ out) {
  const int64_t row = int64_t(blockIdx.x) * blockDim.y + threadIdx.y;
  const int d = blockIdx.y * blockDim.x + threadIdx.x;
  if (row >= rows || d >= D) return;
  const int64_t b = row / N;
  const int r = static_cast<int>(row - b * N);
  const scalar_t* Xb = X + b * N * D;
  const int64_t* Eb = E + b * N * N;
  acc_t acc = res[r] ? acc_t(Xb[int64_t(r) * D + d]) : acc_t(0);
  for (int c = 0; c < N; ++c) {
    const int64_t e = kTranspose ? Eb[int64_t(c) * N + r] : Eb[int64_t(r) * N + c];
    // e < K was checked on the host; the guard keeps reads in bounds regardless.
    if (e >= 0 && e < K) acc += acc_t(G[e * D + d]) * acc_t(Xb[int64_t(c) * D + d]);
  }
  out[row * D + d] = static_cast<scalar_t>(acc);
}

// partial (num_chunks, K, D): ops [k0, k0 + ops_per_block) of chunk blockIdx.x, D tile blockIdx.y.
template <typename scalar_t, typename acc_t>
__global__ void grad_gate_partial_kernel(const scalar_t* __restrict__ dy, const scalar_t* __restrict__ S,
                                         const int64_t* __restrict__ E, int64_t B, int N, int D,
                                         int64_t K, int64_t chunk, int ops_per_block,
                                         acc_t* __restrict__ partial) {
  extern __shared__ __align__(16) unsigned char smem_raw[];
  acc_t* acc = reinterpret_cast<acc_t*>(smem_raw);  // [ops_per_block][blockDim.x]
  const int tx = threadIdx.x;
  const int d = blockIdx.y * blockDim.x + tx;
  const int64_t k0 = int64_t(blockIdx.z) * ops_per_block;
  const int64_t k1 = min(K, k0 + ops_per_block);
  if (d >= D) return;
  for (int64_t k = k0; k < k1; ++k) acc[(k - k0) * blockDim.x + tx] = acc_t(0);
  const int64_t b0 = int64_t(blockIdx.x) * chunk;
  const int64_t b1 = min(B, b0 + chunk);
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t* Eb = E + b * N * N;
    for (int i = 0; i < N; ++i) {
      const acc_t g = acc_t(dy[(b * N + i) * D + d]);
      for (int j = 0; j < N; ++j) {
        const int64_t e = Eb[int64_t(i) * N + j];
        if (e >= k0 && e < k1) acc[(e - k0) * blockDim.x + tx] += g * acc_t(S[(b * N + j) * D + d]);
      }
    }
  }
  for (int64_t k = k0; k < k1; ++k) {
    partial[(int64_t(blockIdx.x) * K + k) * D + d] = acc[(k - k0) * blockDim.x + tx];
  }
}

template <typename scalar_t, typename acc_t>
__global__ void sum_chunks_kernel(const acc_t* __restrict__ partial, int64_t num_chunks, int64_t KD,
                                  scalar_t* __restrict__ out) {
  const int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (q >= KD) return;
  acc_t s = 0;
  for (int64_t c = 0; c < num_chunks; ++c) s += partial[c * KD + q];
  out[q] = static_cast<scalar_t>(s);
}

// Threads over D: a multiple of 32 up to 128; the rest of the block goes to rows.
dim3 row_block(int64_t D) {
  const int bx = static_cast<int>(std::min<int64_t>(128, std::max<int64_t>(32, (D + 31) / 32 * 32)));
  return dim3(bx, kBlockThreads / bx);
}

// One host sync: a bad index is reported as an error rather than read out of bounds or trapped
// by a device assert (which would poison the CUDA context).
void check_op_range(const at::Tensor& E, int64_t K) {
  if (E.numel() == 0) return;
  const int64_t e = at::max(E).item<int64_t>();
  TORCH_CHECK(e < K, "edge_op holds op index ", e, ", out of range: G has K = ", K,
              " rows (op indices are 0..K-1, negative = no edge)");
}

template <bool kTranspose>
void launch_aggregate(const at::Tensor& X, const at::Tensor& G, const at::Tensor& E,
                      const at::Tensor& res, at::Tensor& out, cudaStream_t stream) {
  const int64_t B = X.size(0), N = X.size(1), D = X.size(2), K = G.size(0);
  const int64_t rows = B * N;
  if (rows == 0 || D == 0) return;
  const dim3 block = row_block(D);
  const dim3 grid(static_cast<unsigned>((rows + block.y - 1) / block.y),
                  static_cast<unsigned>((D + block.x - 1) / block.x));
  AT_DISPATCH_FLOATING_TYPES(X.scalar_type(), "gates_aggregate_cuda", [&] {
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
    aggregate_rows_kernel<scalar_t, acc_t, kTranspose><<<grid, block, 0, stream>>>(
        X.const_data_ptr<scalar_t>(), G.const_data_ptr<scalar_t>(), E.const_data_ptr<int64_t>(),
        res.const_data_ptr<bool>(), rows, static_cast<int>(N), static_cast<int>(D), K,
        out.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

at::Tensor gates_aggregate_cuda(const at::Tensor& S_in, const at::Tensor& G_in,
                                const at::Tensor& edge_op_in, const at::Tensor& residual_in) {
  check_inputs(S_in, G_in, edge_op_in, residual_in);
  TORCH_CHECK(S_in.device().is_cuda(), "expected CUDA tensors, got ", S_in.device());
  const c10::cuda::CUDAGuard guard(S_in.device());
  const at::Tensor S = S_in.contiguous(), G = G_in.contiguous();
  const at::Tensor E = edge_op_in.contiguous(), res = residual_in.contiguous();
  check_op_range(E, G.size(0));
  at::Tensor out = at::empty_like(S);
  launch_aggregate<false>(S, G, E, res, out, c10::cuda::getCurrentCUDAStream());
  return out;
}

std::tuple<at::Tensor, at::Tensor> gates_aggregate_backward_cuda(const at::Tensor& grad_in,
                                                                 const at::Tensor& S_in,
                                                                 const at::Tensor& G_in,
                                                                 const at::Tensor& edge_op_in,
                                                                 const at::Tensor& residual_in) {
  check_inputs(S_in, G_in, edge_op_in, residual_in);
  check_grad(grad_in, S_in);
  TORCH_CHECK(S_in.device().is_cuda(), "expected CUDA tensors, got ", S_in.device());
  const c10::cuda::CUDAGuard guard(S_in.device());
  const at::Tensor dy = grad_in.contiguous(), S = S_in.contiguous(), G = G_in.contiguous();
  const at::Tensor E = edge_op_in.contiguous(), res = residual_in.contiguous();
  const int64_t B = S.size(0), N = S.size(1), D = S.size(2), K = G.size(0);
  check_op_range(E, K);
  auto stream = c10::cuda::getCurrentCUDAStream();
  at::Tensor grad_S = at::empty_like(S);
  launch_aggregate<true>(dy, G, E, res, grad_S, stream);
  at::Tensor grad_G = at::zeros_like(G);
  if (B == 0 || N == 0 || D == 0 || K == 0) return {grad_S, grad_G};

  const int64_t chunk = std::max<int64_t>(8, (B + kMaxGradChunks - 1) / kMaxGradChunks);
  const int64_t num_chunks = (B + chunk - 1) / chunk;
  const int bx = row_block(D).x;
  AT_DISPATCH_FLOATING_TYPES(S.scalar_type(), "gates_aggregate_backward_cuda", [&] {
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
    const int ops_per_block = static_cast<int>(
        std::min<int64_t>(K, std::max<int64_t>(1, kSharedBytes / (bx * int64_t(sizeof(acc_t))))));
    const int64_t op_groups = (K + ops_per_block - 1) / ops_per_block;
    at::Tensor partial = at::empty({num_chunks, K, D}, S.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
    const dim3 grid(static_cast<unsigned>(num_chunks), static_cast<unsigned>((D + bx - 1) / bx),
                    static_cast<unsigned>(op_groups));
    const size_t smem = size_t(ops_per_block) * bx * sizeof(acc_t);
    grad_gate_partial_kernel<scalar_t, acc_t><<<grid, bx, smem, stream>>>(
        dy.const_data_ptr<scalar_t>(), S.const_data_ptr<scalar_t>(), E.const_data_ptr<int64_t>(), B,
        static_cast<int>(N), static_cast<int>(D), K, chunk, ops_per_block,
        partial.mutable_data_ptr<acc_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const int64_t KD = K * D;
    sum_chunks_kernel<scalar_t, acc_t><<<static_cast<unsigned>((KD + 255) / 256), 256, 0, stream>>>(
        partial.const_data_ptr<acc_t>(), num_chunks, KD, grad_G.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_S, grad_G};
}

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CUDA, m) {
  m.impl("gates_aggregate", &gates_aggregate_cuda);
  m.impl("gates_aggregate_backward", &gates_aggregate_backward_cuda);
}

}  // namespace gates_aggregate
}  // namespace nasfast
