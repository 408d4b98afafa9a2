// Eight md5 digests at once (GCC/Clang vector extensions), for the CPU graph_hash kernel.
// md5 is a serial chain of 64 dependent steps, so one digest leaves most of a core idle; the n
// vertex messages of one fingerprint round are independent, and hashing them in lanes runs the
// chains side by side (AVX2 where the CPU has it, chosen at load time; SSE2 otherwise).
#pragma once

#include <cstdint>
#include <cstring>

namespace nasfast {
namespace md5 {

typedef uint32_t u32x8 __attribute__((vector_size(32)));

#define NASFAST_MD5X8_F(x, y, z) (((x) & (y)) | (~(x) & (z)))
#define NASFAST_MD5X8_G(x, y, z) (((x) & (z)) | ((y) & ~(z)))
#define NASFAST_MD5X8_H(x, y, z) ((x) ^ (y) ^ (z))
#define NASFAST_MD5X8_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define NASFAST_MD5X8_STEP(f, a, b, c, d, xk, t, s)        \
  do {                                                     \
    (a) += NASFAST_MD5X8_##f((b), (c), (d)) + (xk) + (t);  \
    (a) = ((a) << (s)) | ((a) >> (32 - (s)));             \
    (a) += (b);                                            \
  } while (0)

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
    NASFAST_MD5X8_STEP(F, a, b, c, d, x[0], 0xd76aa478u, 7);
    NASFAST_MD5X8_STEP(F, d, a, b, c, x[1], 0xe8c7b756u, 12);
    NASFAST_MD5X8_STEP(F, c, d, a, b, x[2], 0x242070dbu, 17);
    NASFAST_MD5X8_STEP(F, b, c, d, a, x[3], 0xc1bdceeeu, 22);
    NASFAST_MD5X8_STEP(F, a, b, c, d, x[4], 0xf57c0fafu, 7);
    NASFAST_MD5X8_STEP(F, d, a, b, c, x[5], 0x4787c62au, 12);
    NASFAST_MD5X8_STEP(F, c, d, a, b, x[6], 0xa8304613u, 17);
    NASFAST_MD5X8_STEP(F, b, c, d, a, x[7], 0xfd469501u, 22);
    NASFAST_MD5X8_STEP(F, a, b, c, d, x[8], 0x698098d8u, 7);
    NASFAST_MD5X8_STEP(F, d, a, b, c, x[9], 0x8b44f7afu, 12);
    NASFAST_MD5X8_STEP(F, c, d, a, b, x[10], 0xffff5bb1u, 17);
    NASFAST_MD5X8_STEP(F, b, c, d, a, x[11], 0x895cd7beu, 22);
    NASFAST_MD5X8_STEP(F, a, b, c, d, x[12], 0x6b901122u, 7);
    NASFAST_MD5X8_STEP(F, d, a, b, c, x[13], 0xfd987193u, 12);
    NASFAST_MD5X8_STEP(F, c, d, a, b, x[14], 0xa679438eu, 17);
    NASFAST_MD5X8_STEP(F, b, c, d, a, x[15], 0x49b40821u, 22);
    NASFAST_MD5X8_STEP(G, a, b, c, d, x[1], 0xf61e2562u, 5);
    NASFAST_MD5X8_STEP(G, d, a, b, c, x[6], 0xc040b340u, 9);
    NASFAST_MD5X8_STEP(G, c, d, a, b, x[11], 0x265e5a51u, 14);
    NASFAST_MD5X8_STEP(G, b, c, d, a, x[0], 0xe9b6c7aau, 20);
    NASFAST_MD5X8_STEP(G, a, b, c, d, x[5], 0xd62f105du, 5);
    NASFAST_MD5X8_STEP(G, d, a, b, c, x[10], 0x02441453u, 9);
    NASFAST_MD5X8_STEP(G, c, d, a, b, x[15], 0xd8a1e681u, 14);
    NASFAST_MD5X8_STEP(G, b, c, d, a, x[4], 0xe7d3fbc8u, 20);
    NASFAST_MD5X8_STEP(G, a, b, c, d, x[9], 0x21e1cde6u, 5);
    NASFAST_MD5X8_STEP(G, d, a, b, c, x[14], 0xc33707d6u, 9);
    NASFAST_MD5X8_STEP(G, c, d, a, b, x[3], 0xf4d50d87u, 14);
    NASFAST_MD5X8_STEP(G, b, c, d, a, x[8], 0x455a14edu, 20);
    NASFAST_MD5X8_STEP(G, a, b, c, d, x[13], 0xa9e3e905u, 5);
    NASFAST_MD5X8_STEP(G, d, a, b, c, x[2], 0xfcefa3f8u, 9);
    NASFAST_MD5X8_STEP(G, c, d, a, b, x[7], 0x676f02d9u, 14);
    NASFAST_MD5X8_STEP(G, b, c, d, a, x[12], 0x8d2a4c8au, 20);
    NASFAST_MD5X8_STEP(H, a, b, c, d, x[5], 0xfffa3942u, 4);
    NASFAST_MD5X8_STEP(H, d, a, b, c, x[8], 0x8771f681u, 11);
    NASFAST_MD5X8_STEP(H, c, d, a, b, x[11], 0x6d9d6122u, 16);
    NASFAST_MD5X8_STEP(H, b, c, d, a, x[14], 0xfde5380cu, 23);
    NASFAST_MD5X8_STEP(H, a, b, c, d, x[1], 0xa4beea44u, 4);
    NASFAST_MD5X8_STEP(H, d, a, b, c, x[4], 0x4bdecfa9u, 11);
    NASFAST_MD5X8_STEP(H, c, d, a, b, x[7], 0xf6bb4b60u, 16);
    NASFAST_MD5X8_STEP(H, b, c, d, a, x[10], 0xbebfbc70u, 23);
    NASFAST_MD5X8_STEP(H, a, b, c, d, x[13], 0x289b7ec6u, 4);
    NASFAST_MD5X8_STEP(H, d, a, b, c, x[0], 0xeaa127fau, 11);
    NASFAST_MD5X8_STEP(H, c, d, a, b, x[3], 0xd4ef3085u, 16);
    NASFAST_MD5X8_STEP(H, b, c, d, a, x[6], 0x04881d05u, 23);
    NASFAST_MD5X8_STEP(H, a, b, c, d, x[9], 0xd9d4d039u, 4);
    NASFAST_MD5X8_STEP(H, d, a, b, c, x[12], 0xe6db99e5u, 11);
    NASFAST_MD5X8_STEP(H, c, d, a, b, x[15], 0x1fa27cf8u, 16);
    NASFAST_MD5X8_STEP(H, b, c, d, a, x[2], 0xc4ac5665u, 23);
    NASFAST_MD5X8_STEP(I, a, b, c, d, x[0], 0xf4292244u, 6);
    NASFAST_MD5X8_STEP(I, d, a, b, c, x[7], 0x432aff97u, 10);
    NASFAST_MD5X8_STEP(I, c, d, a, b, x[14], 0xab9423a7u, 15);
    NASFAST_MD5X8_STEP(I, b, c, d, a, x[5], 0xfc93a039u, 21);
    NASFAST_MD5X8_STEP(I, a, b, c, d, x[12], 0x655b59c3u, 6);
    NASFAST_MD5X8_STEP(I, d, a, b, c, x[3], 0x8f0ccc92u, 10);
    NASFAST_MD5X8_STEP(I, c, d, a, b, x[10], 0xffeff47du, 15);
    NASFAST_MD5X8_STEP(I, b, c, d, a, x[1], 0x85845dd1u, 21);
    NASFAST_MD5X8_STEP(I, a, b, c, d, x[8], 0x6fa87e4fu, 6);
    NASFAST_MD5X8_STEP(I, d, a, b, c, x[15], 0xfe2ce6e0u, 10);
    NASFAST_MD5X8_STEP(I, c, d, a, b, x[6], 0xa3014314u, 15);
    NASFAST_MD5X8_STEP(I, b, c, d, a, x[13], 0x4e0811a1u, 21);
    NASFAST_MD5X8_STEP(I, a, b, c, d, x[4], 0xf7537e82u, 6);
    NASFAST_MD5X8_STEP(I, d, a, b, c, x[11], 0xbd3af235u, 10);
    NASFAST_MD5X8_STEP(I, c, d, a, b, x[2], 0x2ad7d2bbu, 15);
    NASFAST_MD5X8_STEP(I, b, c, d, a, x[9], 0xeb86d391u, 21);

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

#undef NASFAST_MD5X8_STEP
#undef NASFAST_MD5X8_F
#undef NASFAST_MD5X8_G
#undef NASFAST_MD5X8_H
#undef NASFAST_MD5X8_I

}  // namespace md5
}  // namespace nasfast
