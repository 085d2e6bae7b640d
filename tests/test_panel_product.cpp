// tensor/cpu/panel_product.h (the Winograd convolution's micro-kernel) against a naive double sum:
// rows that do not fill the last panel, every column-panel split (1 to 7 vectors, incl. 3 + 1 sent
// as 2 + 2), odd depths, a padded row stride, and nothing written outside the result.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "tensor/cpu/panel_product.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::cpu::kPanelRows;

TEST_CASE("panel_product: against a naive product") {
  uint64_t seed = 300;
  for (int64_t outs : {1, 3, 4, 7, 13}) {
    for (int64_t depth : {1, 5, 132}) {
      for (int64_t vectors : {1, 2, 3, 4, 5, 7}) {
        INFO("outs ", outs, " depth ", depth, " vectors ", vectors);
        const int64_t cols = 8 * vectors, ldv = cols + 8, ldm = cols + 16;
        const int64_t panels = (outs + kPanelRows - 1) / kPanelRows;
        std::vector<float> u = test::random_tensor({outs, depth}, seed++).to_vector();
        std::vector<float> v = test::random_tensor({depth, ldv}, seed++).to_vector();
        // u packed: panel p, depth k, row r; rows past outs zero.
        std::vector<float> packed(size_t(panels * depth * kPanelRows), 0.f);
        for (int64_t o = 0; o < outs; ++o)
          for (int64_t k = 0; k < depth; ++k)
            packed[size_t(((o / kPanelRows) * depth + k) * kPanelRows + o % kPanelRows)] = u[size_t(o * depth + k)];
        const float sentinel = 12345.f;
        std::vector<float> m(size_t(outs * ldm + 8), sentinel);
        cpu::panel_product(packed.data(), outs, depth, v.data(), ldv, cols, m.data(), ldm);
        double worst = 0;
        bool untouched = true;
        for (int64_t o = 0; o < outs; ++o)
          for (int64_t t = 0; t < ldm; ++t) {
            const float got = m[size_t(o * ldm + t)];
            if (t >= cols) {
              untouched = untouched && got == sentinel;
              continue;
            }
            double ref = 0;
            for (int64_t k = 0; k < depth; ++k) ref += double(u[size_t(o * depth + k)]) * v[size_t(k * ldv + t)];
            worst = std::max(worst, std::fabs(got - ref) / (1.0 + std::fabs(ref)));
          }
        for (size_t i = size_t(outs * ldm); i < m.size(); ++i) untouched = untouched && m[i] == sentinel;
        CHECK(worst < 1e-5);
        CHECK(untouched);
      }
    }
  }
}
