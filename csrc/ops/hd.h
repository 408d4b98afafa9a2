// NASFAST_HD marks small functions shared by the CPU and CUDA kernels of an op: host+device
// under nvcc, plain inline elsewhere. Same definition as md5.h's (token-identical, so including
// both is fine).
#pragma once

#ifndef NASFAST_HD
#if defined(__CUDACC__)
#define NASFAST_HD __host__ __device__ __forceinline__
#else
#define NASFAST_HD inline
#endif
#endif
