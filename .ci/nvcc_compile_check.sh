#!/usr/bin/env bash
# Compile-only check of every CUDA kernel against the installed torch's headers. This machine's
# torch is a CPU build without c10/cuda/impl/cuda_cmake_macros.h (generated at torch's own build),
# so a one-line stub stands in for it; nothing is linked or run. C++17 as the real build
# (CMakeLists.txt), for the oldest architecture nvcc 13 targets (sm_75) and the H100's (sm_90).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
TORCH_INC=$("$PY" -c "import torch.utils.cpp_extension as c; print(' '.join('-I'+p for p in c.include_paths()))")
STUB=$(mktemp -d)
trap 'rm -rf "$STUB"' EXIT
mkdir -p "$STUB/c10/cuda/impl"
echo '#define C10_CUDA_BUILD_SHARED_LIBS' > "$STUB/c10/cuda/impl/cuda_cmake_macros.h"
status=0
for cu in csrc/ops/cuda/*.cu; do
  echo "nvcc -c $cu"
  # shellcheck disable=SC2086
  if ! nvcc -std=c++17 -gencode arch=compute_75,code=sm_75 -gencode arch=compute_90,code=sm_90 -c "$cu" -o /dev/null -Icsrc $TORCH_INC -I"$STUB" \
      -D_GLIBCXX_USE_CXX11_ABI=1 --expt-relaxed-constexpr -w; then
    status=1
  fi
done
exit $status
