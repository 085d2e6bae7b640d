// The op profiler (autograd/profiler.h): one row per recorded op in forward order, with shapes,
// times and the FLOPs of convolutions and matrix products; nothing is recorded without a profiler.
#include <doctest/doctest.h>

#include "autograd/functions.h"
#include "autograd/profiler.h"

using namespace dip;

TEST_CASE("profiler: rows in forward order with shapes, backward times and conv/matmul FLOPs") {
  Rng rng(3);
  Variable x(Tensor::uniform({1, 4, 16, 16}, -1.f, 1.f, rng), true);  // (N, C, H, W)
  Variable w(Tensor::uniform({8, 4, 3, 3}, -1.f, 1.f, rng), true);    // (C_out, C_in, KH, KW)
  Variable a(Tensor::uniform({5, 6}, -1.f, 1.f, rng), true);
  Variable b(Tensor::uniform({6, 7}, -1.f, 1.f, rng), true);
  Conv2dOptions opt;
  opt.padding = 1;
  std::vector<OpRecord> rows;
  {
    OpProfiler prof;
    prof.mark();
    Variable y = sigmoid(conv2d(x, w, Variable(), opt));  // (1, 8, 16, 16)
    Variable m = matmul(a, b);                            // (5, 7)
    Variable loss = add(mean(y), mean(m));
    loss.backward();
    rows = prof.records();
  }
  REQUIRE(rows.size() == 6);
  const char* expected[] = {"conv2d", "sigmoid", "matmul", "mean", "mean", "add"};
  for (size_t i = 0; i < rows.size(); ++i) CHECK(rows[i].name == expected[i]);
  CHECK(rows[0].output == Shape({1, 8, 16, 16}));
  CHECK(rows[0].inputs.size() == 3);           // x, weight, the absent bias
  CHECK(rows[0].inputs[2].rank() == 0);
  CHECK(rows[0].forward_flops == doctest::Approx(2.0 * 8 * 16 * 16 * 4 * 3 * 3));
  CHECK(rows[2].forward_flops == doctest::Approx(2.0 * 5 * 7 * 6));
  CHECK(rows[1].forward_flops == 0.0);
  for (const OpRecord& r : rows) {
    CHECK(r.forward_ms >= 0.0);
    CHECK(r.backward_ms >= 0.0);
  }
  const std::string table = format_profile(rows, 1.0);
  CHECK(table.find("conv2d") != std::string::npos);
  CHECK(table.find("op kind") != std::string::npos);
  // Without a profiler the graph carries no rows.
  CHECK(OpProfiler::active() == nullptr);
  Variable z = sigmoid(x);
  CHECK(z.impl()->grad_fn->profile_row == -1);
}
