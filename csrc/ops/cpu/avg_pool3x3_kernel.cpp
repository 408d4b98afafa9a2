// avg_pool3x3 CPU kernels. One plane (n, c) at a time, in parallel over planes: 3-row sums into a
// row buffer (a loop the compiler vectorises over columns), then 3-column sums of the buffer. The
// window divisor is separable (rows(i) * cols(j)), so scaling costs one multiply per element: after
// the sum for the forward pass, before it for the adjoint.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <vector>

#include "../avg_pool3x3.h"

namespace nasfast {
namespace avg_pool3x3 {
namespace {

template <typename T, bool kScaleInput>
void box_plane(const T* x, T* y, int64_t H, int64_t W, const T* rinv, const T* cinv, T* rowbuf) {
  for (int64_t i = 0; i < H; ++i) {
    const int64_t lo = i > 0 ? i - 1 : 0, hi = i + 1 < H ? i + 1 : H - 1;
    for (int64_t j = 0; j < W; ++j) rowbuf[j] = 0;
    for (int64_t r = lo; r <= hi; ++r) {
      const T* xr = x + r * W;
      const T s = kScaleInput ? rinv[r] : T(1);
      for (int64_t j = 0; j < W; ++j) rowbuf[j] += xr[j] * s;
    }
    if (kScaleInput) {
      for (int64_t j = 0; j < W; ++j) rowbuf[j] *= cinv[j];
    }
    T* yr = y + i * W;
    const T out_scale = kScaleInput ? T(1) : rinv[i];
    if (W == 1) {
      yr[0] = rowbuf[0] * (kScaleInput ? T(1) : cinv[0]) * out_scale;
      continue;
    }
    yr[0] = (rowbuf[0] + rowbuf[1]) * (kScaleInput ? T(1) : cinv[0]) * out_scale;
    for (int64_t j = 1; j + 1 < W; ++j) {
      yr[j] = (rowbuf[j - 1] + rowbuf[j] + rowbuf[j + 1]) * (kScaleInput ? T(1) : cinv[j]) * out_scale;
    }
    yr[W - 1] = (rowbuf[W - 2] + rowbuf[W - 1]) * (kScaleInput ? T(1) : cinv[W - 1]) * out_scale;
  }
}

template <bool kScaleInput>
at::Tensor box_cpu(const at::Tensor& in, const char* name) {
  check_input(in, name);
  TORCH_CHECK(in.device().is_cpu(), "expected a CPU tensor, got ", in.device());
  const at::Tensor x = in.contiguous();
  at::Tensor y = at::empty_like(x, at::MemoryFormat::Contiguous);
  const int64_t planes = x.size(0) * x.size(1), H = x.size(2), W = x.size(3);
  if (planes == 0 || H == 0 || W == 0) return y;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "avg_pool3x3_cpu", [&] {
    std::vector<scalar_t> rinv(H), cinv(W);
    for (int64_t i = 0; i < H; ++i) rinv[i] = inv_window<scalar_t>(i, H);
    for (int64_t j = 0; j < W; ++j) cinv[j] = inv_window<scalar_t>(j, W);
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    scalar_t* yp = y.mutable_data_ptr<scalar_t>();
    // grain: enough planes per task to amortise the scheduling (~16k elements)
    const int64_t grain = std::max<int64_t>(1, 16384 / (H * W));
    at::parallel_for(0, planes, grain, [&](int64_t p0, int64_t p1) {
      std::vector<scalar_t> rowbuf(W);
      for (int64_t p = p0; p < p1; ++p) {
        box_plane<scalar_t, kScaleInput>(xp + p * H * W, yp + p * H * W, H, W, rinv.data(),
                                         cinv.data(), rowbuf.data());
      }
    });
  });
  return y;
}

at::Tensor avg_pool3x3_cpu(const at::Tensor& x) { return box_cpu<false>(x, "x"); }
at::Tensor avg_pool3x3_backward_cpu(const at::Tensor& grad) { return box_cpu<true>(grad, "grad"); }

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CPU, m) {
  m.impl("avg_pool3x3", &avg_pool3x3_cpu);
  m.impl("avg_pool3x3_backward", &avg_pool3x3_backward_cpu);
}

}  // namespace avg_pool3x3
}  // namespace nasfast
