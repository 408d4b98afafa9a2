// avg_pool3x3: input checks and the separable divisor shared by the CPU and CUDA kernels (schemas
// in avg_pool3x3.cpp).
#pragma once

#include "checks.h"
#include "hd.h"

namespace nasfast {
namespace avg_pool3x3 {

inline void check_input(const at::Tensor& x, const char* name) {
  TORCH_CHECK(x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble, name,
              " must have dtype float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(x.dim() == 4, name, " must be (N, C, H, W), got shape ", x.sizes());
}

// 1 / (number of in-bounds rows of the 3-row window centred on row i): the divisor of a 3x3
// average without padded zeros is rows(i) * cols(j), so its inverse is separable.
template <typename T>
NASFAST_HD T inv_window(int64_t i, int64_t n) {
  const int64_t lo = i > 0 ? i - 1 : 0, hi = i + 1 < n ? i + 1 : n - 1;
  return T(1) / T(hi - lo + 1);
}

}  // namespace avg_pool3x3
}  // namespace nasfast
