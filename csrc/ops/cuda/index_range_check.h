// Bounds check, on the host, of an index tensor that lives on the GPU: the CUDA kernels that take
// indices read them without checks. One aminmax on the device, both results copied to the host at
// once: a single sync per call.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/aminmax.h>
#include <ATen/ops/stack.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <tuple>

namespace nasfast {

// what: the message's subject ("index holds values"); unit: what the indices count ("rows")
inline void check_index_range_on_device(const at::Tensor& index, int64_t n, const char* what, const char* unit) {
  if (index.numel() == 0) return;
  const auto minmax = at::aminmax(index);
  const at::Tensor host = at::stack({std::get<0>(minmax), std::get<1>(minmax)}).cpu();
  const int64_t lo = host[0].item<int64_t>(), hi = host[1].item<int64_t>();
  TORCH_CHECK(lo >= 0 && hi < n, what, " in [", lo, ", ", hi, "], out of range for ", n, " ", unit,
              " (indices are 0..n-1)");
}

}  // namespace nasfast
