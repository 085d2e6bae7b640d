// Shape: up to 4 dimensions, row-major (the last dimension is contiguous).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>

#include "tensor/check.h"

namespace dip {

class Shape {
 public:
  static constexpr int kMaxDims = 4;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) {
    DIP_CHECK(dims.size() <= kMaxDims, "Shape: at most ", kMaxDims, " dimensions, got ", dims.size());
    for (int64_t d : dims) push_back(d);
  }

  int rank() const { return rank_; }
  // Negative indices count from the end, as in Python: s[-1] is the last dimension.
  int64_t operator[](int i) const { return dims_[normalize(i)]; }
  int64_t& operator[](int i) { return dims_[normalize(i)]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  void push_back(int64_t d) {
    DIP_CHECK(rank_ < kMaxDims, "Shape: at most ", kMaxDims, " dimensions");
    DIP_CHECK(d >= 0, "Shape: negative dimension ", d);
    dims_[rank_++] = d;
  }
  int normalize(int i) const {
    int j = i < 0 ? i + rank_ : i;
    DIP_CHECK(j >= 0 && j < rank_, "Shape: dimension ", i, " out of range for rank ", rank_);
    return j;
  }
  bool operator==(const Shape& o) const {
    if (rank_ != o.rank_) return false;
    for (int i = 0; i < rank_; ++i)
      if (dims_[i] != o.dims_[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string str() const {
    std::string s = "(";
    for (int i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
    return s + ")";
  }

 private:
  int64_t dims_[kMaxDims] = {0, 0, 0, 0};
  int rank_ = 0;
};

}  // namespace dip
