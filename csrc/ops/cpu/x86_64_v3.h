// Run-time choice between a baseline build of a hot loop and an x86-64-v3 (AVX2 + FMA) build:
// the kernels compile their loop twice (the v3 copy under __attribute__((target))) and ask
// cpu_has_x86_64_v3() which one to run.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define NASFAST_HAVE_X86_64_V3 1
#endif

#define NASFAST_ALWAYS_INLINE __attribute__((always_inline)) inline

namespace nasfast {

#ifdef NASFAST_HAVE_X86_64_V3
inline bool cpu_has_x86_64_v3() {
  static const bool has = __builtin_cpu_supports("x86-64-v3");
  return has;
}
#endif

}  // namespace nasfast
