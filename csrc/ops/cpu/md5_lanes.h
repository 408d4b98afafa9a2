// Eight md5 digests at once (GCC/Clang vector extensions), for the CPU graph_hash kernel.
// md5 is a serial chain of 64 dependent steps, so one digest leaves most of a core idle; the n
// vertex messages of one fingerprint round are independent, and hashing them in lanes runs the
// chains side by side (AVX2 where the CPU has it, chosen at load time; SSE2 otherwise).
#pragma once

#include <cstdint>
#include <cstring>

#include "../md5.h"

namespace nasfast {
namespace md5 {

typedef uint32_t u32x8 __attribute__((vector_size(32)));


// Message buffers must have room for 72 bytes past their length: the md5 padding is written in
// place. Up to 8 messages; outs[i] receives the digest of msgs[i].
__attribute__((target_clones("avx2", "default"))) inline void digest_lanes(
    uint8_t* const* msgs, const int* lens, int count, uint8_t (*outs)[16]) {
  int blocks[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int max_blocks = 0;
  for (int l = 0; l < count; ++l) {
    uint8_t* m = msgs[l];
    const int len = lens[l];
    const int padded = ((len + 8) / 64 + 1) * 64;
    m[len] = 0x80;
    std::memset(m + len + 1, 0, padded - len - 9);
    const uint64_t bits = uint64_t(len) * 8u;
    std::memcpy(m + padded - 8, &bits, 8);  // little-endian hosts only (x86, arm64)
    blocks[l] = padded / 64;
    if (blocks[l] > max_blocks) max_blocks = blocks[l];
  }
  u32x8 a0 = {0}, b0 = {0}, c0 = {0}, d0 = {0};
  a0 += 0x67452301u;
  b0 += 0xefcdab89u;
  c0 += 0x98badcfeu;
  d0 += 0x10325476u;
  for (int blk = 0; blk < max_blocks; ++blk) {
    u32x8 x[16];
    u32x8 live = {0};
    for (int l = 0; l < 8; ++l) {
      const bool on = blk < blocks[l];
      live[l] = on ? 0xffffffffu : 0u;
      for (int i = 0; i < 16; ++i) {
        uint32_t w = 0;
        if (on) std::memcpy(&w, msgs[l] + 64 * blk + 4 * i, 4);
        x[i][l] = w;
      }
    }
    u32x8 a = a0, b = b0, c = c0, d = d0;
    NASFAST_MD5_64_STEPS(a, b, c, d, x);  // the macros of md5.h work on vectors too

    a0 += a & live;  // finished lanes keep their state
    b0 += b & live;
    c0 += c & live;
    d0 += d & live;
  }
  for (int l = 0; l < count; ++l) {
    const uint32_t s[4] = {a0[l], b0[l], c0[l], d0[l]};
    std::memcpy(outs[l], s, 16);
  }
}


}  // namespace md5
}  // namespace nasfast
