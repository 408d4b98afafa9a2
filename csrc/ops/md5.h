// MD5 (RFC 1321) as a host/device function, used by the graph_hash op. The step macros stay
// defined: cpu/md5_lanes.h runs the same steps on vectors of 8 lanes.
// NAS-Bench-101 keys are md5 hex digests, so bit-identical keys need md5 itself; the 64 steps are
// unrolled with their RFC constants so the same code compiles for CPU and CUDA without tables.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define NASFAST_HD __host__ __device__ __forceinline__
#else
#define NASFAST_HD inline
#endif

namespace nasfast {
namespace md5 {

#define NASFAST_MD5_F(x, y, z) (((x) & (y)) | (~(x) & (z)))
#define NASFAST_MD5_G(x, y, z) (((x) & (z)) | ((y) & ~(z)))
#define NASFAST_MD5_H(x, y, z) ((x) ^ (y) ^ (z))
#define NASFAST_MD5_I(x, y, z) ((y) ^ ((x) | ~(z)))
#define NASFAST_MD5_STEP(f, a, b, c, d, xk, t, s)          \
  do {                                                     \
    (a) += NASFAST_MD5_##f((b), (c), (d)) + (xk) + (t);    \
    (a) = ((a) << (s)) | ((a) >> (32 - (s)));             \
    (a) += (b);                                            \
  } while (0)

// The 64 steps of RFC 1321 with their constants; shared by the scalar and the lane-parallel code.
#define NASFAST_MD5_64_STEPS(a, b, c, d, x) \
  NASFAST_MD5_STEP(F, a, b, c, d, x[0], 0xd76aa478u, 7); \
  NASFAST_MD5_STEP(F, d, a, b, c, x[1], 0xe8c7b756u, 12); \
  NASFAST_MD5_STEP(F, c, d, a, b, x[2], 0x242070dbu, 17); \
  NASFAST_MD5_STEP(F, b, c, d, a, x[3], 0xc1bdceeeu, 22); \
  NASFAST_MD5_STEP(F, a, b, c, d, x[4], 0xf57c0fafu, 7); \
  NASFAST_MD5_STEP(F, d, a, b, c, x[5], 0x4787c62au, 12); \
  NASFAST_MD5_STEP(F, c, d, a, b, x[6], 0xa8304613u, 17); \
  NASFAST_MD5_STEP(F, b, c, d, a, x[7], 0xfd469501u, 22); \
  NASFAST_MD5_STEP(F, a, b, c, d, x[8], 0x698098d8u, 7); \
  NASFAST_MD5_STEP(F, d, a, b, c, x[9], 0x8b44f7afu, 12); \
  NASFAST_MD5_STEP(F, c, d, a, b, x[10], 0xffff5bb1u, 17); \
  NASFAST_MD5_STEP(F, b, c, d, a, x[11], 0x895cd7beu, 22); \
  NASFAST_MD5_STEP(F, a, b, c, d, x[12], 0x6b901122u, 7); \
  NASFAST_MD5_STEP(F, d, a, b, c, x[13], 0xfd987193u, 12); \
  NASFAST_MD5_STEP(F, c, d, a, b, x[14], 0xa679438eu, 17); \
  NASFAST_MD5_STEP(F, b, c, d, a, x[15], 0x49b40821u, 22); \
  NASFAST_MD5_STEP(G, a, b, c, d, x[1], 0xf61e2562u, 5); \
  NASFAST_MD5_STEP(G, d, a, b, c, x[6], 0xc040b340u, 9); \
  NASFAST_MD5_STEP(G, c, d, a, b, x[11], 0x265e5a51u, 14); \
  NASFAST_MD5_STEP(G, b, c, d, a, x[0], 0xe9b6c7aau, 20); \
  NASFAST_MD5_STEP(G, a, b, c, d, x[5], 0xd62f105du, 5); \
  NASFAST_MD5_STEP(G, d, a, b, c, x[10], 0x02441453u, 9); \
  NASFAST_MD5_STEP(G, c, d, a, b, x[15], 0xd8a1e681u, 14); \
  NASFAST_MD5_STEP(G, b, c, d, a, x[4], 0xe7d3fbc8u, 20); \
  NASFAST_MD5_STEP(G, a, b, c, d, x[9], 0x21e1cde6u, 5); \
  NASFAST_MD5_STEP(G, d, a, b, c, x[14], 0xc33707d6u, 9); \
  NASFAST_MD5_STEP(G, c, d, a, b, x[3], 0xf4d50d87u, 14); \
  NASFAST_MD5_STEP(G, b, c, d, a, x[8], 0x455a14edu, 20); \
  NASFAST_MD5_STEP(G, a, b, c, d, x[13], 0xa9e3e905u, 5); \
  NASFAST_MD5_STEP(G, d, a, b, c, x[2], 0xfcefa3f8u, 9); \
  NASFAST_MD5_STEP(G, c, d, a, b, x[7], 0x676f02d9u, 14); \
  NASFAST_MD5_STEP(G, b, c, d, a, x[12], 0x8d2a4c8au, 20); \
  NASFAST_MD5_STEP(H, a, b, c, d, x[5], 0xfffa3942u, 4); \
  NASFAST_MD5_STEP(H, d, a, b, c, x[8], 0x8771f681u, 11); \
  NASFAST_MD5_STEP(H, c, d, a, b, x[11], 0x6d9d6122u, 16); \
  NASFAST_MD5_STEP(H, b, c, d, a, x[14], 0xfde5380cu, 23); \
  NASFAST_MD5_STEP(H, a, b, c, d, x[1], 0xa4beea44u, 4); \
  NASFAST_MD5_STEP(H, d, a, b, c, x[4], 0x4bdecfa9u, 11); \
  NASFAST_MD5_STEP(H, c, d, a, b, x[7], 0xf6bb4b60u, 16); \
  NASFAST_MD5_STEP(H, b, c, d, a, x[10], 0xbebfbc70u, 23); \
  NASFAST_MD5_STEP(H, a, b, c, d, x[13], 0x289b7ec6u, 4); \
  NASFAST_MD5_STEP(H, d, a, b, c, x[0], 0xeaa127fau, 11); \
  NASFAST_MD5_STEP(H, c, d, a, b, x[3], 0xd4ef3085u, 16); \
  NASFAST_MD5_STEP(H, b, c, d, a, x[6], 0x04881d05u, 23); \
  NASFAST_MD5_STEP(H, a, b, c, d, x[9], 0xd9d4d039u, 4); \
  NASFAST_MD5_STEP(H, d, a, b, c, x[12], 0xe6db99e5u, 11); \
  NASFAST_MD5_STEP(H, c, d, a, b, x[15], 0x1fa27cf8u, 16); \
  NASFAST_MD5_STEP(H, b, c, d, a, x[2], 0xc4ac5665u, 23); \
  NASFAST_MD5_STEP(I, a, b, c, d, x[0], 0xf4292244u, 6); \
  NASFAST_MD5_STEP(I, d, a, b, c, x[7], 0x432aff97u, 10); \
  NASFAST_MD5_STEP(I, c, d, a, b, x[14], 0xab9423a7u, 15); \
  NASFAST_MD5_STEP(I, b, c, d, a, x[5], 0xfc93a039u, 21); \
  NASFAST_MD5_STEP(I, a, b, c, d, x[12], 0x655b59c3u, 6); \
  NASFAST_MD5_STEP(I, d, a, b, c, x[3], 0x8f0ccc92u, 10); \
  NASFAST_MD5_STEP(I, c, d, a, b, x[10], 0xffeff47du, 15); \
  NASFAST_MD5_STEP(I, b, c, d, a, x[1], 0x85845dd1u, 21); \
  NASFAST_MD5_STEP(I, a, b, c, d, x[8], 0x6fa87e4fu, 6); \
  NASFAST_MD5_STEP(I, d, a, b, c, x[15], 0xfe2ce6e0u, 10); \
  NASFAST_MD5_STEP(I, c, d, a, b, x[6], 0xa3014314u, 15); \
  NASFAST_MD5_STEP(I, b, c, d, a, x[13], 0x4e0811a1u, 21); \
  NASFAST_MD5_STEP(I, a, b, c, d, x[4], 0xf7537e82u, 6); \
  NASFAST_MD5_STEP(I, d, a, b, c, x[11], 0xbd3af235u, 10); \
  NASFAST_MD5_STEP(I, c, d, a, b, x[2], 0x2ad7d2bbu, 15); \
  NASFAST_MD5_STEP(I, b, c, d, a, x[9], 0xeb86d391u, 21);

NASFAST_HD void compress(uint32_t state[4], const uint8_t block[64]) {
  uint32_t x[16];
  for (int i = 0; i < 16; ++i) {
    x[i] = uint32_t(block[4 * i]) | (uint32_t(block[4 * i + 1]) << 8) |
           (uint32_t(block[4 * i + 2]) << 16) | (uint32_t(block[4 * i + 3]) << 24);
  }
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  NASFAST_MD5_64_STEPS(a, b, c, d, x);

  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
}

// md5 of msg[0..len) into out[16].
NASFAST_HD void digest(const uint8_t* msg, int len, uint8_t out[16]) {
  uint32_t state[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
  int full = len / 64;
  for (int i = 0; i < full; ++i) compress(state, msg + 64 * i);
  uint8_t tail[128];
  int rem = len - 64 * full;
  for (int i = 0; i < rem; ++i) tail[i] = msg[64 * full + i];
  tail[rem] = 0x80;
  int tail_len = (rem < 56) ? 64 : 128;
  for (int i = rem + 1; i < tail_len - 8; ++i) tail[i] = 0;
  uint64_t bits = uint64_t(len) * 8u;
  for (int i = 0; i < 8; ++i) tail[tail_len - 8 + i] = uint8_t(bits >> (8 * i));
  compress(state, tail);
  if (tail_len == 128) compress(state, tail + 64);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) out[4 * i + j] = uint8_t(state[i] >> (8 * j));
  }
}

}  // namespace md5
}  // namespace nasfast
