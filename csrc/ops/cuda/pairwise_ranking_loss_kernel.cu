// pairwise_ranking_loss CUDA kernels.
//
// * Sums (the losses, and the all-pairs gradient rows) are deterministic: a fixed tree reduction
//   in shared memory per block, block results written to a buffer, then one block reducing the
//   buffer in a fixed order. The grid size depends only on the problem size.
// * All pairs: one block per row i (threads over j), O(n) extra memory: row sums, row counts.
// * Given pairs, backward: one thread per pair scatters its two terms with an atomic add, so the
//   float summation order into a score shared by many pairs varies from run to run (as for
//   torch's index_add_ on CUDA; it alerts under torch.use_deterministic_algorithms); everything
//   else is deterministic.
// * The incoming gradient and num_pairs are read on the device. The given-pairs forward and
//   backward each sync once, to check the pair indices on the host (the backward too, since it can
//   be called directly: a bad index would write outside the gradient); the all-pairs backward
//   never syncs.
#include <ATen/AccumulateType.h>
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/cuda/Atomic.cuh>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "index_range_check.h"
#include "../pairwise_ranking_loss.h"

namespace nasfast {
namespace pairwise_ranking_loss {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 1024;

// Fixed-order tree sum over the block (blockDim.x == kThreads); the result is valid in thread 0.
template <typename T>
__device__ T block_sum(T v, T* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) shared[threadIdx.x] += shared[threadIdx.x + stride];
    __syncthreads();
  }
  const T out = shared[0];
  __syncthreads();
  return out;
}

// ---- given pairs --------------------------------------------------------------------------------

template <typename scalar_t, typename acc_t>
__global__ void pair_loss_blocks_kernel(const scalar_t* __restrict__ s, const int64_t* __restrict__ pairs,
                                        const scalar_t* __restrict__ y, int64_t P, int64_t chunk,
                                        Kind kind, acc_t margin, acc_t* __restrict__ block_out) {
  __shared__ acc_t shared[kThreads];
  acc_t sum = 0;
  const int64_t p0 = int64_t(blockIdx.x) * chunk, p1 = min(P, p0 + chunk);
  for (int64_t p = p0 + threadIdx.x; p < p1; p += kThreads) {
    const acc_t x = acc_t(y[p]) * (acc_t(s[pairs[2 * p + 1]]) - acc_t(s[pairs[2 * p]]));
    sum += pair_loss<acc_t>(x, kind, margin);
  }
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) block_out[blockIdx.x] = sum;
}

// One block: loss = sum(block_sums) / count (0 when count == 0).
template <typename scalar_t, typename acc_t>
__global__ void finish_mean_kernel(const acc_t* __restrict__ block_sums, const int64_t* __restrict__ block_counts,
                                   int64_t blocks, int64_t fixed_count, scalar_t* __restrict__ loss,
                                   int64_t* __restrict__ num_pairs) {
  __shared__ acc_t shared[kThreads];
  __shared__ long long shared_count[kThreads];
  acc_t sum = 0;
  long long count = 0;
  for (int64_t k = threadIdx.x; k < blocks; k += kThreads) {
    sum += block_sums[k];
    if (block_counts) count += block_counts[k];
  }
  sum = block_sum(sum, shared);
  count = block_sum(count, shared_count);
  if (threadIdx.x == 0) {
    const int64_t total = block_counts ? int64_t(count) : fixed_count;
    *loss = static_cast<scalar_t>(total > 0 ? sum / acc_t(total) : acc_t(0));
    if (num_pairs) *num_pairs = total;
  }
}

template <typename scalar_t, typename acc_t>
__global__ void pair_grad_kernel(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ s,
                                 const int64_t* __restrict__ pairs, const scalar_t* __restrict__ y,
                                 int64_t P, Kind kind, acc_t margin, scalar_t* __restrict__ out) {
  const int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= P) return;
  const int64_t a = pairs[2 * p], b = pairs[2 * p + 1];
  const acc_t yp = acc_t(y[p]);
  const acc_t c = acc_t(*grad) / acc_t(P) * pair_loss_grad<acc_t>(yp * (acc_t(s[b]) - acc_t(s[a])), kind, margin) * yp;
  gpuAtomicAdd(out + b, static_cast<scalar_t>(c));
  gpuAtomicAdd(out + a, static_cast<scalar_t>(-c));
}

int64_t num_blocks(int64_t work) {
  return std::max<int64_t>(1, std::min<int64_t>(kMaxBlocks, (work + kThreads - 1) / kThreads));
}

at::Tensor pairwise_ranking_loss_cuda(const at::Tensor& scores_in, const at::Tensor& pairs_in,
                                      const at::Tensor& labels_in, c10::string_view kind_name,
                                      double margin) {
  check_pairs(scores_in, pairs_in, labels_in);
  TORCH_CHECK(scores_in.device().is_cuda(), "expected CUDA tensors, got ", scores_in.device());
  const Kind kind = parse_kind(kind_name);
  const c10::cuda::CUDAGuard guard(scores_in.device());
  const at::Tensor scores = scores_in.contiguous(), pairs = pairs_in.contiguous();
  const at::Tensor labels = labels_in.contiguous();
  const int64_t n = scores.size(0), P = pairs.size(0);
  check_index_range_on_device(pairs, n, "pairs hold indices", "scores");
  auto stream = c10::cuda::getCurrentCUDAStream();
  at::Tensor loss = at::empty({}, scores.options());
  const int64_t blocks = num_blocks(P);
  const int64_t chunk = std::max<int64_t>(1, (P + blocks - 1) / blocks);
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "pairwise_ranking_loss_cuda", [&] {
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
    at::Tensor partial = at::empty({blocks}, scores.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
    pair_loss_blocks_kernel<scalar_t, acc_t><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        scores.const_data_ptr<scalar_t>(), pairs.const_data_ptr<int64_t>(), labels.const_data_ptr<scalar_t>(), P,
        chunk, kind, acc_t(margin), partial.mutable_data_ptr<acc_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    finish_mean_kernel<scalar_t, acc_t><<<1, kThreads, 0, stream>>>(
        partial.const_data_ptr<acc_t>(), nullptr, blocks, P, loss.mutable_data_ptr<scalar_t>(), nullptr);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return loss;
}

at::Tensor pairwise_ranking_loss_backward_cuda(const at::Tensor& grad_in, const at::Tensor& scores_in,
                                               const at::Tensor& pairs_in, const at::Tensor& labels_in,
                                               c10::string_view kind_name, double margin) {
  check_pairs(scores_in, pairs_in, labels_in);
  check_scalar_grad(grad_in, scores_in);
  TORCH_CHECK(scores_in.device().is_cuda(), "expected CUDA tensors, got ", scores_in.device());
  const Kind kind = parse_kind(kind_name);
  const c10::cuda::CUDAGuard guard(scores_in.device());
  const at::Tensor grad = grad_in.contiguous(), scores = scores_in.contiguous();
  const at::Tensor pairs = pairs_in.contiguous(), labels = labels_in.contiguous();
  const int64_t P = pairs.size(0);
  // as the CPU backward does: a pair out of range would write outside grad_scores
  check_index_range_on_device(pairs, scores.size(0), "pairs hold indices", "scores");
  at::globalContext().alertNotDeterministic("nasfast::pairwise_ranking_loss_backward (CUDA atomic adds)");
  at::Tensor grad_scores = at::zeros_like(scores);
  if (P == 0) return grad_scores;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "pairwise_ranking_loss_backward_cuda", [&] {
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
    pair_grad_kernel<scalar_t, acc_t><<<static_cast<unsigned>((P + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
        grad.const_data_ptr<scalar_t>(), scores.const_data_ptr<scalar_t>(), pairs.const_data_ptr<int64_t>(),
        labels.const_data_ptr<scalar_t>(), P, kind, acc_t(margin), grad_scores.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad_scores;
}

// ---- all pairs of a batch -----------------------------------------------------------------------

template <typename scalar_t, typename acc_t>
__global__ void all_pairs_rows_kernel(const scalar_t* __restrict__ s, const scalar_t* __restrict__ t, int64_t n,
                                      Kind kind, acc_t margin, double thr, acc_t* __restrict__ row_sum,
                                      int64_t* __restrict__ row_count) {
  __shared__ acc_t shared[kThreads];
  __shared__ long long shared_count[kThreads];
  const int64_t i = blockIdx.x;
  const acc_t si = s[i];
  const double ti = t[i];
  acc_t sum = 0;
  long long count = 0;
  for (int64_t j = i + 1 + threadIdx.x; j < n; j += kThreads) {
    const double dt = double(t[j]) - ti;  // in double, as the CPU kernel: which pairs tie must not differ
    if (!(fabs(dt) > thr)) continue;  // ties and NaN targets form no pair
    sum += pair_loss<acc_t>((dt > 0 ? acc_t(1) : acc_t(-1)) * (acc_t(s[j]) - si), kind, margin);
    ++count;
  }
  sum = block_sum(sum, shared);
  count = block_sum(count, shared_count);
  if (threadIdx.x == 0) {
    row_sum[i] = sum;
    row_count[i] = count;
  }
}

template <typename scalar_t, typename acc_t>
__global__ void all_pairs_grad_kernel(const scalar_t* __restrict__ grad, const scalar_t* __restrict__ s,
                                      const scalar_t* __restrict__ t, const int64_t* __restrict__ num_pairs,
                                      int64_t n, Kind kind, acc_t margin, double thr, scalar_t* __restrict__ out) {
  __shared__ acc_t shared[kThreads];
  const int64_t k = blockIdx.x;
  const int64_t count = *num_pairs;
  const acc_t sk = s[k];
  const double tk = t[k];
  acc_t sum = 0;
  for (int64_t m = threadIdx.x; m < n; m += kThreads) {
    const double dt = double(t[m]) - tk;
    if (m == k || !(fabs(dt) > thr)) continue;
    const acc_t y = dt > 0 ? acc_t(1) : acc_t(-1);
    sum -= y * pair_loss_grad<acc_t>(y * (acc_t(s[m]) - sk), kind, margin);
  }
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) out[k] = static_cast<scalar_t>(count > 0 ? acc_t(*grad) / acc_t(count) * sum : acc_t(0));
}

std::tuple<at::Tensor, at::Tensor> all_pairs_ranking_loss_cuda(const at::Tensor& scores_in,
                                                               const at::Tensor& targets_in,
                                                               c10::string_view kind_name, double margin,
                                                               double tie_threshold) {
  check_all_pairs(scores_in, targets_in, tie_threshold);
  TORCH_CHECK(scores_in.device().is_cuda(), "expected CUDA tensors, got ", scores_in.device());
  const Kind kind = parse_kind(kind_name);
  const c10::cuda::CUDAGuard guard(scores_in.device());
  const at::Tensor scores = scores_in.contiguous(), targets = targets_in.contiguous();
  const int64_t n = scores.size(0);
  auto stream = c10::cuda::getCurrentCUDAStream();
  at::Tensor loss = at::empty({}, scores.options());
  at::Tensor num_pairs = at::empty({}, scores.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "all_pairs_ranking_loss_cuda", [&] {
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
    at::Tensor row_sum = at::empty({std::max<int64_t>(n, 1)}, scores.options().dtype(c10::CppTypeToScalarType<acc_t>::value));
    at::Tensor row_count = at::empty({std::max<int64_t>(n, 1)}, scores.options().dtype(at::kLong));
    if (n > 0) {
      all_pairs_rows_kernel<scalar_t, acc_t><<<static_cast<unsigned>(n), kThreads, 0, stream>>>(
          scores.const_data_ptr<scalar_t>(), targets.const_data_ptr<scalar_t>(), n, kind, acc_t(margin),
          tie_threshold, row_sum.mutable_data_ptr<acc_t>(), row_count.mutable_data_ptr<int64_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    finish_mean_kernel<scalar_t, acc_t><<<1, kThreads, 0, stream>>>(
        row_sum.const_data_ptr<acc_t>(), row_count.const_data_ptr<int64_t>(), n, 0,
        loss.mutable_data_ptr<scalar_t>(), num_pairs.mutable_data_ptr<int64_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {loss, num_pairs};
}

at::Tensor all_pairs_ranking_loss_backward_cuda(const at::Tensor& grad_in, const at::Tensor& scores_in,
                                                const at::Tensor& targets_in, const at::Tensor& num_pairs_in,
                                                c10::string_view kind_name, double margin, double tie_threshold) {
  check_all_pairs(scores_in, targets_in, tie_threshold);
  check_scalar_grad(grad_in, scores_in);
  TORCH_CHECK(num_pairs_in.numel() == 1 && num_pairs_in.scalar_type() == at::kLong,
              "num_pairs must be an int64 scalar, got ", num_pairs_in.scalar_type(), " of shape ",
              num_pairs_in.sizes());
  NASFAST_CHECK_SAME_DEVICE(num_pairs_in, scores_in);
  TORCH_CHECK(scores_in.device().is_cuda(), "expected CUDA tensors, got ", scores_in.device());
  const Kind kind = parse_kind(kind_name);
  const c10::cuda::CUDAGuard guard(scores_in.device());
  const at::Tensor grad = grad_in.contiguous(), scores = scores_in.contiguous();
  const at::Tensor targets = targets_in.contiguous(), num_pairs = num_pairs_in.contiguous();
  const int64_t n = scores.size(0);
  at::Tensor grad_scores = at::empty_like(scores);
  if (n == 0) return grad_scores;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "all_pairs_ranking_loss_backward_cuda", [&] {
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/true>;
    all_pairs_grad_kernel<scalar_t, acc_t><<<static_cast<unsigned>(n), kThreads, 0, stream>>>(
        grad.const_data_ptr<scalar_t>(), scores.const_data_ptr<scalar_t>(), targets.const_data_ptr<scalar_t>(),
        num_pairs.const_data_ptr<int64_t>(), n, kind, acc_t(margin), tie_threshold,
        grad_scores.mutable_data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return grad_scores;
}

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CUDA, m) {
  m.impl("pairwise_ranking_loss", &pairwise_ranking_loss_cuda);
  m.impl("pairwise_ranking_loss_backward", &pairwise_ranking_loss_backward_cuda);
  m.impl("all_pairs_ranking_loss", &all_pairs_ranking_loss_cuda);
  m.impl("all_pairs_ranking_loss_backward", &all_pairs_ranking_loss_backward_cuda);
}

}  // namespace pairwise_ranking_loss
}  // namespace nasfast
