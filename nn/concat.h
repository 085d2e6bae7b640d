// Concat: runs every branch on the same input and joins the outputs along `dim`.
//
// As DIP's Concat (models/common.py): when the branches' outputs differ in H or W (an odd size
// halved by a stride-2 conv and doubled again comes back one pixel short), each output is first
// cropped to its centre window of the smallest H and W, start = (size - smallest) / 2.
#pragma once
#include <memory>
#include <vector>

#include "nn/module.h"

namespace dip {

class Concat : public Module {
 public:
  Concat(int dim, std::vector<ModulePtr> branches);
  template <typename... Ms>
  Concat(int dim, std::shared_ptr<Ms>... branches)
      : Concat(dim, std::vector<ModulePtr>{std::move(branches)...}) {}

  Variable forward(const Variable& x) override;
  std::string name() const override;

 private:
  int dim_;
};

}  // namespace dip
