#include "nn/linear.h"

#include "autograd/functions.h"
#include "nn/init.h"

namespace dip {

Linear::Linear(int in_features, int out_features, bool bias, Rng& rng)
    : in_(in_features), out_(out_features) {
  DIP_CHECK(in_features > 0 && out_features > 0, "Linear: feature counts must be positive (got ",
            in_features, ", ", out_features, ")");
  weight_ = register_parameter("weight", init::default_weight({out_features, in_features}, rng));
  if (bias) bias_ = register_parameter("bias", init::default_bias(out_features, in_features, rng));
}

Variable Linear::forward(const Variable& x) {
  const Shape& s = x.shape();
  DIP_CHECK(s.rank() >= 1 && s[-1] == in_, name(), ": expects (..., ", in_, "), got ", s.str());
  // Every leading dimension folds into the rows of one GEMM: (rows, in) x (out, in)^T.
  Shape rows_shape{s.numel() / in_, in_};
  Variable x2 = s.rank() == 2 ? x : reshape(x, rows_shape);
  Variable y = matmul(x2, weight_, false, true);  // (rows, out)
  if (bias_.defined()) y = add(y, bias_);         // (out) broadcasts over rows
  if (s.rank() == 2) return y;
  Shape out_shape = s;
  out_shape[-1] = out_;
  return reshape(y, out_shape);
}

std::string Linear::name() const {
  return "Linear(" + std::to_string(in_) + ", " + std::to_string(out_) + ")";
}

}  // namespace dip
