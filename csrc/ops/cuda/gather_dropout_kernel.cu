// gather_dropout CUDA kernels, drawing the CPU kernels' mask. gather_dropout: one thread per output
// element; the backward adds it into the gathered row with an atomic add. gather_dropout_dot: one warp
// per output row (a shuffle reduction); its backward has a thread per (chunk of rows, column) that
// adds each row into g_x atomically and its chunk's sum into g_w with one. Atomic adds make the
// float sum order (and the last bits) vary between runs, as torch's index_add_ on CUDA does; the
// backward entry points say so under torch.use_deterministic_algorithms.
// Dropped elements are multiplied by 0, not skipped, as on the CPU and in torch's dropout: a NaN or
// inf there stays NaN rather than becoming 0 on one device only.
#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/cuda/Atomic.cuh>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

#include "index_range_check.h"
#include "../gather_dropout.h"

namespace nasfast {
namespace gather_dropout {
namespace {

constexpr int kThreads = 256;

// The kept element's factor: scale or 0, multiplied in (not branched on), as the CPU kernels do.
template <typename T>
__device__ __forceinline__ T mask(uint64_t seed, uint64_t k, uint64_t threshold, T scale) {
  return keep(seed, k, threshold) ? scale : T(0);
}
constexpr int64_t kMaxBlocks = 65535 * 8;

template <typename T, bool kBackward>
__global__ void gather_dropout_kernel(const T* __restrict__ in, const int64_t* __restrict__ idx,
                                      T* __restrict__ out, int64_t total, int64_t d, uint64_t seed,
                                      uint64_t threshold, T scale) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total;
       k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t u = k / d, j = k - u * d;
    const int64_t row = idx[u];
    if (kBackward) {  // in = grad (U, d) -> out (rows, d)
      gpuAtomicAdd(out + row * d + j, in[k] * mask(seed, uint64_t(k), threshold, scale));
    } else {  // in = x (n, d) -> out (U, d)
      out[k] = in[row * d + j] * mask(seed, uint64_t(k), threshold, scale);
    }
  }
}

// y[u] = sum_j x[idx[u], j] m(u, j) w[j]: a warp per row.
template <typename T>
__global__ void dot_kernel(const T* __restrict__ x, const int64_t* __restrict__ idx, const T* __restrict__ w,
                           T* __restrict__ y, int64_t U, int64_t d, uint64_t seed, uint64_t threshold, T scale) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t u = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; u < U; u += warps) {
    const T* xr = x + idx[u] * d;
    T sum = 0;
    for (int64_t j = lane; j < d; j += 32) {
      sum += xr[j] * w[j] * mask(seed, uint64_t(u) * uint64_t(d) + uint64_t(j), threshold, T(1));
    }
    for (int off = 16; off > 0; off /= 2) sum += __shfl_down_sync(0xffffffffu, sum, off);
    if (lane == 0) y[u] = sum * scale;
  }
}

constexpr int64_t kRowsPerThread = 64;

// Thread (chunk c, column j) of the dot's backward: rows c * kRowsPerThread ... of column j.
template <typename T>
__global__ void dot_backward_kernel(const T* __restrict__ g, const T* __restrict__ x,
                                    const int64_t* __restrict__ idx, const T* __restrict__ w, T* __restrict__ gx,
                                    T* __restrict__ gw, int64_t U, int64_t d, uint64_t seed, uint64_t threshold,
                                    T scale) {
  const int64_t chunks = (U + kRowsPerThread - 1) / kRowsPerThread, total = chunks * d;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total; t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = t / d, j = t - c * d;
    const T wj = w[j];
    T acc = 0;
    for (int64_t u = c * kRowsPerThread, end = min(U, u + kRowsPerThread); u < end; ++u) {
      const int64_t i = idx[u];
      const T gm = g[u] * mask(seed, uint64_t(u) * uint64_t(d) + uint64_t(j), threshold, scale);
      gpuAtomicAdd(gx + i * d + j, gm * wj);
      acc += gm * x[i * d + j];
    }
    gpuAtomicAdd(gw + j, acc);
  }
}

template <bool kBackward>
void launch(const at::Tensor& in, const at::Tensor& index, at::Tensor& out, double p, int64_t seed) {
  const int64_t total = index.size(0) * in.size(1);
  if (total == 0) return;
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(kMaxBlocks, (total + kThreads - 1) / kThreads));
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "gather_dropout_cuda", [&] {
    gather_dropout_kernel<scalar_t, kBackward><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        in.const_data_ptr<scalar_t>(), index.const_data_ptr<int64_t>(), out.mutable_data_ptr<scalar_t>(),
        total, in.size(1), static_cast<uint64_t>(seed), drop_threshold(p),
        static_cast<scalar_t>(keep_scale(p)));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

at::Tensor gather_dropout_cuda(const at::Tensor& x_in, const at::Tensor& index_in, double p, int64_t seed) {
  check_inputs(x_in, index_in, p, "x");
  TORCH_CHECK(x_in.is_cuda(), "expected CUDA tensors, got ", x_in.device());
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous(), index = index_in.contiguous();
  check_index_range_on_device(index, x.size(0), "index holds values", "rows");
  at::Tensor y = at::empty({index.size(0), x.size(1)}, x.options());
  launch<false>(x, index, y, p, seed);
  return y;
}

at::Tensor gather_dropout_backward_cuda(const at::Tensor& grad_in, const at::Tensor& index_in, int64_t rows,
                                        double p, int64_t seed) {
  check_backward_inputs(grad_in, index_in, rows, p);
  TORCH_CHECK(grad_in.is_cuda(), "expected CUDA tensors, got ", grad_in.device());
  at::globalContext().alertNotDeterministic("nasfast::gather_dropout_backward (CUDA atomic adds)");
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const at::Tensor grad = grad_in.contiguous(), index = index_in.contiguous();
  check_index_range_on_device(index, rows, "index holds values", "rows");
  at::Tensor gx = at::zeros({rows, grad.size(1)}, grad.options());
  launch<true>(grad, index, gx, p, seed);
  return gx;
}

at::Tensor gather_dropout_dot_cuda(const at::Tensor& x_in, const at::Tensor& index_in, const at::Tensor& w_in,
                                   double p, int64_t seed) {
  check_inputs(x_in, index_in, p, "x");
  check_weight(x_in, w_in);
  TORCH_CHECK(x_in.is_cuda(), "expected CUDA tensors, got ", x_in.device());
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous(), index = index_in.contiguous(), w = w_in.contiguous();
  check_index_range_on_device(index, x.size(0), "index holds values", "rows");
  const int64_t U = index.size(0), d = x.size(1);
  at::Tensor y = at::zeros({U}, x.options());
  if (U == 0 || d == 0) return y;
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(kMaxBlocks, (U * 32 + kThreads - 1) / kThreads));
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gather_dropout_dot_cuda", [&] {
    dot_kernel<scalar_t><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        x.const_data_ptr<scalar_t>(), index.const_data_ptr<int64_t>(), w.const_data_ptr<scalar_t>(),
        y.mutable_data_ptr<scalar_t>(), U, d, static_cast<uint64_t>(seed), drop_threshold(p),
        static_cast<scalar_t>(keep_scale(p)));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return y;
}

std::tuple<at::Tensor, at::Tensor> gather_dropout_dot_backward_cuda(const at::Tensor& grad_in,
                                                                    const at::Tensor& x_in,
                                                                    const at::Tensor& index_in,
                                                                    const at::Tensor& w_in, double p,
                                                                    int64_t seed) {
  check_inputs(x_in, index_in, p, "x");
  check_weight(x_in, w_in);
  check_dot_grad(grad_in, x_in, index_in);
  TORCH_CHECK(x_in.is_cuda(), "expected CUDA tensors, got ", x_in.device());
  at::globalContext().alertNotDeterministic("nasfast::gather_dropout_dot_backward (CUDA atomic adds)");
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous(), index = index_in.contiguous(), w = w_in.contiguous();
  const at::Tensor grad = grad_in.contiguous();
  check_index_range_on_device(index, x.size(0), "index holds values", "rows");
  at::Tensor gx = at::zeros_like(x), gw = at::zeros_like(w);
  const int64_t U = index.size(0), d = x.size(1);
  const int64_t total = (U + kRowsPerThread - 1) / kRowsPerThread * d;
  if (total == 0) return {gx, gw};
  const int64_t blocks = std::max<int64_t>(1, std::min<int64_t>(kMaxBlocks, (total + kThreads - 1) / kThreads));
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gather_dropout_dot_backward_cuda", [&] {
    dot_backward_kernel<scalar_t><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
        grad.const_data_ptr<scalar_t>(), x.const_data_ptr<scalar_t>(), index.const_data_ptr<int64_t>(),
        w.const_data_ptr<scalar_t>(), gx.mutable_data_ptr<scalar_t>(), gw.mutable_data_ptr<scalar_t>(), U, d,
        static_cast<uint64_t>(seed), drop_threshold(p), static_cast<scalar_t>(keep_scale(p)));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {gx, gw};
}

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CUDA, m) {
  m.impl("gather_dropout", &gather_dropout_cuda);
  m.impl("gather_dropout_backward", &gather_dropout_backward_cuda);
  m.impl("gather_dropout_dot", &gather_dropout_dot_cuda);
  m.impl("gather_dropout_dot_backward", &gather_dropout_dot_backward_cuda);
}

}  // namespace gather_dropout
}  // namespace nasfast
