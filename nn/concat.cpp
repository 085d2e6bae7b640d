#include "nn/concat.h"

#include <algorithm>

#include "autograd/functions.h"

namespace dip {

Concat::Concat(int dim, std::vector<ModulePtr> branches) : dim_(dim) {
  DIP_CHECK(!branches.empty(), "Concat: needs at least one branch");
  for (size_t i = 0; i < branches.size(); ++i) {
    DIP_CHECK(branches[i] != nullptr, "Concat: branch ", i, " is null");
    register_module(std::to_string(i), std::move(branches[i]));
  }
}

Variable Concat::forward(const Variable& x) {
  std::vector<Variable> outs;  // each (N, C_i, H_i, W_i)
  outs.reserve(children().size());
  for (const auto& [name, branch] : children()) outs.push_back(branch->forward(x));

  if (outs[0].shape().rank() == 4) {
    int64_t h = outs[0].size(2), w = outs[0].size(3);
    bool same = true;
    for (const Variable& o : outs) {
      same = same && o.size(2) == h && o.size(3) == w;
      h = std::min(h, o.size(2));
      w = std::min(w, o.size(3));
    }
    if (!same)
      for (Variable& o : outs)
        if (o.size(2) != h || o.size(3) != w) o = crop_center(o, h, w);
  }
  return outs.size() == 1 ? outs[0] : concat(outs, dim_);
}

std::string Concat::name() const {
  return "Concat(dim=" + std::to_string(dim_) + ", " + std::to_string(children().size()) + " branches)";
}

}  // namespace dip
