// gather_dropout CPU kernels. Forwards run in parallel over output rows. Backwards add output rows
// into the rows they were gathered from; to stay deterministic without per-thread buffers they run
// in parallel over blocks of columns, each thread taking every output row's slice of its block in
// row order, so no sum order depends on the number of threads. The row loops are compiled twice
// (baseline and x86-64-v3): the mask's 64-bit hash vectorises with AVX2, about 2x faster.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "../gather_dropout.h"
#include "x86_64_v3.h"

namespace nasfast {
namespace gather_dropout {
namespace {

enum class Pass : int {
  kGather,     // out[u, j] = x[idx[u], j] m(u, j)              (rows u0..u1, all columns)
  kScatter,    // out[idx[u], j] += g[u, j] m(u, j)             (all rows, columns j0..j1)
  kDot,        // out[u] = sum_j x[idx[u], j] m(u, j) w[j]      (rows u0..u1, all columns)
  kDotGrad,    // gx[idx[u], j] += g[u] w[j] m; gw[j] += g[u] x[idx[u], j] m   (all rows, j0..j1)
};

// m(u, j) = keep(seed, u * d + j) * scale
template <typename T>
struct Rows {
  const T* in;  // x (n, d) for kGather / kDot / kDotGrad; grad (U, d) for kScatter
  const int64_t* idx;
  const T* w;   // (d,)  kDot / kDotGrad
  const T* g;   // (U,)  kDotGrad
  T* out;       // (U, d) kGather; (rows, d) kScatter; (U,) kDot; gx (n, d) kDotGrad
  T* gw;        // (d,)  kDotGrad (each thread sums its columns in a buffer, then copies them here)
  int64_t d;
  uint64_t seed, threshold;
  T scale;
};

template <typename T>
NASFAST_ALWAYS_INLINE T mask(const Rows<T>& a, uint64_t k) {
  return T(keep(a.seed, k, a.threshold)) * a.scale;  // branch-free: a branch mispredicts on random draws
}

template <typename T, Pass kPass>
NASFAST_ALWAYS_INLINE void rows_impl(const Rows<T>& a, int64_t u0, int64_t u1, int64_t j0, int64_t j1,
                                     T* __restrict__ gw_acc) {
  const int64_t d = a.d;
  for (int64_t u = u0; u < u1; ++u) {
    const uint64_t base = uint64_t(u) * uint64_t(d);
    const int64_t i = a.idx[u];
    if (kPass == Pass::kGather) {
      const T* x = a.in + i * d;
      T* y = a.out + u * d;
      for (int64_t j = j0; j < j1; ++j) y[j] = x[j] * mask(a, base + uint64_t(j));
    } else if (kPass == Pass::kScatter) {
      const T* g = a.in + u * d;
      T* y = a.out + i * d;
      for (int64_t j = j0; j < j1; ++j) y[j] += g[j] * mask(a, base + uint64_t(j));
    } else if (kPass == Pass::kDot) {
      const T* x = a.in + i * d;
      // kLanes partial sums, combined in a fixed order: a plain running sum would not vectorise
      // (the compiler may not reorder float additions), and with it neither would the hash
      constexpr int64_t kLanes = 8;
      T lane[kLanes] = {};
      int64_t j = j0;
      for (; j + kLanes <= j1; j += kLanes) {
        for (int64_t l = 0; l < kLanes; ++l) lane[l] += x[j + l] * a.w[j + l] * mask(a, base + uint64_t(j + l));
      }
      for (; j < j1; ++j) lane[0] += x[j] * a.w[j] * mask(a, base + uint64_t(j));
      T sum = 0;
      for (int64_t l = 0; l < kLanes; ++l) sum += lane[l];
      a.out[u] = sum;
    } else {  // gw_acc: this thread's columns of gw, in a buffer no other pointer aliases (so the loop vectorises)
      const T* __restrict__ x = a.in + i * d;
      T* __restrict__ gx = a.out + i * d;
      const T gu = a.g[u];
      for (int64_t j = j0; j < j1; ++j) {
        const T gm = gu * mask(a, base + uint64_t(j));
        gx[j] += gm * a.w[j];
        gw_acc[j - j0] += gm * x[j];
      }
    }
  }
}

template <typename T, Pass kPass>
void rows_baseline(const Rows<T>& a, int64_t u0, int64_t u1, int64_t j0, int64_t j1, T* gw_acc) {
  rows_impl<T, kPass>(a, u0, u1, j0, j1, gw_acc);
}

#ifdef NASFAST_HAVE_X86_64_V3
template <typename T, Pass kPass>
__attribute__((target("arch=x86-64-v3"))) void rows_v3(const Rows<T>& a, int64_t u0, int64_t u1, int64_t j0,
                                                       int64_t j1, T* gw_acc) {
  rows_impl<T, kPass>(a, u0, u1, j0, j1, gw_acc);
}
#endif

template <typename T, Pass kPass>
void rows(const Rows<T>& a, int64_t u0, int64_t u1, int64_t j0, int64_t j1, T* gw_acc = nullptr) {
#ifdef NASFAST_HAVE_X86_64_V3
  if (cpu_has_x86_64_v3()) return rows_v3<T, kPass>(a, u0, u1, j0, j1, gw_acc);
#endif
  rows_baseline<T, kPass>(a, u0, u1, j0, j1, gw_acc);
}

// Checked before any work: a parallel loop must not throw halfway.
void check_index_range(const at::Tensor& index, int64_t n) {
  const int64_t* idx = index.const_data_ptr<int64_t>();
  for (int64_t u = 0, U = index.numel(); u < U; ++u) {
    if (idx[u] < 0 || idx[u] >= n) report_bad_index(u, idx[u], n);
  }
}

// Runs pass kPass over all (u, j): in parallel over rows (forwards) or over blocks of 16 columns,
// a 64-byte line of float32, so threads never share an output line (backwards).
template <typename T, Pass kPass>
void run(const Rows<T>& a, int64_t U) {
  const int64_t d = a.d;
  if (U == 0 || d == 0) return;
  if (kPass == Pass::kGather || kPass == Pass::kDot) {
    at::parallel_for(0, U, std::max<int64_t>(1, 16384 / d), [&](int64_t u0, int64_t u1) {
      rows<T, kPass>(a, u0, u1, 0, d);
    });
  } else {
    constexpr int64_t kBlock = 16;
    at::parallel_for(0, (d + kBlock - 1) / kBlock, 1, [&](int64_t b0, int64_t b1) {
      const int64_t j0 = b0 * kBlock, j1 = std::min(d, b1 * kBlock);
      std::vector<T> gw_acc(kPass == Pass::kDotGrad ? j1 - j0 : 0);
      rows<T, kPass>(a, 0, U, j0, j1, gw_acc.data());
      std::copy(gw_acc.begin(), gw_acc.end(), a.gw + j0);  // empty unless kDotGrad
    });
  }
}

template <typename T>
Rows<T> make_rows(const at::Tensor& in, const at::Tensor& index, double p, int64_t seed) {
  Rows<T> a{};
  a.in = in.const_data_ptr<T>();
  a.idx = index.const_data_ptr<int64_t>();
  a.d = in.size(1);
  a.seed = static_cast<uint64_t>(seed);
  a.threshold = drop_threshold(p);
  a.scale = static_cast<T>(keep_scale(p));
  return a;
}

at::Tensor gather_dropout_cpu(const at::Tensor& x_in, const at::Tensor& index_in, double p, int64_t seed) {
  check_inputs(x_in, index_in, p, "x");
  TORCH_CHECK(x_in.device().is_cpu(), "expected CPU tensors, got ", x_in.device());
  const at::Tensor x = x_in.contiguous(), index = index_in.contiguous();
  check_index_range(index, x.size(0));
  at::Tensor y = at::empty({index.size(0), x.size(1)}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gather_dropout_cpu", [&] {
    Rows<scalar_t> a = make_rows<scalar_t>(x, index, p, seed);
    a.out = y.mutable_data_ptr<scalar_t>();
    run<scalar_t, Pass::kGather>(a, index.size(0));
  });
  return y;
}

at::Tensor gather_dropout_backward_cpu(const at::Tensor& grad_in, const at::Tensor& index_in, int64_t rows,
                                       double p, int64_t seed) {
  check_backward_inputs(grad_in, index_in, rows, p);
  TORCH_CHECK(grad_in.device().is_cpu(), "expected CPU tensors, got ", grad_in.device());
  const at::Tensor grad = grad_in.contiguous(), index = index_in.contiguous();
  check_index_range(index, rows);
  at::Tensor gx = at::zeros({rows, grad.size(1)}, grad.options());
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "gather_dropout_backward_cpu", [&] {
    Rows<scalar_t> a = make_rows<scalar_t>(grad, index, p, seed);
    a.out = gx.mutable_data_ptr<scalar_t>();
    run<scalar_t, Pass::kScatter>(a, index.size(0));
  });
  return gx;
}

at::Tensor gather_dropout_dot_cpu(const at::Tensor& x_in, const at::Tensor& index_in, const at::Tensor& w_in,
                                  double p, int64_t seed) {
  check_inputs(x_in, index_in, p, "x");
  check_weight(x_in, w_in);
  TORCH_CHECK(x_in.device().is_cpu(), "expected CPU tensors, got ", x_in.device());
  const at::Tensor x = x_in.contiguous(), index = index_in.contiguous(), w = w_in.contiguous();
  check_index_range(index, x.size(0));
  at::Tensor y = at::zeros({index.size(0)}, x.options());  // zeros: d = 0 gives empty sums
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gather_dropout_dot_cpu", [&] {
    Rows<scalar_t> a = make_rows<scalar_t>(x, index, p, seed);
    a.w = w.const_data_ptr<scalar_t>();
    a.out = y.mutable_data_ptr<scalar_t>();
    run<scalar_t, Pass::kDot>(a, index.size(0));
  });
  return y;
}

std::tuple<at::Tensor, at::Tensor> gather_dropout_dot_backward_cpu(const at::Tensor& grad_in,
                                                                   const at::Tensor& x_in,
                                                                   const at::Tensor& index_in,
                                                                   const at::Tensor& w_in, double p,
                                                                   int64_t seed) {
  check_inputs(x_in, index_in, p, "x");
  check_weight(x_in, w_in);
  check_dot_grad(grad_in, x_in, index_in);
  TORCH_CHECK(x_in.device().is_cpu(), "expected CPU tensors, got ", x_in.device());
  const at::Tensor x = x_in.contiguous(), index = index_in.contiguous(), w = w_in.contiguous();
  const at::Tensor grad = grad_in.contiguous();
  check_index_range(index, x.size(0));
  at::Tensor gx = at::zeros_like(x), gw = at::zeros_like(w);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gather_dropout_dot_backward_cpu", [&] {
    Rows<scalar_t> a = make_rows<scalar_t>(x, index, p, seed);
    a.w = w.const_data_ptr<scalar_t>();
    a.g = grad.const_data_ptr<scalar_t>();
    a.out = gx.mutable_data_ptr<scalar_t>();
    a.gw = gw.mutable_data_ptr<scalar_t>();
    run<scalar_t, Pass::kDotGrad>(a, index.size(0));
  });
  return {gx, gw};
}

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CPU, m) {
  m.impl("gather_dropout", &gather_dropout_cpu);
  m.impl("gather_dropout_backward", &gather_dropout_backward_cpu);
  m.impl("gather_dropout_dot", &gather_dropout_dot_cpu);
  m.impl("gather_dropout_dot_backward", &gather_dropout_dot_backward_cpu);
}

}  // namespace gather_dropout
}  // namespace nasfast
