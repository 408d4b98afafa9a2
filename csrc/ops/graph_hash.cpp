// graph_hash: op schemas. Kernels register per backend in cpu/ and cuda/; the fake (meta) kernel
// and the Python face live in nasfast/ops/graph_hash.py.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(nasfast, m) {
  // md5 digests (B, 16) uint8 of NAS-Bench-101 module hashes; all-zero rows for specs with no
  // input->output path.
  m.def("nb101_fingerprint(Tensor adjacency, Tensor labels) -> Tensor");
  // md5 digests (B, 16) uint8 of an exact isomorphism-canonical form; `prune` keeps only vertices
  // on a path from the first to the last vertex (all-zero rows when there is none).
  m.def("graph_canonical_hash(Tensor adjacency, Tensor labels, bool prune) -> Tensor");
}
