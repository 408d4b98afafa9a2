// avg_pool3x3 CUDA kernels: one thread per output element, reading its (at most 9) in-bounds
// neighbours; the divisor is applied after the sum (forward) or to each term (adjoint). NCHW and
// channels-last tensors keep their layout.
#include <ATen/Dispatch.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

#include "../avg_pool3x3.h"

namespace nasfast {
namespace avg_pool3x3 {
namespace {

constexpr int kThreads = 256;

// x and y share one dense layout (NCHW or channels-last): strides (sN, sC, sH, sW) in elements.
template <typename T, bool kScaleInput>
__global__ void box_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t total, int64_t C,
                           int64_t H, int64_t W, int64_t sN, int64_t sC, int64_t sH, int64_t sW) {
  for (int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; k < total;
       k += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = k % W, i = (k / W) % H, c = (k / (W * H)) % C, n = k / (W * H * C);
    const T* xp = x + n * sN + c * sC;
    T acc = 0;
    for (int64_t r = (i > 0 ? i - 1 : 0); r <= (i + 1 < H ? i + 1 : H - 1); ++r) {
      for (int64_t q = (j > 0 ? j - 1 : 0); q <= (j + 1 < W ? j + 1 : W - 1); ++q) {
        const T v = xp[r * sH + q * sW];
        acc += kScaleInput ? v * inv_window<T>(r, H) * inv_window<T>(q, W) : v;
      }
    }
    y[n * sN + c * sC + i * sH + j * sW] =
        kScaleInput ? acc : acc * inv_window<T>(i, H) * inv_window<T>(j, W);
  }
}

template <bool kScaleInput>
at::Tensor box_cuda(const at::Tensor& in, const char* name) {
  check_input(in, name);
  TORCH_CHECK(in.is_cuda(), "expected a CUDA tensor, got ", in.device());
  c10::cuda::CUDAGuard guard(in.device());
  const bool nhwc = in.is_contiguous(at::MemoryFormat::ChannelsLast) && !in.is_contiguous();
  const auto format = nhwc ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const at::Tensor x = in.contiguous(format);
  at::Tensor y = at::empty_like(x, format);
  const int64_t total = x.numel(), C = x.size(1), H = x.size(2), W = x.size(3);
  if (total == 0) return y;
  const int64_t blocks = std::min<int64_t>((total + kThreads - 1) / kThreads, 65535 * 8);
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "avg_pool3x3_cuda", [&] {
    box_kernel<scalar_t, kScaleInput><<<blocks, kThreads, 0, stream>>>(
        x.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(), total, C, H, W, x.stride(0),
        x.stride(1), x.stride(2), x.stride(3));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return y;
}

at::Tensor avg_pool3x3_cuda(const at::Tensor& x) { return box_cuda<false>(x, "x"); }
at::Tensor avg_pool3x3_backward_cuda(const at::Tensor& grad) { return box_cuda<true>(grad, "grad"); }

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CUDA, m) {
  m.impl("avg_pool3x3", &avg_pool3x3_cuda);
  m.impl("avg_pool3x3_backward", &avg_pool3x3_backward_cuda);
}

}  // namespace avg_pool3x3
}  // namespace nasfast
