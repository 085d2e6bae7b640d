// Layout ops: concat, narrow, crop_center, reshape, permute and transpose, checked against naive
// index arithmetic, plus error cases and gradient checks.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

#include "autograd/functions.h"
#include "tensor/layout.h"
#include "tests/gradcheck.h"

using namespace dip;
using dip::test::check_gradients;
using dip::test::random_tensor;

namespace {

// Row-major flat index of coordinates `c` in shape `s`.
int64_t flat(const Shape& s, const std::array<int64_t, 4>& c) {
  int64_t i = 0;
  for (int k = 0; k < s.rank(); ++k) i = i * s[k] + c[k];
  return i;
}

// Calls f(coords) for every coordinate of `s`, in row-major order.
template <typename F>
void for_each_index(const Shape& s, F f) {
  std::array<int64_t, 4> d{1, 1, 1, 1};
  for (int k = 0; k < s.rank(); ++k) d[k] = s[k];
  for (int64_t a = 0; a < d[0]; ++a)
    for (int64_t b = 0; b < d[1]; ++b)
      for (int64_t c = 0; c < d[2]; ++c)
        for (int64_t e = 0; e < d[3]; ++e) f(std::array<int64_t, 4>{a, b, c, e});
}

// Naive concat: the output element at c comes from the input whose range along dim holds c[dim].
std::vector<float> reference_concat(const std::vector<Tensor>& xs, int dim, const Shape& out) {
  std::vector<std::vector<float>> vs;
  for (const Tensor& x : xs) vs.push_back(x.to_vector());
  std::vector<float> r(out.numel());
  for_each_index(out, [&](std::array<int64_t, 4> c) {
    int64_t at = c[dim];
    size_t i = 0;
    while (at >= xs[i].size(dim)) at -= xs[i++].size(dim);
    std::array<int64_t, 4> ci = c;
    ci[dim] = at;
    r[flat(out, c)] = vs[i][flat(xs[i].shape(), ci)];
  });
  return r;
}

// Naive permute: out[c] = x[c'] with c'[perm[k]] = c[k].
std::vector<float> reference_permute(const Tensor& x, const std::array<int, 4>& perm, const Shape& out) {
  std::vector<float> v = x.to_vector(), r(out.numel());
  for_each_index(out, [&](std::array<int64_t, 4> c) {
    std::array<int64_t, 4> cx{0, 0, 0, 0};
    for (int k = 0; k < x.rank(); ++k) cx[perm[k]] = c[k];
    r[flat(out, c)] = v[flat(x.shape(), cx)];
  });
  return r;
}

}  // namespace

TEST_CASE("layout: concat values along dims 0, 1, 3") {
  Tensor a = Tensor::from_vector({1, 2, 1, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector({1, 1, 1, 2}, {5, 6});
  CHECK(concat({a, b}, 1).to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor c = Tensor::from_vector({1, 2, 1, 1}, {7, 8});
  CHECK(concat({a, c}, 3).to_vector() == std::vector<float>{1, 2, 7, 3, 4, 8});
  CHECK(concat({a, c}, -1).shape() == Shape{1, 2, 1, 3});

  // Odd sizes, three inputs; the large ones exercise the threaded, split-run copy.
  const std::vector<std::pair<int, std::vector<Shape>>> cases = {
      {0, {{2, 3, 5, 7}, {1, 3, 5, 7}, {3, 3, 5, 7}}},
      {1, {{2, 3, 5, 7}, {2, 1, 5, 7}, {2, 4, 5, 7}}},
      {3, {{2, 3, 5, 7}, {2, 3, 5, 1}, {2, 3, 5, 4}}},
      {1, {{1, 32, 33, 31}, {1, 16, 33, 31}}},
      {3, {{2, 64, 17, 5}, {2, 64, 17, 9}}},
      {0, {{3}, {4}}},
  };
  uint64_t seed = 1;
  for (const auto& [dim, shapes] : cases) {
    std::vector<Tensor> xs;
    for (const Shape& s : shapes) xs.push_back(random_tensor(s, seed++));
    Tensor y = concat(xs, dim);
    Shape out = shapes[0];
    out[dim] = 0;
    for (const Shape& s : shapes) out[dim] += s[dim];
    INFO("concat along ", dim, " -> ", out.str());
    REQUIRE(y.shape() == out);
    CHECK(y.to_vector() == reference_concat(xs, dim, out));
  }
}

TEST_CASE("layout: narrow, narrow_backward and crop_center values") {
  Tensor x = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(narrow(x, 1, 1, 2).to_vector() == std::vector<float>{2, 3, 5, 6});
  CHECK(narrow(x, 0, 1, 1).to_vector() == std::vector<float>{4, 5, 6});
  CHECK(narrow(x, -1, 0, 1).to_vector() == std::vector<float>{1, 4});
  CHECK(narrow(x, 1, 3, 0).numel() == 0);
  Tensor g = Tensor::from_vector({2, 1}, {7, 8});
  CHECK(narrow_backward(g, {2, 3}, 1, 1).to_vector() == std::vector<float>{0, 7, 0, 0, 8, 0});

  // A big slice (threaded) against the naive index map.
  Tensor big = random_tensor({2, 40, 30, 20}, 3);
  Tensor s = narrow(big, 1, 7, 25);
  std::vector<float> vb = big.to_vector(), vs = s.to_vector();
  bool same = true;
  for_each_index(s.shape(), [&](std::array<int64_t, 4> c) {
    std::array<int64_t, 4> cb = c;
    cb[1] += 7;
    same = same && vs[flat(s.shape(), c)] == vb[flat(big.shape(), cb)];
  });
  CHECK(same);
  std::vector<float> back = narrow_backward(s, big.shape(), 1, 7).to_vector();
  for_each_index(big.shape(), [&](std::array<int64_t, 4> c) {
    bool inside = c[1] >= 7 && c[1] < 32;
    same = same && back[flat(big.shape(), c)] == (inside ? vb[flat(big.shape(), c)] : 0.f);
  });
  CHECK(same);

  // crop_center takes rows/cols from (H - h) / 2: a 5 x 6 plane of 0..29 cropped to 3 x 3 starts at
  // (1, 1); to 2 x 4 at (1, 1) as well.
  std::vector<float> plane(30);
  std::iota(plane.begin(), plane.end(), 0.f);
  Variable v(Tensor::from_vector({1, 1, 5, 6}, plane));
  CHECK(crop_center(v, 3, 3).data().to_vector() == std::vector<float>{7, 8, 9, 13, 14, 15, 19, 20, 21});
  CHECK(crop_center(v, 2, 4).data().to_vector() == std::vector<float>{7, 8, 9, 10, 13, 14, 15, 16});
  CHECK(crop_center(v, 5, 6).data().to_vector() == plane);
}

TEST_CASE("layout: permute and transpose against index math") {
  // Every permutation of a 4-D tensor; the larger shapes run the threaded and tiled paths with
  // partial tiles; dimensions of size 1 give several dimensions the same stride (the kernels pick
  // their path from the strides).
  for (Shape s : {Shape{2, 3, 4, 5}, Shape{3, 37, 2, 45}, Shape{40, 33, 30, 1}, Shape{1, 70, 1, 600},
                  Shape{2, 1, 1, 3}}) {
    Tensor x = random_tensor(s, 9);
    std::array<int, 4> perm{0, 1, 2, 3};
    do {
      Tensor y = permute(x, perm);
      Shape out{s[perm[0]], s[perm[1]], s[perm[2]], s[perm[3]]};
      INFO("perm ", perm[0], perm[1], perm[2], perm[3], " of ", s.str());
      REQUIRE(y.shape() == out);
      CHECK(y.to_vector() == reference_permute(x, perm, out));
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
  // Ranks 2 and 3 (the unused entries of perm are ignored).
  Tensor m = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(permute(m, {1, 0, 7, 7}).to_vector() == std::vector<float>{1, 4, 2, 5, 3, 6});
  Tensor t3 = random_tensor({3, 50, 70}, 4);
  for (std::array<int, 4> p : {std::array<int, 4>{2, 0, 1, 3}, {1, 2, 0, 3}, {0, 2, 1, 3}}) {
    Shape out{t3.size(p[0]), t3.size(p[1]), t3.size(p[2])};
    CHECK(permute(t3, p).to_vector() == reference_permute(t3, p, out));
  }
  CHECK(transpose(m, 0, 1).to_vector() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(transpose(t3, -1, -2).to_vector() == reference_permute(t3, {0, 2, 1, 3}, {3, 70, 50}));
  CHECK(transpose(t3, 1, 1).to_vector() == t3.to_vector());
}

TEST_CASE("layout: bad arguments throw") {
  Tensor a = Tensor::zeros({2, 3, 4, 5});
  CHECK_THROWS_AS(concat({a, Tensor::zeros({2, 3, 4, 6})}, 1), Error);   // dim 3 differs
  CHECK_THROWS_AS(concat({a, Tensor::zeros({2, 3, 4})}, 0), Error);      // rank differs
  CHECK_THROWS_AS(concat({a, a}, 4), Error);                             // no dim 4
  CHECK_THROWS_AS(concat(std::vector<Tensor>{}, 0), Error);
  CHECK_THROWS_AS(narrow(a, 1, 2, 2), Error);   // [2, 4) not inside 3
  CHECK_THROWS_AS(narrow(a, 1, -1, 1), Error);
  CHECK_THROWS_AS(narrow(a, 5, 0, 1), Error);
  CHECK_THROWS_AS(narrow_backward(Tensor::zeros({2, 2, 4, 5}), a.shape(), 1, 2), Error);
  CHECK_THROWS_AS(narrow_backward(Tensor::zeros({2, 2, 4, 4}), a.shape(), 1, 0), Error);
  CHECK_THROWS_AS(permute(a, {0, 1, 1, 3}), Error);  // repeated
  CHECK_THROWS_AS(permute(a, {0, 1, 2, 4}), Error);  // out of range
  CHECK_THROWS_AS(permute(Tensor::zeros({2, 3}), {0, 2, 1, 3}), Error);
  CHECK_THROWS_AS(transpose(a, 0, 4), Error);
  Variable v(a);
  CHECK_THROWS_AS(crop_center(v, 5, 5), Error);
  CHECK_THROWS_AS(crop_center(Variable(Tensor::zeros({3, 4, 5})), 2, 2), Error);
  CHECK_THROWS_AS(reshape(v, Shape{7, 7}), Error);
}

TEST_CASE("layout: gradient checks") {
  // Pure data movement: central differences are exact up to rounding (default tolerances).
  for (auto [dim, sa, sb] : {std::tuple<int, Shape, Shape>{0, {1, 3, 5, 7}, {2, 3, 5, 7}},
                             {1, {2, 3, 5, 7}, {2, 2, 5, 7}},
                             {3, {2, 3, 5, 3}, {2, 3, 5, 4}}}) {
    Tensor a = random_tensor(sa, 11), b = random_tensor(sb, 12);
    check_gradients("concat dim " + std::to_string(dim), [dim = dim](auto& v) { return concat(v, dim); },
                    {a, b});
    // One input constant: only the other gets a gradient.
    check_gradients("concat (constant second)", [dim = dim](auto& v) { return concat(v, dim); }, {a, b},
                    {}, {1});
  }
  Tensor x = random_tensor({2, 3, 7, 9}, 13);
  check_gradients("narrow dim 1", [](auto& v) { return narrow(v[0], 1, 1, 2); }, {x});
  check_gradients("narrow dim 3", [](auto& v) { return narrow(v[0], -1, 3, 5); }, {x});
  check_gradients("crop_center 4x4", [](auto& v) { return crop_center(v[0], 4, 4); }, {x});
  check_gradients("crop_center 7x6", [](auto& v) { return crop_center(v[0], 7, 6); }, {x});
  check_gradients("reshape", [](auto& v) { return reshape(v[0], Shape{6, 63}); }, {x});
  check_gradients("permute 0231", [](auto& v) { return permute(v[0], {0, 2, 3, 1}); }, {x});
  check_gradients("permute 3102", [](auto& v) { return permute(v[0], {3, 1, 0, 2}); }, {x});
  check_gradients("transpose 1,3", [](auto& v) { return transpose(v[0], 1, 3); }, {x});
  Tensor m = random_tensor({5, 3, 4}, 14);
  check_gradients("permute rank 3", [](auto& v) { return permute(v[0], {2, 0, 1, 3}); }, {m});
  check_gradients("transpose rank 3", [](auto& v) { return transpose(v[0], 0, -1); }, {m});
}
