#!/usr/bin/env bash
# Everything a lent GPU machine is for, in one command: build the CUDA kernels, run the tests that
# have a CUDA side, the GPU benchmarks, and the NB201 proxy table on the GPU (5 proxies, all 15,625
# archs, resumable). Each stage has its own time limit and log under $OUT; a stage that fails or runs
# out of time does not stop the next. Usage (repository root, python3 = a CUDA build of torch):
#   bash benchmarks/gpu_session.sh [STAGE ...]   stages: build tests bench-gates bench-proxies
#                                                proxies bench-ops (default: all, in that order)
#   GPU_DEADLINE_S=560  seconds from the start after which no stage starts and `proxies` stops
#   GPU_DEADLINE_AT     the same deadline as a Unix time (for several calls under one limit)
set -uo pipefail
OUT=${OUT:-/tmp/nasfast-gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
PY=${PY:-python3}
# The distribution's g++: a toolchain that links part of libstdc++ statically (the H100 image's
# /opt/gcc, 2026-11-24) gives the extension its own locale ids, and the first error message with an
# integer in it crashed (c10::str -> ostream::_M_insert<long>) instead of raising.
if [[ -z ${CXX:-} || ${CXX} == /opt/gcc/* ]] && [[ -x /usr/bin/g++ ]]; then
  export CC=/usr/bin/gcc CXX=/usr/bin/g++ CUDAHOSTCXX=/usr/bin/g++
fi
START=$(date +%s)
DEADLINE=${GPU_DEADLINE_AT:-$((START + ${GPU_DEADLINE_S:-560}))}
STAGES=${*:-build tests bench-gates bench-proxies proxies bench-ops}

left() { echo $((DEADLINE - $(date +%s))); }

# run LOG LIMIT_S CMD...: append CMD's output to $OUT/LOG.log under a limit cut to the deadline
run() {
  local log=$1 limit=$2 rc
  shift 2
  ((limit > $(left))) && limit=$(left)
  if ((limit < 10)); then echo "skipped (deadline): $*"; return 0; fi
  echo "=== [$(($(date +%s) - START)) s] $* (limit ${limit} s)" | tee -a "$OUT/$log.log"
  timeout "$limit" "$@" >>"$OUT/$log.log" 2>&1
  rc=$?
  echo "--- rc=$rc after $(($(date +%s) - START)) s" | tee -a "$OUT/$log.log"
  return $rc
}

for stage in $STAGES; do
  case $stage in
    build)
      nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
      $PY -c "import torch, sys; print('torch', torch.__version__, 'python', sys.version.split()[0])"
      run build 300 $PY -m pip install --no-build-isolation --no-deps -e . \
        -Ccmake.define.NASFAST_CUDA=ON -Ccmake.define.CMAKE_CUDA_ARCHITECTURES=90 \
        || { tail -n 40 "$OUT/build.log"; exit 1; }
      ;;
    tests)
      # every test file with a CUDA case (they skip without a GPU) plus the CPU op tests around them;
      # 2 torch threads per worker (8 workers x all cores each made the CPU tests crawl)
      OMP_NUM_THREADS=2 run tests 300 $PY -m pytest -q -p no:cacheprovider -n 8 --timeout 120 -rfs \
        python_tests/test_gates_aggregate.py python_tests/test_pairwise_ranking_loss.py \
        python_tests/test_graph_hash.py python_tests/test_avg_pool3x3.py python_tests/test_metrics.py \
        python_tests/test_proxies_nb201.py python_tests/test_gates_onnode_encode.py \
        python_tests/test_predictors.py python_tests/test_pooling.py python_tests/test_gather_dropout.py
      tail -n 25 "$OUT/tests.log"
      ;;
    bench-gates)
      run bench 200 $PY benchmarks/bench_gates.py --device cuda --threads 16 \
        --batches 512 4096 100000 262144 --repeats 10
      ;;
    bench-proxies)  # table workers > 1: processes sharing the GPU, to overlap the CPU-side network builds
      run bench 200 $PY benchmarks/bench_proxies.py --device cuda --threads 16 --archs 64 --arch-batch 1 8 32 64 \
        --repeats 2 --table-archs 64 --table-workers 1 2 4 --table-arch-batch 32
      run bench 150 $PY benchmarks/proxies_cpu_vs_cuda.py --archs 32 --threads 16
      run bench 90 $PY benchmarks/proxies_phase_times.py --device cuda --archs 64 --threads 16 --profile 25
      ;;
    bench-ops)  # CPU (2 threads) and CUDA side by side
      run bench 90 $PY benchmarks/bench_gates_aggregate.py --threads 2
      run bench 120 $PY benchmarks/bench_pairwise_loss.py --devices cuda
      run bench 60 $PY benchmarks/bench_graph_hash.py --threads 2
      run bench 60 $PY benchmarks/bench_gather_dropout.py --device cuda
      ;;
    proxies)
      run proxies "$(left)" $PY -m nasfast proxies --space nb201 --dataset cifar10 --all \
        --proxies synflow,snip,grad_norm,jacob_cov,naswot --device cuda --arch-batch "${PROXY_ARCH_BATCH:-64}" --threads 16 \
        --workers "${PROXY_WORKERS:-1}" --out "${PROXY_CSV:-gpu_runs/nb201_cifar10_cuda.csv}"
      cp "${PROXY_CSV:-gpu_runs/nb201_cifar10_cuda.csv}" "$OUT/" 2>/dev/null
      ;;
    *) echo "unknown stage $stage"; exit 2 ;;
  esac
done
echo "total $(($(date +%s) - START)) s"
