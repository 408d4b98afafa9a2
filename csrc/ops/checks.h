// Shared input checks for every op: each kernel file is then only the computation.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#define NASFAST_CHECK_DTYPE(t, dtype)                                                        \
  TORCH_CHECK((t).scalar_type() == (dtype), #t " must have dtype ", (dtype), ", got ",       \
              (t).scalar_type())
#define NASFAST_CHECK_DIM(t, d) \
  TORCH_CHECK((t).dim() == (d), #t " must have ", (d), " dimensions, got shape ", (t).sizes())
#define NASFAST_CHECK_SAME_DEVICE(a, b)                                                      \
  TORCH_CHECK((a).device() == (b).device(), #a " and " #b " must be on one device, got ",   \
              (a).device(), " and ", (b).device())
