#include "tensor/elementwise.h"

#include <algorithm>

namespace dip {

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  int rank = std::max(a.rank(), b.rank());
  Shape out;
  for (int i = 0; i < rank; ++i) {
    // Align trailing dimensions: index from the end.
    int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    DIP_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", a.str(), " and ", b.str(),
              " do not broadcast");
    out.push_back(da == 1 ? db : da);
  }
  return out;
}

}  // namespace dip
