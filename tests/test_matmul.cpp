// matmul: values against a plain triple loop for every transpose combination and batch layout,
// finite-difference gradient checks, and argument errors.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "tensor/matmul.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

namespace {

// Stored shape of an operand that is (rows, cols) after op(), with an optional batch.
Shape operand_shape(int64_t batch, int64_t rows, int64_t cols, bool trans) {
  int64_t r = trans ? cols : rows, c = trans ? rows : cols;
  return batch > 0 ? Shape{batch, r, c} : Shape{r, c};
}

// out[b][i][j] = sum_l op(a)[b][i][l] * op(b)[b][l][j], in double; a 2-D operand serves every b.
std::vector<double> matmul_reference(const Tensor& a, const Tensor& b, bool ta, bool tb, int64_t batch,
                                     int64_t m, int64_t n, int64_t k) {
  std::vector<float> av = a.to_vector(), bv = b.to_vector();
  const int64_t sa = a.rank() == 3 ? m * k : 0, sb = b.rank() == 3 ? k * n : 0;
  std::vector<double> out(static_cast<size_t>(std::max<int64_t>(batch, 1) * m * n));
  for (int64_t p = 0; p < std::max<int64_t>(batch, 1); ++p)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t l = 0; l < k; ++l) {
          double x = av[p * sa + (ta ? l * m + i : i * k + l)];
          double y = bv[p * sb + (tb ? j * k + l : l * n + j)];
          s += x * y;
        }
        out[(p * m + i) * n + j] = s;
      }
  return out;
}

struct Layout {
  int64_t batch_a, batch_b;  // 0: 2-D operand
};

}  // namespace

TEST_CASE("matmul: values for every transpose combination and batch layout") {
  // (batch_a, batch_b): 2-D x 2-D, batched x batched, batched x shared b, shared a x batched,
  // and a batch large enough for the one-thread-per-product path.
  const std::vector<Layout> layouts = {{0, 0}, {3, 3}, {4, 0}, {0, 2}, {16, 16}, {16, 0}};
  const std::vector<std::array<int64_t, 3>> sizes = {{3, 5, 7}, {1, 4, 2}, {17, 9, 33}, {64, 48, 40}};
  uint64_t seed = 1;
  for (Layout lay : layouts)
    for (auto [m, n, k] : sizes)
      for (bool ta : {false, true})
        for (bool tb : {false, true}) {
          INFO("batch_a ", lay.batch_a, " batch_b ", lay.batch_b, " m ", m, " n ", n, " k ", k, " ta ", ta,
               " tb ", tb);
          Tensor a = random_tensor(operand_shape(lay.batch_a, m, k, ta), seed++);
          Tensor b = random_tensor(operand_shape(lay.batch_b, k, n, tb), seed++);
          Tensor out = matmul(a, b, ta, tb);
          const int64_t batch = std::max(lay.batch_a, lay.batch_b);
          REQUIRE(out.shape() == (batch > 0 ? Shape{batch, m, n} : Shape{m, n}));
          std::vector<double> ref = matmul_reference(a, b, ta, tb, batch, m, n, k);
          std::vector<float> got = out.to_vector();
          double worst = 0;
          for (size_t i = 0; i < ref.size(); ++i)
            worst = std::max(worst, std::fabs(got[i] - ref[i]) / (1.0 + std::fabs(ref[i])));
          CHECK(worst <= 1e-5);
        }
}

TEST_CASE("matmul: a hand-computed example") {
  Tensor a = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_vector({3, 2}, {7, 8, 9, 10, 11, 12});
  CHECK(matmul(a, b).to_vector() == std::vector<float>{58, 64, 139, 154});
  CHECK(matmul(a, a, false, true).to_vector() == std::vector<float>{14, 32, 32, 77});
  CHECK(matmul(a, a, true, false).to_vector() ==
        std::vector<float>{17, 22, 27, 22, 29, 36, 27, 36, 45});
}

TEST_CASE("matmul: gradient checks") {
  // matmul is bilinear: central differences are exact up to float rounding (default tolerances).
  const std::vector<Layout> layouts = {{0, 0}, {3, 3}, {4, 0}, {0, 2}};
  uint64_t seed = 50;
  for (Layout lay : layouts)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        const int64_t m = 3, n = 5, k = 4;
        Tensor a = random_tensor(operand_shape(lay.batch_a, m, k, ta), seed++);
        Tensor b = random_tensor(operand_shape(lay.batch_b, k, n, tb), seed++);
        check_gradients("matmul batch_a " + std::to_string(lay.batch_a) + " batch_b " +
                            std::to_string(lay.batch_b) + " ta " + std::to_string(ta) + " tb " +
                            std::to_string(tb),
                        [ta, tb](const std::vector<Variable>& v) { return matmul(v[0], v[1], ta, tb); },
                        {a, b});
      }
}

TEST_CASE("matmul: argument errors") {
  CHECK_THROWS_AS(matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})), Error);            // 3 != 4
  CHECK_THROWS_AS(matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 5}), false, true), Error);  // 3 != 5
  CHECK_THROWS_AS(matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 4})), Error);      // batch 2 != 3
  CHECK_THROWS_AS(matmul(Tensor::zeros({3}), Tensor::zeros({3, 4})), Error);               // 1-D a
  CHECK_THROWS_AS(matmul(Tensor::zeros({1, 2, 3, 4}), Tensor::zeros({4, 4})), Error);      // 4-D a
  CHECK_NOTHROW(matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 5}), true, false));
}
