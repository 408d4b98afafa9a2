// gates_onnode_encode CPU kernel: the NB101 GATES encoder for scoring, one chunk of graphs at a time.
//
// Layer by layer over the whole batch (the autograd path) every intermediate is B x 7 x 128 and
// falls out of cache for large B. Here each thread takes kChunk graphs through all the layers:
// the chunk's S = Y W (one small GEMM, at::mm run serially inside the parallel region), then the
// gated aggregation, bias and ReLU, row by row in registers. Node 0 (the input node) has no incoming
// edges and the same features in every graph, so its rows and layer 1's S are computed once per
// call and the GEMMs only see rows 1..N-1 (6/7 of the work, and none at all for layer 1).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/mm.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../gates_onnode_encode.h"
#include "x86_64_v3.h"

namespace nasfast {
namespace gates_onnode_encode {
namespace {

constexpr int64_t kChunk = 32;  // graphs per GEMM: 32 x 6 rows x 128 floats = 96 KiB per buffer

struct Layer {
  const void* W;  // (d_in, d_out)
  const void* G;  // (K, d_out)
  const void* b;  // (d_out)
  const void* s0;  // (d_out) node 0's S = c W (c: node 0's features entering this layer)
  int64_t d_in, d_out;
};

// y = act(g * p + s + b) over D contiguous values; p is the gated sum's inner part.
template <typename T>
NASFAST_ALWAYS_INLINE void finish_row(T* __restrict__ y, const T* __restrict__ g, const T* __restrict__ p,
                                      const T* __restrict__ s, const T* __restrict__ b, int64_t D, bool relu) {
  if (relu) {
    for (int64_t d = 0; d < D; ++d) {
      const T v = g[d] * p[d] + s[d] + b[d];
      y[d] = v < T(0) ? T(0) : v;  // NaN stays NaN, as torch.relu
    }
  } else {
    for (int64_t d = 0; d < D; ++d) y[d] = g[d] * p[d] + s[d] + b[d];
  }
}

// p = sum of the rows x[k] for the k in `terms`
template <typename T>
NASFAST_ALWAYS_INLINE void sum_rows(T* __restrict__ p, const T* const* x, int64_t terms, int64_t D) {
  for (int64_t d = 0; d < D; ++d) p[d] = T(0);
  for (int64_t k = 0; k < terms; ++k) {
    const T* __restrict__ xk = x[k];
    for (int64_t d = 0; d < D; ++d) p[d] += xk[d];
  }
}

// Graphs [b0, b1) through every layer; writes out[b0:b1]. Y and S hold (b1 - b0) * (N - 1) rows of
// the widest layer; p one row. Returns the flat node_op position of a bad op index, or -1.
template <typename T>
NASFAST_ALWAYS_INLINE int64_t encode_chunk_impl(const T* S1, const std::vector<Layer>& layers, const bool* adj,
                                                const int64_t* op, const bool* valid, int64_t b0, int64_t b1,
                                                int64_t N, int64_t K, T* Y, T* S, T* p, const T** rows,
                                                T* out) {
  const int64_t R = N - 1, n = b1 - b0, L = static_cast<int64_t>(layers.size());
  for (int64_t b = b0; b < b1; ++b) {
    for (int64_t i = 1; i < N; ++i) {
      if (op[b * N + i] < 0 || op[b * N + i] >= K) return b * N + i;
    }
  }
  const at::ScalarType st = c10::CppTypeToScalarType<T>::value;
  for (int64_t k = 0; k < L; ++k) {
    const Layer& ly = layers[k];
    const int64_t D = ly.d_out;
    const T* G = static_cast<const T*>(ly.G);
    const T* bias = static_cast<const T*>(ly.b);
    const bool relu = k + 1 < L;
    if (k > 0) {  // S for rows 1..N-1 of the chunk; layer 1's is the shared S1
      at::Tensor y = at::from_blob(Y, {n * R, ly.d_in}, at::TensorOptions().dtype(st));
      at::Tensor w = at::from_blob(const_cast<void*>(ly.W), {ly.d_in, D}, at::TensorOptions().dtype(st));
      at::Tensor s = at::from_blob(S, {n * R, D}, at::TensorOptions().dtype(st));
      at::mm_out(s, y, w);
    }
    const T* s0 = k == 0 ? S1 : static_cast<const T*>(ly.s0);
    for (int64_t b = b0; b < b1; ++b) {
      const bool* A = adj + b * N * N;
      const int64_t base = (b - b0) * R;
      for (int64_t i = 1; i < N; ++i) {
        int64_t terms = 0;
        for (int64_t j = 0; j < N; ++j) {
          if (!A[i * N + j]) continue;
          rows[terms++] = j == 0 ? s0 : (k == 0 ? S1 + j * D : S + (base + j - 1) * D);
        }
        sum_rows<T>(p, rows, terms, D);
        const T* self = k == 0 ? S1 + i * D : S + (base + i - 1) * D;
        finish_row<T>(Y + (base + i - 1) * D, G + op[b * N + i] * D, p, self, bias, D, relu);
      }
    }
  }
  const int64_t D = layers.back().d_out;
  const T scale = T(1) / T(R);
  for (int64_t b = b0; b < b1; ++b) {
    T* o = out + b * D;
    for (int64_t d = 0; d < D; ++d) o[d] = T(0);
    for (int64_t i = 1; i < N; ++i) {
      if (!valid[b * N + i]) continue;
      const T* y = Y + ((b - b0) * R + i - 1) * D;
      for (int64_t d = 0; d < D; ++d) o[d] += y[d];
    }
    for (int64_t d = 0; d < D; ++d) o[d] *= scale;
  }
  return -1;
}

template <typename T>
int64_t encode_chunk_base(const T* S1, const std::vector<Layer>& layers, const bool* adj, const int64_t* op,
                          const bool* valid, int64_t b0, int64_t b1, int64_t N, int64_t K, T* Y, T* S, T* p,
                          const T** rows, T* out) {
  return encode_chunk_impl<T>(S1, layers, adj, op, valid, b0, b1, N, K, Y, S, p, rows, out);
}

#ifdef NASFAST_HAVE_X86_64_V3
template <typename T>
__attribute__((target("arch=x86-64-v3"))) int64_t encode_chunk_v3(
    const T* S1, const std::vector<Layer>& layers, const bool* adj, const int64_t* op, const bool* valid,
    int64_t b0, int64_t b1, int64_t N, int64_t K, T* Y, T* S, T* p, const T** rows, T* out) {
  return encode_chunk_impl<T>(S1, layers, adj, op, valid, b0, b1, N, K, Y, S, p, rows, out);
}
#endif

template <typename T>
int64_t encode_chunk(const T* S1, const std::vector<Layer>& layers, const bool* adj, const int64_t* op,
                     const bool* valid, int64_t b0, int64_t b1, int64_t N, int64_t K, T* Y, T* S, T* p,
                     const T** rows, T* out) {
#ifdef NASFAST_HAVE_X86_64_V3
  if (cpu_has_x86_64_v3()) return encode_chunk_v3<T>(S1, layers, adj, op, valid, b0, b1, N, K, Y, S, p, rows, out);
#endif
  return encode_chunk_base<T>(S1, layers, adj, op, valid, b0, b1, N, K, Y, S, p, rows, out);
}

// out[0:dout] = x[0:din] W (W row-major din x dout), rows of W added in order
template <typename T>
void times_matrix(const T* x, const T* W, int64_t din, int64_t dout, T* out) {
  for (int64_t j = 0; j < dout; ++j) out[j] = T(0);
  for (int64_t k = 0; k < din; ++k) {
    for (int64_t j = 0; j < dout; ++j) out[j] += x[k] * W[k * dout + j];
  }
}

at::Tensor gates_onnode_encode_cpu(const at::Tensor& x0_in, at::TensorList weights_in, at::TensorList gates_in,
                                   at::TensorList biases_in, const at::Tensor& adjacency_in,
                                   const at::Tensor& node_op_in, const at::Tensor& valid_in) {
  check_inputs(x0_in, weights_in, gates_in, biases_in, adjacency_in, node_op_in, valid_in);
  const at::Tensor adjacency = adjacency_in.contiguous(), node_op = node_op_in.contiguous(),
                   valid = valid_in.contiguous();
  const int64_t B = adjacency.size(0), N = adjacency.size(1), L = static_cast<int64_t>(weights_in.size());
  const int64_t K = gates_in[0].size(0);
  {  // node 0 must be the input node: its features are then graph-independent
    const bool* A = adjacency.data_ptr<bool>();
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t j = 0; j < N; ++j) {
        TORCH_CHECK(!A[b * N * N + j], "gates_onnode_encode: node 0 must be the input node (no incoming edges), "
                    "but graph ", b, " has an edge ", j, " -> 0");
      }
    }
  }
  std::vector<at::Tensor> W, G, bias;
  for (int64_t k = 0; k < L; ++k) {
    W.push_back(weights_in[k].contiguous());
    G.push_back(gates_in[k].contiguous());
    bias.push_back(biases_in[k].contiguous());
  }
  const at::Tensor x0 = x0_in.contiguous();
  const int64_t D_out = W.back().size(1);
  at::Tensor out = at::empty({B, D_out}, x0.options());
  AT_DISPATCH_FLOATING_TYPES(x0.scalar_type(), "gates_onnode_encode_cpu", [&] {
    // Graph-independent parts, once per call, in plain loops (a fixed summation order: torch.mm
    // of these tiny shapes rounds differently with the thread count): layer 1's S for every node,
    // then node 0's S in each later layer.
    int64_t widest = x0.size(1);
    for (const at::Tensor& w : W) widest = std::max(widest, w.size(1));
    const at::Tensor S1 = at::empty({N, W[0].size(1)}, x0.options());
    for (int64_t i = 0; i < N; ++i) {
      times_matrix<scalar_t>(x0.data_ptr<scalar_t>() + i * x0.size(1), W[0].data_ptr<scalar_t>(), x0.size(1),
                             W[0].size(1), S1.data_ptr<scalar_t>() + i * W[0].size(1));
    }
    std::vector<std::vector<scalar_t>> s0(static_cast<size_t>(L));
    std::vector<scalar_t> c(S1.data_ptr<scalar_t>(), S1.data_ptr<scalar_t>() + W[0].size(1));  // node 0's S
    for (int64_t k = 0; k < L; ++k) {
      const int64_t d = W[k].size(1);
      if (k > 0) {
        s0[k].resize(static_cast<size_t>(d));
        times_matrix<scalar_t>(c.data(), W[k].data_ptr<scalar_t>(), W[k].size(0), d, s0[k].data());
        c = s0[k];
      }
      const scalar_t* b = bias[k].data_ptr<scalar_t>();
      for (int64_t j = 0; j < d; ++j) {  // node 0 leaving layer k (no incoming edge: S + b)
        const scalar_t v = c[j] + b[j];
        c[j] = (k + 1 < L && v < scalar_t(0)) ? scalar_t(0) : v;
      }
    }
    std::vector<Layer> layers;
    for (int64_t k = 0; k < L; ++k) {
      layers.push_back({W[k].data_ptr(), G[k].data_ptr(), bias[k].data_ptr(), k > 0 ? s0[k].data() : nullptr,
                        W[k].size(0), W[k].size(1)});
    }
    if (B == 0) return;
    const int64_t chunks = (B + kChunk - 1) / kChunk;
    std::vector<int64_t> bad(static_cast<size_t>(chunks), -1);
    at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      const int64_t rows_max = kChunk * (N - 1) * widest;
      std::vector<scalar_t> Y(static_cast<size_t>(rows_max)), S(static_cast<size_t>(rows_max)),
          p(static_cast<size_t>(widest));
      std::vector<const scalar_t*> rows(static_cast<size_t>(N));
      for (int64_t ch = c0; ch < c1; ++ch) {
        const int64_t b0 = ch * kChunk, b1 = std::min(B, b0 + kChunk);
        bad[ch] = encode_chunk<scalar_t>(S1.data_ptr<scalar_t>(), layers, adjacency.data_ptr<bool>(),
                                         node_op.data_ptr<int64_t>(), valid.data_ptr<bool>(), b0, b1, N, K,
                                         Y.data(), S.data(), p.data(), rows.data(), out.data_ptr<scalar_t>());
      }
    });
    for (int64_t q : bad) {
      TORCH_CHECK(q < 0, "gates_onnode_encode: node_op[", q / N, ", ", q % N, "] = ",
                  node_op.data_ptr<int64_t>()[q], " is not a row of the gate tables (K = ", K, ")");
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CPU, m) { m.impl("gates_onnode_encode", &gates_onnode_encode_cpu); }

}  // namespace gates_onnode_encode
}  // namespace nasfast
