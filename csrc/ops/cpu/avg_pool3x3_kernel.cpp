// avg_pool3x3 CPU kernels, for NCHW and channels-last tensors. One grid at a time (an (n, c)
// plane, or a whole channels-last image), in parallel over grids: 3-row sums into a row buffer
// (loops over contiguous memory, which the compiler vectorises), then 3-pixel sums of the buffer.
// The window divisor is separable (rows(i) * cols(j)): applied after the sum for the forward pass,
// to each term for the adjoint.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../avg_pool3x3.h"

namespace nasfast {
namespace avg_pool3x3 {
namespace {

// One (H, W) grid of `vec`-element pixels: NCHW planes have vec = 1, a channels-last image has
// vec = C (its channels are contiguous, so the loops below run over contiguous memory either way).
template <typename T, bool kScaleInput>
void box_grid(const T* x, T* y, int64_t H, int64_t W, int64_t vec, const T* rinv, const T* cinv,
              T* rowbuf) {
  const int64_t row = W * vec;
  for (int64_t i = 0; i < H; ++i) {
    const int64_t lo = i > 0 ? i - 1 : 0, hi = i + 1 < H ? i + 1 : H - 1;
    for (int64_t k = 0; k < row; ++k) rowbuf[k] = 0;
    for (int64_t r = lo; r <= hi; ++r) {
      const T* xr = x + r * row;
      const T s = kScaleInput ? rinv[r] : T(1);
      for (int64_t k = 0; k < row; ++k) rowbuf[k] += xr[k] * s;
    }
    T* yr = y + i * row;
    for (int64_t j = 0; j < W; ++j) {
      const int64_t jl = j > 0 ? j - 1 : 0, jh = j + 1 < W ? j + 1 : W - 1;
      const T out_scale = kScaleInput ? T(1) : rinv[i] * cinv[j];
      T* out = yr + j * vec;
      for (int64_t c = 0; c < vec; ++c) out[c] = 0;
      for (int64_t jj = jl; jj <= jh; ++jj) {
        const T* in = rowbuf + jj * vec;
        const T s = kScaleInput ? cinv[jj] : T(1);
        for (int64_t c = 0; c < vec; ++c) out[c] += in[c] * s;
      }
      for (int64_t c = 0; c < vec; ++c) out[c] *= out_scale;
    }
  }
}

// NCHW plane (vec = 1): the same two passes with the column loop unrolled at the borders, so the
// interior loop has no branches and vectorises.
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
    const T rs = kScaleInput ? T(1) : rinv[i];
    if (W == 1) {
      yr[0] = rowbuf[0] * (kScaleInput ? T(1) : cinv[0]) * rs;
      continue;
    }
    yr[0] = (rowbuf[0] + rowbuf[1]) * (kScaleInput ? T(1) : cinv[0]) * rs;
    for (int64_t j = 1; j + 1 < W; ++j) {
      yr[j] = (rowbuf[j - 1] + rowbuf[j] + rowbuf[j + 1]) * (kScaleInput ? T(1) : cinv[j]) * rs;
    }
    yr[W - 1] = (rowbuf[W - 2] + rowbuf[W - 1]) * (kScaleInput ? T(1) : cinv[W - 1]) * rs;
  }
}

template <bool kScaleInput>
at::Tensor box_cpu(const at::Tensor& in, const char* name) {
  check_input(in, name);
  TORCH_CHECK(in.device().is_cpu(), "expected a CPU tensor, got ", in.device());
  // channels-last input stays channels-last (the layout oneDNN's convolutions are fast in);
  // anything else is computed as contiguous NCHW
  const bool nhwc = in.is_contiguous(at::MemoryFormat::ChannelsLast) && !in.is_contiguous();
  const auto format = nhwc ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  const at::Tensor x = in.contiguous(format);
  at::Tensor y = at::empty_like(x, format);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  if (x.numel() == 0) return y;
  const int64_t grids = nhwc ? N : N * C, vec = nhwc ? C : 1;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "avg_pool3x3_cpu", [&] {
    std::vector<scalar_t> rinv(H), cinv(W);
    for (int64_t i = 0; i < H; ++i) rinv[i] = inv_window<scalar_t>(i, H);
    for (int64_t j = 0; j < W; ++j) cinv[j] = inv_window<scalar_t>(j, W);
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    scalar_t* yp = y.mutable_data_ptr<scalar_t>();
    const int64_t grid_size = H * W * vec;
    // grain: enough grids per task to amortise the scheduling (~16k elements)
    const int64_t grain = std::max<int64_t>(1, 16384 / grid_size);
    at::parallel_for(0, grids, grain, [&](int64_t g0, int64_t g1) {
      std::vector<scalar_t> rowbuf(W * vec);
      for (int64_t g = g0; g < g1; ++g) {
        if (vec == 1) {
          box_plane<scalar_t, kScaleInput>(xp + g * grid_size, yp + g * grid_size, H, W, rinv.data(),
                                           cinv.data(), rowbuf.data());
        } else {
          box_grid<scalar_t, kScaleInput>(xp + g * grid_size, yp + g * grid_size, H, W, vec,
                                          rinv.data(), cinv.data(), rowbuf.data());
        }
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
