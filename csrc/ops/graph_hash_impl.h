// graph_hash: the per-graph algorithms, written once for the CPU and CUDA kernels.
//
// * nb101_fingerprint: NAS-Bench-101's module hash, bit for bit (iterated md5 of the text
//   "(out_degree, in_degree, label)", then `num_vertices` rounds of md5 over the sorted hex digests
//   of in-neighbours, '|', sorted out-neighbours, '|', own digest; the key is md5 of Python's
//   str(sorted(digests))). Padding vertices (label -3) are dropped and the graph is pruned to the
//   vertices on an input->output path first, as the benchmark's ModelSpec does.
// * canonical_hash: an exact isomorphism-canonical form of a small vertex-labelled digraph:
//   colour refinement, then individualisation-refinement search; the certificate is the least
//   (labels, adjacency) over the leaves of the search tree. Everything that guides the search is a
//   function of structure only, so isomorphic graphs get the same certificate; the certificate is
//   the permuted graph itself, so only isomorphic graphs do. Twins (same label and neighbourhoods)
//   are interchangeable by an automorphism, so only one of them is individualised per cell.
#pragma once

#include <cstdint>

#include "md5.h"

namespace nasfast {
namespace graph_hash {

constexpr int kMaxNodes = 16;
constexpr int64_t kPadLabel = -3;

struct Graph {
  int n = 0;
  uint32_t out[kMaxNodes];  // bit w of out[v]: edge v -> w
  uint32_t in[kMaxNodes];   // bit w of in[v]: edge w -> v
  int32_t label[kMaxNodes];
};

NASFAST_HD int popcount32(uint32_t x) {
  int c = 0;
  while (x) {
    x &= x - 1;
    ++c;
  }
  return c;
}

// Reads one graph (row-major N x N 0/1 adjacency, N labels), drops padding vertices and, when
// `prune`, keeps only the vertices on a path from the first to the last vertex. Returns false when
// pruning finds no such path (the spec is invalid) or nothing is left.
NASFAST_HD bool load_graph(const uint8_t* adj, const int64_t* labels, int N, bool prune, Graph& g) {
  int keep_idx[kMaxNodes];
  int n = 0;
  for (int v = 0; v < N; ++v) {
    if (labels[v] != kPadLabel) keep_idx[n++] = v;
  }
  if (n == 0) return false;
  uint32_t out[kMaxNodes];
  for (int a = 0; a < n; ++a) {
    out[a] = 0;
    for (int b = 0; b < n; ++b) {
      if (adj[keep_idx[a] * N + keep_idx[b]]) out[a] |= 1u << b;
    }
  }
  uint32_t alive = (n == 32) ? 0xffffffffu : ((1u << n) - 1u);
  if (prune) {
    // Forward from the input and backward from the output, to a fixed point (works for any order).
    uint32_t fwd = 1u, bwd = 1u << (n - 1);
    for (bool changed = true; changed;) {
      changed = false;
      for (int v = 0; v < n; ++v) {
        if ((fwd >> v) & 1u) {
          uint32_t nf = fwd | out[v];
          changed |= nf != fwd;
          fwd = nf;
        }
        if (out[v] & bwd) {
          uint32_t nb = bwd | (1u << v);
          changed |= nb != bwd;
          bwd = nb;
        }
      }
    }
    alive = fwd & bwd;
    if (!((alive >> 0) & 1u) || !((alive >> (n - 1)) & 1u)) return false;
  }
  int remap[kMaxNodes];
  int m = 0;
  for (int v = 0; v < n; ++v) remap[v] = ((alive >> v) & 1u) ? m++ : -1;
  g.n = m;
  for (int v = 0; v < m; ++v) {
    g.out[v] = 0;
    g.in[v] = 0;
  }
  for (int v = 0; v < n; ++v) {
    if (remap[v] < 0) continue;
    g.label[remap[v]] = int32_t(labels[keep_idx[v]]);
    for (int w = 0; w < n; ++w) {
      if (((out[v] >> w) & 1u) && remap[w] >= 0) {
        g.out[remap[v]] |= 1u << remap[w];
        g.in[remap[w]] |= 1u << remap[v];
      }
    }
  }
  return true;
}

// ---- NAS-Bench-101 fingerprint ------------------------------------------------------------------

NASFAST_HD bool digest_less(const uint8_t* a, const uint8_t* b) {
  for (int i = 0; i < 16; ++i) {
    if (a[i] != b[i]) return a[i] < b[i];
  }
  return false;
}

NASFAST_HD void to_hex(const uint8_t* digest, char* out) {
  const char* hex = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
}

NASFAST_HD int write_int(char* out, int value) {
  char tmp[12];
  int len = 0;
  bool neg = value < 0;
  unsigned u = neg ? unsigned(-(long long)value) : unsigned(value);
  do {
    tmp[len++] = char('0' + u % 10);
    u /= 10;
  } while (u);
  int k = 0;
  if (neg) out[k++] = '-';
  while (len) out[k++] = tmp[--len];
  return k;
}

// Vertex order by digest (stable insertion sort; equal digests have equal hex, so ties are harmless).
NASFAST_HD void order_by_digest(const uint8_t (*h)[16], int n, int* order) {
  for (int i = 0; i < n; ++i) {
    int v = i, j = i;
    while (j > 0 && digest_less(h[v], h[order[j - 1]])) {
      order[j] = order[j - 1];
      --j;
    }
    order[j] = v;
  }
}

// Longest message of a round: all in- and out-neighbour digests plus the own one, in hex.
constexpr int kMessageCapacity = (2 * kMaxNodes + 1) * 36 + 8;

// Hashes one message at a time (small state: what a CUDA thread can afford). The CPU kernel passes
// a batching policy with the same three calls instead (cpu/graph_hash_kernel.cpp).
struct SerialDigests {
  char buf[kMessageCapacity];
  NASFAST_HD char* message() { return buf; }
  NASFAST_HD void done(int len, uint8_t* out) { md5::digest(reinterpret_cast<const uint8_t*>(buf), len, out); }
  NASFAST_HD void flush() {}
};

template <class Digests>
NASFAST_HD void nb101_fingerprint(const Graph& g, uint8_t out[16], Digests& digests) {
  const int n = g.n;
  uint8_t h[kMaxNodes][16];
  uint8_t nh[kMaxNodes][16];
  char hx[kMaxNodes][32];
  for (int v = 0; v < n; ++v) {  // str((out_degree, in_degree, label)) as Python prints a tuple
    char* buf = digests.message();
    int k = 0;
    buf[k++] = '(';
    k += write_int(buf + k, popcount32(g.out[v]));
    buf[k++] = ',';
    buf[k++] = ' ';
    k += write_int(buf + k, popcount32(g.in[v]));
    buf[k++] = ',';
    buf[k++] = ' ';
    k += write_int(buf + k, g.label[v]);
    buf[k++] = ')';
    digests.done(k, h[v]);
  }
  digests.flush();
  int order[kMaxNodes];
  for (int round = 0; round < n; ++round) {  // all n rounds, as the benchmark runs them
    order_by_digest(h, n, order);
    for (int v = 0; v < n; ++v) to_hex(h[v], hx[v]);
    for (int v = 0; v < n; ++v) {
      char* buf = digests.message();
      int k = 0;
      for (int r = 0; r < n; ++r) {
        int w = order[r];
        if ((g.in[v] >> w) & 1u) {
          for (int c = 0; c < 32; ++c) buf[k + c] = hx[w][c];
          k += 32;
        }
      }
      buf[k++] = '|';
      for (int r = 0; r < n; ++r) {
        int w = order[r];
        if ((g.out[v] >> w) & 1u) {
          for (int c = 0; c < 32; ++c) buf[k + c] = hx[w][c];
          k += 32;
        }
      }
      buf[k++] = '|';
      for (int c = 0; c < 32; ++c) buf[k + c] = hx[v][c];
      k += 32;
      digests.done(k, nh[v]);
    }
    digests.flush();
    for (int v = 0; v < n; ++v) {
      for (int c = 0; c < 16; ++c) h[v][c] = nh[v][c];
    }
  }
  order_by_digest(h, n, order);  // str(sorted(hashes)): "['<hex>', '<hex>']"
  char* buf = digests.message();
  int k = 0;
  buf[k++] = '[';
  for (int r = 0; r < n; ++r) {
    if (r) {
      buf[k++] = ',';
      buf[k++] = ' ';
    }
    buf[k++] = '\'';
    to_hex(h[order[r]], buf + k);
    k += 32;
    buf[k++] = '\'';
  }
  buf[k++] = ']';
  digests.done(k, out);
  digests.flush();
}

// ---- exact canonical form -----------------------------------------------------------------------

NASFAST_HD uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

NASFAST_HD int count_distinct(const uint64_t* c, int n) {
  int k = 0;
  for (int v = 0; v < n; ++v) {
    bool seen = false;
    for (int w = 0; w < v && !seen; ++w) seen = c[w] == c[v];
    k += !seen;
  }
  return k;
}

// Colour refinement to a stable partition. Neighbour colours enter through sums of mixed values,
// an order-free multiset hash; a collision only weakens refinement, never correctness.
NASFAST_HD void refine(const Graph& g, uint64_t* c) {
  const int n = g.n;
  int classes = count_distinct(c, n);
  uint64_t nc[kMaxNodes];
  for (int it = 0; it <= n; ++it) {
    for (int v = 0; v < n; ++v) {
      uint64_t s_in = 0, s_out = 0;
      for (int w = 0; w < n; ++w) {
        if ((g.in[v] >> w) & 1u) s_in += mix64(c[w] ^ 0x243f6a8885a308d3ull);
        if ((g.out[v] >> w) & 1u) s_out += mix64(c[w] ^ 0x13198a2e03707344ull);
      }
      nc[v] = mix64(mix64(c[v]) + 3 * s_in + mix64(s_out + 0xa4093822299f31d0ull));
    }
    int k = count_distinct(nc, n);
    for (int v = 0; v < n; ++v) c[v] = nc[v];
    if (k == classes) break;
    classes = k;
  }
}

struct Certificate {
  int32_t label[kMaxNodes];
  uint32_t row[kMaxNodes];
};

NASFAST_HD void leaf_certificate(const Graph& g, const uint64_t* c, Certificate& cert) {
  const int n = g.n;
  int perm[kMaxNodes];
  int pos[kMaxNodes];
  for (int i = 0; i < n; ++i) {  // order vertices by colour (distinct at a leaf)
    int v = i, j = i;
    while (j > 0 && c[v] < c[perm[j - 1]]) {
      perm[j] = perm[j - 1];
      --j;
    }
    perm[j] = v;
  }
  for (int i = 0; i < n; ++i) pos[perm[i]] = i;
  for (int i = 0; i < n; ++i) {
    cert.label[i] = g.label[perm[i]];
    uint32_t r = 0;
    for (int w = 0; w < n; ++w) {
      if ((g.out[perm[i]] >> w) & 1u) r |= 1u << pos[w];
    }
    cert.row[i] = r;
  }
}

NASFAST_HD bool certificate_less(const Certificate& a, const Certificate& b, int n) {
  for (int i = 0; i < n; ++i) {
    if (a.label[i] != b.label[i]) return a.label[i] < b.label[i];
  }
  for (int i = 0; i < n; ++i) {
    if (a.row[i] != b.row[i]) return a.row[i] < b.row[i];
  }
  return false;
}

NASFAST_HD void canonical_hash(const Graph& g, uint8_t out[16]) {
  const int n = g.n;
  struct Frame {
    uint64_t c[kMaxNodes];
    uint32_t todo;  // vertices of the target cell still to individualise
    bool expanded;
  };
  Frame stack[kMaxNodes + 1];
  int depth = 0;
  for (int v = 0; v < n; ++v) stack[0].c[v] = mix64(uint64_t(int64_t(g.label[v])) + 0x9e3779b97f4a7c15ull);
  refine(g, stack[0].c);
  stack[0].expanded = false;
  Certificate best, cur;
  bool have_best = false;
  while (depth >= 0) {
    Frame& f = stack[depth];
    if (!f.expanded) {
      f.expanded = true;
      f.todo = 0;
      // Target cell: the non-singleton cell of least colour (an isomorphism-invariant choice).
      uint64_t target = 0;
      bool found = false;
      for (int v = 0; v < n; ++v) {
        int size = 0;
        for (int w = 0; w < n; ++w) size += f.c[w] == f.c[v];
        if (size > 1 && (!found || f.c[v] < target)) {
          target = f.c[v];
          found = true;
        }
      }
      if (!found || depth == n) {  // discrete partition: a leaf (depth == n only on a hash collision)
        leaf_certificate(g, f.c, cur);
        if (!have_best || certificate_less(cur, best, n)) {
          best = cur;
          have_best = true;
        }
        --depth;
        continue;
      }
      for (int v = 0; v < n; ++v) {
        if (f.c[v] != target) continue;
        // Skip v when swapping it with an earlier candidate u is an automorphism (same label and the
        // same edges to every other vertex, u -> v iff v -> u, and the same self-loop): both subtrees
        // give the same certificates. Adjacent twins count too, so a complete digraph is linear, not n!.
        bool twin_taken = false;
        for (int u = 0; u < v && !twin_taken; ++u) {
          const uint32_t uv = (1u << u) | (1u << v);
          twin_taken = ((f.todo >> u) & 1u) && g.label[u] == g.label[v] &&
                       (g.in[u] & ~uv) == (g.in[v] & ~uv) && (g.out[u] & ~uv) == (g.out[v] & ~uv) &&
                       ((g.out[u] >> v) & 1u) == ((g.out[v] >> u) & 1u) &&
                       ((g.out[u] >> u) & 1u) == ((g.out[v] >> v) & 1u);
        }
        if (!twin_taken) f.todo |= 1u << v;
      }
    }
    if (f.todo == 0) {
      --depth;
      continue;
    }
    int v = 0;
    while (!((f.todo >> v) & 1u)) ++v;
    f.todo &= ~(1u << v);
    Frame& child = stack[depth + 1];
    for (int w = 0; w < n; ++w) child.c[w] = f.c[w];
    child.c[v] = mix64(f.c[v] ^ (0x5851f42d4c957f2dull * uint64_t(depth + 1)));
    refine(g, child.c);
    child.expanded = false;
    ++depth;
  }
  // Digest of the certificate: n, then labels (int32 LE), then rows (uint16 LE; n <= 16).
  uint8_t buf[1 + kMaxNodes * 6];
  int k = 0;
  buf[k++] = uint8_t(n);
  for (int i = 0; i < n; ++i) {
    for (int b = 0; b < 4; ++b) buf[k++] = uint8_t(uint32_t(best.label[i]) >> (8 * b));
  }
  for (int i = 0; i < n; ++i) {
    buf[k++] = uint8_t(best.row[i]);
    buf[k++] = uint8_t(best.row[i] >> 8);
  }
  md5::digest(buf, k, out);
}

}  // namespace graph_hash
}  // namespace nasfast
