#include "nn/transformer_block.h"

#include "autograd/functions.h"
#include "nn/activation.h"
#include "nn/linear.h"

namespace dip {

TransformerBlock::TransformerBlock(int dim, int heads, int mlp_ratio, Rng& rng, AttentionWindow window)
    : TransformerBlock(dim, mlp_ratio, std::make_shared<MultiHeadSelfAttention>(dim, heads, rng, window), rng) {}

TransformerBlock::TransformerBlock(int dim, int mlp_ratio, ModulePtr attention, Rng& rng)
    : dim_(dim), mlp_ratio_(mlp_ratio) {
  DIP_CHECK(mlp_ratio > 0, "TransformerBlock: mlp_ratio must be positive, got ", mlp_ratio);
  DIP_CHECK(attention != nullptr, "TransformerBlock: no attention module given");
  norm1_ = register_module("norm1", std::make_shared<LayerNorm>(dim));
  attn_ = register_module("attn", std::move(attention));
  norm2_ = register_module("norm2", std::make_shared<LayerNorm>(dim));
  mlp_ = register_module("mlp", std::make_shared<Sequential>());
  mlp_->add(std::make_shared<Linear>(dim, mlp_ratio * dim, true, rng));
  mlp_->add(std::make_shared<GELU>());
  mlp_->add(std::make_shared<Linear>(mlp_ratio * dim, dim, true, rng));
}

Variable TransformerBlock::forward(const Variable& x) {
  Variable y = add(x, attn_->forward(norm1_->forward(x)));  // (N, T, D)
  return add(y, mlp_->forward(norm2_->forward(y)));
}

std::string TransformerBlock::name() const {
  return "TransformerBlock(" + std::to_string(dim_) + ", mlp=" + std::to_string(mlp_ratio_) + "x, " +
         attn_->name() + ")";
}

}  // namespace dip
