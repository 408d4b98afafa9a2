// graph_hash CPU kernels: one graph per iteration, parallel over the batch.
#include <ATen/Parallel.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include "../graph_hash.h"
#include "md5_lanes.h"

namespace nasfast {
namespace graph_hash {
namespace {

// Collects a round's messages and hashes them eight at a time (see md5_lanes.h).
struct LaneDigests {
  uint8_t buf[kMaxNodes + 1][kMessageCapacity + 72];
  uint8_t* msgs[kMaxNodes + 1];
  uint8_t* outs[kMaxNodes + 1];
  int lens[kMaxNodes + 1];
  int count = 0;

  char* message() { return reinterpret_cast<char*>(buf[count]); }
  void done(int len, uint8_t* out) {
    msgs[count] = buf[count];
    lens[count] = len;
    outs[count] = out;
    ++count;
  }
  void flush() {
    uint8_t digest[8][16];
    for (int start = 0; start < count; start += 8) {
      const int lanes = count - start < 8 ? count - start : 8;
      md5::digest_lanes(msgs + start, lens + start, lanes, digest);
      for (int l = 0; l < lanes; ++l) std::memcpy(outs[start + l], digest[l], 16);
    }
    count = 0;
  }
};

template <typename HashFn>
at::Tensor hash_batch_cpu(const at::Tensor& adjacency, const at::Tensor& labels, bool prune, HashFn fn) {
  check_graph_batch(adjacency, labels);
  TORCH_CHECK(adjacency.device().is_cpu(), "expected CPU tensors, got ", adjacency.device());
  const at::Tensor adj = adjacency.contiguous();
  const at::Tensor lab = labels.contiguous();
  const int64_t B = adj.size(0);
  const int N = static_cast<int>(adj.size(1));
  at::Tensor out = at::zeros({B, 16}, adj.options());
  const uint8_t* adj_p = adj.const_data_ptr<uint8_t>();
  const int64_t* lab_p = lab.const_data_ptr<int64_t>();
  uint8_t* out_p = out.mutable_data_ptr<uint8_t>();
  at::parallel_for(0, B, 256, [&](int64_t begin, int64_t end) {
    Graph g;
    for (int64_t b = begin; b < end; ++b) {
      if (load_graph(adj_p + b * N * N, lab_p + b * N, N, prune, g)) fn(g, out_p + b * 16);
    }
  });
  return out;
}

at::Tensor nb101_fingerprint_cpu(const at::Tensor& adjacency, const at::Tensor& labels) {
  return hash_batch_cpu(adjacency, labels, /*prune=*/true, [](const Graph& g, uint8_t* out) {
    LaneDigests digests;
    nb101_fingerprint(g, out, digests);
  });
}

at::Tensor graph_canonical_hash_cpu(const at::Tensor& adjacency, const at::Tensor& labels, bool prune) {
  return hash_batch_cpu(adjacency, labels, prune,
                        [](const Graph& g, uint8_t* out) { canonical_hash(g, out); });
}

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CPU, m) {
  m.impl("nb101_fingerprint", &nb101_fingerprint_cpu);
  m.impl("graph_canonical_hash", &graph_canonical_hash_cpu);
}

}  // namespace graph_hash
}  // namespace nasfast
