// pairwise_ranking_loss CPU kernels. Every sum is taken in double over fixed blocks (of pairs, or
// one block per row i in the all-pairs mode) and the block sums are added in block order, so the
// result does not depend on the number of threads.
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros_like.h>
#include <torch/library.h>

#include <tuple>
#include <vector>

#include "../pairwise_ranking_loss.h"

namespace nasfast {
namespace pairwise_ranking_loss {
namespace {

constexpr int64_t kPairBlock = 4096;

// ---- given pairs --------------------------------------------------------------------------------

at::Tensor pairwise_ranking_loss_cpu(const at::Tensor& scores_in, const at::Tensor& pairs_in,
                                     const at::Tensor& labels_in, c10::string_view kind_name,
                                     double margin) {
  check_pairs(scores_in, pairs_in, labels_in);
  TORCH_CHECK(scores_in.device().is_cpu(), "expected CPU tensors, got ", scores_in.device());
  const Kind kind = parse_kind(kind_name);
  const at::Tensor scores = scores_in.contiguous(), pairs = pairs_in.contiguous();
  const at::Tensor labels = labels_in.contiguous();
  const int64_t n = scores.size(0), P = pairs.size(0);
  const int64_t blocks = (P + kPairBlock - 1) / kPairBlock;
  std::vector<double> block_sum(static_cast<size_t>(blocks));
  at::Tensor loss = at::empty({}, scores.options());
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "pairwise_ranking_loss_cpu", [&] {
    const scalar_t* s = scores.const_data_ptr<scalar_t>();
    const int64_t* pr = pairs.const_data_ptr<int64_t>();
    const scalar_t* y = labels.const_data_ptr<scalar_t>();
    at::parallel_for(0, blocks, 1, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        double sum = 0;
        for (int64_t p = k * kPairBlock, end = std::min(P, p + kPairBlock); p < end; ++p) {
          const int64_t a = pr[2 * p], b = pr[2 * p + 1];
          if (a < 0 || a >= n || b < 0 || b >= n) report_bad_pair(p, a, b, n);
          const double x = double(y[p]) * (double(s[b]) - double(s[a]));
          sum += pair_loss<double>(x, kind, margin);
        }
        block_sum[k] = sum;
      }
    });
    double total = 0;
    for (double v : block_sum) total += v;
    *loss.mutable_data_ptr<scalar_t>() = static_cast<scalar_t>(P > 0 ? total / double(P) : 0.0);
  });
  return loss;
}

// Per-pair coefficients in parallel, then one ordered scatter into the scores (2 P adds): cheap,
// and deterministic without per-thread n-sized buffers.
at::Tensor pairwise_ranking_loss_backward_cpu(const at::Tensor& grad, const at::Tensor& scores_in,
                                              const at::Tensor& pairs_in, const at::Tensor& labels_in,
                                              c10::string_view kind_name, double margin) {
  check_pairs(scores_in, pairs_in, labels_in);
  check_scalar_grad(grad, scores_in);
  TORCH_CHECK(scores_in.device().is_cpu(), "expected CPU tensors, got ", scores_in.device());
  const Kind kind = parse_kind(kind_name);
  const at::Tensor scores = scores_in.contiguous(), pairs = pairs_in.contiguous();
  const at::Tensor labels = labels_in.contiguous();
  const int64_t n = scores.size(0), P = pairs.size(0);
  at::Tensor grad_scores = at::zeros_like(scores);
  if (P == 0) return grad_scores;
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "pairwise_ranking_loss_backward_cpu", [&] {
    const scalar_t* s = scores.const_data_ptr<scalar_t>();
    const int64_t* pr = pairs.const_data_ptr<int64_t>();
    const scalar_t* y = labels.const_data_ptr<scalar_t>();
    const double scale = double(grad.item<scalar_t>()) / double(P);
    std::vector<double> coef(static_cast<size_t>(P));
    at::parallel_for(0, P, kPairBlock, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t a = pr[2 * p], b = pr[2 * p + 1];
        if (a < 0 || a >= n || b < 0 || b >= n) report_bad_pair(p, a, b, n);
        const double x = double(y[p]) * (double(s[b]) - double(s[a]));
        coef[p] = scale * pair_loss_grad<double>(x, kind, margin) * double(y[p]);
      }
    });
    std::vector<double> acc(static_cast<size_t>(n), 0.0);
    for (int64_t p = 0; p < P; ++p) {
      acc[pr[2 * p + 1]] += coef[p];
      acc[pr[2 * p]] -= coef[p];
    }
    scalar_t* out = grad_scores.mutable_data_ptr<scalar_t>();
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<scalar_t>(acc[i]);
  });
  return grad_scores;
}

// ---- all pairs of a batch -----------------------------------------------------------------------
// Row i holds the pairs (i, j), j > i. Rows get shorter with i, so a task takes rows in the
// order 0, n-1, 1, n-2, ...: equal work per task whatever the split.

inline int64_t balanced_row(int64_t r, int64_t n) { return (r % 2 == 0) ? r / 2 : n - 1 - r / 2; }

template <typename T>
std::tuple<at::Tensor, at::Tensor> all_pairs_forward(const at::Tensor& scores, const at::Tensor& targets,
                                                     Kind kind, double margin, double thr) {
  const int64_t n = scores.size(0);
  const T* s = scores.const_data_ptr<T>();
  const T* t = targets.const_data_ptr<T>();
  std::vector<double> row_sum(static_cast<size_t>(n));
  std::vector<int64_t> row_count(static_cast<size_t>(n));
  at::parallel_for(0, n, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = balanced_row(r, n);
      const double si = s[i], ti = t[i];
      double sum = 0;
      int64_t count = 0;
      for (int64_t j = i + 1; j < n; ++j) {
        const double dt = double(t[j]) - ti;
        if (!(std::fabs(dt) > thr)) continue;  // ties and NaN targets form no pair
        const double x = (dt > 0 ? 1.0 : -1.0) * (double(s[j]) - si);
        sum += pair_loss<double>(x, kind, margin);
        ++count;
      }
      row_sum[i] = sum;
      row_count[i] = count;
    }
  });
  double total = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    total += row_sum[i];
    count += row_count[i];
  }
  at::Tensor loss = at::empty({}, scores.options());
  at::Tensor num_pairs = at::empty({}, scores.options().dtype(at::kLong));
  *loss.mutable_data_ptr<T>() = static_cast<T>(count > 0 ? total / double(count) : 0.0);
  *num_pairs.mutable_data_ptr<int64_t>() = count;
  return {loss, num_pairs};
}

std::tuple<at::Tensor, at::Tensor> all_pairs_ranking_loss_cpu(const at::Tensor& scores_in,
                                                              const at::Tensor& targets_in,
                                                              c10::string_view kind_name, double margin,
                                                              double tie_threshold) {
  check_all_pairs(scores_in, targets_in, tie_threshold);
  TORCH_CHECK(scores_in.device().is_cpu(), "expected CPU tensors, got ", scores_in.device());
  const Kind kind = parse_kind(kind_name);
  const at::Tensor scores = scores_in.contiguous(), targets = targets_in.contiguous();
  std::tuple<at::Tensor, at::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "all_pairs_ranking_loss_cpu", [&] {
    out = all_pairs_forward<scalar_t>(scores, targets, kind, margin, tie_threshold);
  });
  return out;
}

// d loss / d s_k = grad / num_pairs * sum_{m != k, valid} f'(x_km) * (-sign(t_m - t_k)), where
// x_km = sign(t_m - t_k) (s_m - s_k) is the same gap whichever of k, m comes first. Each k is
// one independent row: no scatter.
at::Tensor all_pairs_ranking_loss_backward_cpu(const at::Tensor& grad, const at::Tensor& scores_in,
                                               const at::Tensor& targets_in, const at::Tensor& num_pairs,
                                               c10::string_view kind_name, double margin,
                                               double tie_threshold) {
  check_all_pairs(scores_in, targets_in, tie_threshold);
  check_scalar_grad(grad, scores_in);
  TORCH_CHECK(num_pairs.numel() == 1 && num_pairs.scalar_type() == at::kLong,
              "num_pairs must be an int64 scalar, got ", num_pairs.scalar_type(), " of shape ",
              num_pairs.sizes());
  TORCH_CHECK(scores_in.device().is_cpu(), "expected CPU tensors, got ", scores_in.device());
  const Kind kind = parse_kind(kind_name);
  const at::Tensor scores = scores_in.contiguous(), targets = targets_in.contiguous();
  const int64_t n = scores.size(0);
  at::Tensor grad_scores = at::zeros_like(scores);
  const int64_t count = num_pairs.item<int64_t>();
  if (count == 0 || n == 0) return grad_scores;
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "all_pairs_ranking_loss_backward_cpu", [&] {
    const scalar_t* s = scores.const_data_ptr<scalar_t>();
    const scalar_t* t = targets.const_data_ptr<scalar_t>();
    scalar_t* out = grad_scores.mutable_data_ptr<scalar_t>();
    const double scale = double(grad.item<scalar_t>()) / double(count);
    at::parallel_for(0, n, 16, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        const double sk = s[k], tk = t[k];
        double sum = 0;
        for (int64_t m = 0; m < n; ++m) {
          const double dt = double(t[m]) - tk;
          if (m == k || !(std::fabs(dt) > tie_threshold)) continue;
          const double y = dt > 0 ? 1.0 : -1.0;
          sum -= y * pair_loss_grad<double>(y * (double(s[m]) - sk), kind, margin);
        }
        out[k] = static_cast<scalar_t>(scale * sum);
      }
    });
  });
  return grad_scores;
}

}  // namespace

TORCH_LIBRARY_IMPL(nasfast, CPU, m) {
  m.impl("pairwise_ranking_loss", &pairwise_ranking_loss_cpu);
  m.impl("pairwise_ranking_loss_backward", &pairwise_ranking_loss_backward_cpu);
  m.impl("all_pairs_ranking_loss", &all_pairs_ranking_loss_cpu);
  m.impl("all_pairs_ranking_loss_backward", &all_pairs_ranking_loss_backward_cpu);
}

}  // namespace pairwise_ranking_loss
}  // namespace nasfast
