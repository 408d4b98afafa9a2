// gates_aggregate CPU kernels, parallel over the batch.
//
// Every inner loop is over contiguous D-rows (D = 128 in the paper configs), written with GCC/Clang
// vector extensions: the output row is accumulated in registers across all its terms and stored
// once. On x86-64 there are two builds of the loops, SSE2 (16-byte vectors) and x86-64-v3
// (AVX2 + FMA, 32-byte vectors), picked at run time from the CPU's features.
//
// dL/dG is a sum over the whole batch. It is accumulated per fixed chunk of graphs (chunk size
// independent of the thread count) and the chunk partials are then summed in chunk order, so the
// result is bit-identical whatever the number of threads.
#include <ATen/AccumulateType.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "../gates_aggregate.h"
#include "x86_64_v3.h"

namespace nasfast {
namespace gates_aggregate {
namespace {

constexpr int64_t kGradChunk = 64;  // graphs per dL/dG partial (at least)
// At most this many partials: K x D values each, so the buffer stays a few MiB at any batch (at
// B = 1e7 one partial per 64 graphs would take 381 MiB). The chunk depends only on B, so the sum
// order, and the result, still do not depend on the thread count.
constexpr int64_t kMaxGradChunks = 4096;

// kBytes-wide vectors with element alignment, so rows need no padding or alignment.
template <typename T, int kBytes>
struct Lanes {
  typedef T type __attribute__((vector_size(kBytes), may_alias, aligned(sizeof(T))));
};

// y[0:W] = self[0:W] (or 0) + sum_k g[k][0:W] * x[k][0:W] for one tile of W = 128 bytes
// (32 floats): the accumulators stay in registers across all the terms of a row.
template <typename T, int kBytes>
NASFAST_ALWAYS_INLINE void gated_sum_tile(T* __restrict__ y, const T* __restrict__ self,
                                          const T* const* g, const T* const* x, int64_t terms,
                                          int64_t off) {
  using vec = typename Lanes<T, kBytes>::type;
  constexpr int V = 128 / kBytes;
  vec acc[V];
  for (int v = 0; v < V; ++v) acc[v] = self ? reinterpret_cast<const vec*>(self + off)[v] : vec{};
  for (int64_t k = 0; k < terms; ++k) {
    const vec* gk = reinterpret_cast<const vec*>(g[k] + off);
    const vec* xk = reinterpret_cast<const vec*>(x[k] + off);
    for (int v = 0; v < V; ++v) acc[v] += gk[v] * xk[v];
  }
  for (int v = 0; v < V; ++v) reinterpret_cast<vec*>(y + off)[v] = acc[v];
}

template <typename T, int kBytes>
NASFAST_ALWAYS_INLINE void gated_sum_row(T* __restrict__ y, const T* __restrict__ self,
                                         const T* const* g, const T* const* x, int64_t terms,
                                         int64_t D) {
  constexpr int64_t W = 128 / sizeof(T);
  int64_t off = 0;
  for (; off + W <= D; off += W) gated_sum_tile<T, kBytes>(y, self, g, x, terms, off);
  for (; off < D; ++off) {
    T acc = self ? self[off] : T(0);
    for (int64_t k = 0; k < terms; ++k) acc += g[k][off] * x[k][off];
    y[off] = acc;
  }
}

// y[0:D] += g[0:D] * x[0:D]
template <typename T, int kBytes>
NASFAST_ALWAYS_INLINE void add_product(T* __restrict__ y, const T* __restrict__ g,
                                       const T* __restrict__ x, int64_t D) {
  using vec = typename Lanes<T, kBytes>::type;
  constexpr int64_t L = kBytes / sizeof(T);
  int64_t d = 0;
  for (; d + L <= D; d += L) {
    *reinterpret_cast<vec*>(y + d) +=
        *reinterpret_cast<const vec*>(g + d) * *reinterpret_cast<const vec*>(x + d);
  }
  for (; d < D; ++d) y[d] += g[d] * x[d];
}

// Rows of graphs [b0, b1): out[b, r] = res[r] * X[b, r] + sum_c G[e(r, c)] * X[b, c], with
// e(r, c) = E[b, r, c] for the forward and E[b, c, r] for dL/dS (kTranspose; X = dL/dy then).
// `scratch` holds 2 N pointers: the gate and feature rows of one output row's terms.
// Returns the flat position in E of an out-of-range op index (skipped), or -1.
template <typename T, bool kTranspose, int kBytes>
NASFAST_ALWAYS_INLINE int64_t aggregate_graphs_impl(const T* X, const T* G, const int64_t* E,
                                                    const bool* res, int64_t b0, int64_t b1,
                                                    int64_t N, int64_t D, int64_t K, T* out,
                                                    const T** scratch) {
  const T** g = scratch;
  const T** x = scratch + N;
  int64_t bad = -1;
  for (int64_t b = b0; b < b1; ++b) {
    const T* Xb = X + b * N * D;
    const int64_t* Eb = E + b * N * N;
    for (int64_t r = 0; r < N; ++r) {
      int64_t terms = 0;
      for (int64_t c = 0; c < N; ++c) {
        const int64_t q = kTranspose ? c * N + r : r * N + c;
        const int64_t e = Eb[q];
        if (e < 0) continue;
        if (e >= K) {
          if (bad < 0) bad = b * N * N + q;
          continue;
        }
        g[terms] = G + e * D;
        x[terms] = Xb + c * D;
        ++terms;
      }
      gated_sum_row<T, kBytes>(out + (b * N + r) * D, res[r] ? Xb + r * D : nullptr, g, x, terms, D);
    }
  }
  return bad;
}

// partial[k] = sum over graphs [b0, b1) and edges j -> i with op k of dy[b, i] * S[b, j]
// (partial is K x D, small enough to stay in L1). Returns as aggregate_graphs_impl does.
template <typename T, int kBytes>
NASFAST_ALWAYS_INLINE int64_t grad_gate_chunk_impl(const T* dy, const T* S, const int64_t* E,
                                                   int64_t b0, int64_t b1, int64_t N, int64_t D,
                                                   int64_t K, T* partial) {
  for (int64_t k = 0; k < K * D; ++k) partial[k] = T(0);
  int64_t bad = -1;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t* Eb = E + b * N * N;
    for (int64_t i = 0; i < N; ++i) {
      const T* g = dy + (b * N + i) * D;
      for (int64_t j = 0; j < N; ++j) {
        const int64_t e = Eb[i * N + j];
        if (e < 0) continue;
        if (e >= K) {
          if (bad < 0) bad = (b * N + i) * N + j;
          continue;
        }
        add_product<T, kBytes>(partial + e * D, g, S + (b * N + j) * D, D);
      }
    }
  }
  return bad;
}

template <typename T, bool kTranspose>
int64_t aggregate_graphs_sse2(const T* X, const T* G, const int64_t* E, const bool* res, int64_t b0,
                              int64_t b1, int64_t N, int64_t D, int64_t K, T* out, const T** scratch) {
  return aggregate_graphs_impl<T, kTranspose, 16>(X, G, E, res, b0, b1, N, D, K, out, scratch);
}

template <typename T>
int64_t grad_gate_chunk_sse2(const T* dy, const T* S, const int64_t* E, int64_t b0, int64_t b1,
                             int64_t N, int64_t D, int64_t K, T* partial) {
  return grad_gate_chunk_impl<T, 16>(dy, S, E, b0, b1, N, D, K, partial);
}

#ifdef NASFAST_HAVE_X86_64_V3
template <typename T, bool kTranspose>
__attribute__((target("arch=x86-64-v3"))) int64_t aggregate_graphs_v3(
    const T* X, const T* G, const int64_t* E, const bool* res, int64_t b0, int64_t b1, int64_t N,
    int64_t D, int64_t K, T* out, const T** scratch) {
  return aggregate_graphs_impl<T, kTranspose, 32>(X, G, E, res, b0, b1, N, D, K, out, scratch);
}

template <typename T>
__attribute__((target("arch=x86-64-v3"))) int64_t grad_gate_chunk_v3(
    const T* dy, const T* S, const int64_t* E, int64_t b0, int64_t b1, int64_t N, int64_t D,
    int64_t K, T* partial) {
  return grad_gate_chunk_impl<T, 32>(dy, S, E, b0, b1, N, D, K, partial);
}

#endif

template <typename T, bool kTranspose>
int64_t aggregate_graphs(const T* X, const T* G, const int64_t* E, const bool* res, int64_t b0,
                         int64_t b1, int64_t N, int64_t D, int64_t K, T* out, const T** scratch) {
#ifdef NASFAST_HAVE_X86_64_V3
  if (cpu_has_x86_64_v3()) {
    return aggregate_graphs_v3<T, kTranspose>(X, G, E, res, b0, b1, N, D, K, out, scratch);
  }
#endif
  return aggregate_graphs_sse2<T, kTranspose>(X, G, E, res, b0, b1, N, D, K, out, scratch);
}

template <typename T>
int64_t grad_gate_chunk(const T* dy, const T* S, const int64_t* E, int64_t b0, int64_t b1,
                        int64_t N, int64_t D, int64_t K, T* partial) {
#ifdef NASFAST_HAVE_X86_64_V3
  if (cpu_has_x86_64_v3()) return grad_gate_chunk_v3<T>(dy, S, E, b0, b1, N, D, K, partial);
#endif
  return grad_gate_chunk_sse2<T>(dy, S, E, b0, b1, N, D, K, partial);
}

inline void check_no_bad_op(int64_t bad, const int64_t* E, int64_t N, int64_t K) {
  if (bad < 0) return;
  const int64_t b = bad / (N * N), i = bad / N % N, j = bad % N;
  TORCH_CHECK(false, "edge_op[", b, ", ", i, ", ", j, "] = ", E[bad], " is out of range: G has K = ",
              K, " rows (op indices are 0..K-1, negative = no edge)");
}

int64_t grain_graphs(int64_t N, int64_t D) {
  // About 32k elements of output per task.
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, N * D));
}

at::Tensor gates_aggregate_cpu(const at::Tensor& S_in, const at::Tensor& G_in,
                               const at::Tensor& edge_op_in, const at::Tensor& residual_in) {
  check_inputs(S_in, G_in, edge_op_in, residual_in);
  TORCH_CHECK(S_in.device().is_cpu(), "expected CPU tensors, got ", S_in.device());
  const at::Tensor S = S_in.contiguous(), G = G_in.contiguous();
  const at::Tensor E = edge_op_in.contiguous(), res = residual_in.contiguous();
  const int64_t B = S.size(0), N = S.size(1), D = S.size(2), K = G.size(0);
  at::Tensor out = at::empty_like(S);
  AT_DISPATCH_FLOATING_TYPES(S.scalar_type(), "gates_aggregate_cpu", [&] {
    const scalar_t* S_p = S.const_data_ptr<scalar_t>();
    const scalar_t* G_p = G.const_data_ptr<scalar_t>();
    const int64_t* E_p = E.const_data_ptr<int64_t>();
    const bool* r_p = res.const_data_ptr<bool>();
    scalar_t* out_p = out.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B, grain_graphs(N, D), [&](int64_t b0, int64_t b1) {
      std::vector<const scalar_t*> scratch(static_cast<size_t>(2 * N));
      check_no_bad_op(aggregate_graphs<scalar_t, false>(S_p, G_p, E_p, r_p, b0, b1, N, D, K, out_p,
                                                        scratch.data()),
                      E_p, N, K);
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> gates_aggregate_backward_cpu(const at::Tensor& grad_in,
                                                                const at::Tensor& S_in,
                                                                const at::Tensor& G_in,
                                                                const at::Tensor& edge_op_in,
                                                                const at::Tensor& residual_in) {
  check_inputs(S_in, G_in, edge_op_in, residual_in);
  check_grad(grad_in, S_in);
  TORCH_CHECK(S_in.device().is_cpu(), "expected CPU tensors, got ", S_in.device());
  const at::Tensor dy = grad_in.contiguous(), S = S_in.contiguous(), G = G_in.contiguous();
  const at::Tensor E = edge_op_in.contiguous(), res = residual_in.contiguous();
  const int64_t B = S.size(0), N = S.size(1), D = S.size(2), K = G.size(0);
  at::Tensor grad_S = at::empty_like(S);
  at::Tensor grad_G = at::zeros_like(G);
  const int64_t chunk = std::max<int64_t>(kGradChunk, (B + kMaxGradChunks - 1) / kMaxGradChunks);
  const int64_t num_chunks = (B + chunk - 1) / chunk;
  AT_DISPATCH_FLOATING_TYPES(S.scalar_type(), "gates_aggregate_backward_cpu", [&] {
    using acc_t = at::acc_type<scalar_t, /*is_cuda=*/false>;  // double
    const scalar_t* dy_p = dy.const_data_ptr<scalar_t>();
    const scalar_t* S_p = S.const_data_ptr<scalar_t>();
    const scalar_t* G_p = G.const_data_ptr<scalar_t>();
    const int64_t* E_p = E.const_data_ptr<int64_t>();
    const bool* r_p = res.const_data_ptr<bool>();
    scalar_t* dS_p = grad_S.mutable_data_ptr<scalar_t>();
    std::vector<scalar_t> partial(static_cast<size_t>(num_chunks * K * D));
    // One task = whole chunks, so dS and the chunk's gate partial come from one pass over dy.
    const int64_t chunk_grain = std::max<int64_t>(1, grain_graphs(N, D) / chunk);
    at::parallel_for(0, num_chunks, chunk_grain, [&](int64_t c0, int64_t c1) {
      std::vector<const scalar_t*> scratch(static_cast<size_t>(2 * N));
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t b0 = c * chunk, b1 = std::min(B, b0 + chunk);
        check_no_bad_op(aggregate_graphs<scalar_t, true>(dy_p, G_p, E_p, r_p, b0, b1, N, D, K, dS_p,
                                                         scratch.data()),
                        E_p, N, K);
        check_no_bad_op(
            grad_gate_chunk<scalar_t>(dy_p, S_p, E_p, b0, b1, N, D, K, partial.data() + c * K * D),
            E_p, N, K);
      }
    });
    scalar_t* dG_p = grad_G.mutable_data_ptr<scalar_t>();
    const scalar_t* part_p = partial.data();
    at::parallel_for(0, K * D, 256, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        acc_t s = 0;
        for (int64_t c = 0; c < num_chunks; ++c) s += part_p[c * K * D + q];
        dG_p[q] = static_cast<scalar_t>(s);
      }
    });
  });
  return {grad_S, grad_G};
}

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CPU, m) {
  m.impl("gates_aggregate", &gates_aggregate_cpu);
  m.impl("gates_aggregate_backward", &gates_aggregate_backward_cpu);
}

}  // namespace gates_aggregate
}  // namespace nasfast
