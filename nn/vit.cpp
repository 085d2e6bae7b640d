#include "nn/vit.h"

#include <algorithm>

#include "autograd/functions.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "nn/neighborhood_attention.h"
#include "nn/patch.h"
#include "nn/positional.h"
#include "nn/sequential.h"
#include "nn/transformer_block.h"

namespace dip {

namespace {

ModulePtr make_positional(PositionalKind kind, int grid_h, int grid_w, int dim, Rng& rng) {
  if (kind == PositionalKind::Sinusoidal)
    return std::make_shared<SinusoidalPositionalEmbedding>(grid_h, grid_w, dim);
  return std::make_shared<LearnedPositionalEmbedding>(grid_h * grid_w, dim, rng);
}

// The window side used on a (grid_h, grid_w) grid: 0 (global attention) when the grid fits in one
// window, else the largest side <= `window` that divides both grid sides (e.g. 6 on an 18x12 grid
// with window 8), so that images whose grids are not multiples of the window still work.
int window_for_grid(int window, int grid_h, int grid_w) {
  if (window <= 0 || (grid_h <= window && grid_w <= window)) return 0;
  for (int w = window; w > 1; --w)
    if (grid_h % w == 0 && grid_w % w == 0) return w;
  return 1;
}

// `depth` blocks of width `dim` on a (grid_h, grid_w) token grid; windowed (see window_for_grid),
// with shifted windows in every second block counted over the whole network (`first` is the index
// of this group's first block), so that one block per stage still alternates.
std::shared_ptr<Sequential> make_blocks(const VitConfig& cfg, int dim, int heads, int depth, int grid_h,
                                        int grid_w, int first, Rng& rng) {
  auto blocks = std::make_shared<Sequential>();
  const int w = window_for_grid(cfg.window, grid_h, grid_w);
  DIP_CHECK(w != 1, cfg.variant, ": no window side in 2..", cfg.window, " divides the ", grid_h, "x", grid_w,
            " token grid; use a window that divides it, or 0 for global attention");
  for (int i = 0; i < depth; ++i) {
    ModulePtr attention;
    if (cfg.neighborhood > 0) {
      attention = std::make_shared<NeighborhoodAttention>(dim, heads, cfg.neighborhood, grid_h, grid_w, rng);
    } else {
      AttentionWindow win;
      if (w > 0) win = {w, grid_h, grid_w, cfg.shift_windows && (first + i) % 2 == 1};
      attention = std::make_shared<MultiHeadSelfAttention>(dim, heads, rng, win);
    }
    blocks->add(std::make_shared<TransformerBlock>(dim, cfg.mlp_ratio, attention, rng));
  }
  return blocks;
}

// ", window=8" / ", neighborhood=7" / "" (global attention), for the networks' names.
std::string local_attention_text(const VitConfig& cfg) {
  if (cfg.neighborhood > 0) return ", neighborhood=" + std::to_string(cfg.neighborhood);
  if (cfg.window > 0) return ", window=" + std::to_string(cfg.window);
  return "";
}

void check_common(const VitConfig& cfg, int finest_patch) {
  DIP_CHECK(cfg.in_channels > 0 && cfg.out_channels > 0, cfg.variant, ": channel counts must be positive");
  DIP_CHECK(cfg.width > 0 && cfg.heads > 0 && cfg.width % cfg.heads == 0, cfg.variant, ": width ",
            cfg.width, " must be a positive multiple of heads ", cfg.heads);
  DIP_CHECK(cfg.depth >= 0 && cfg.mlp_ratio > 0, cfg.variant, ": depth >= 0 and mlp_ratio > 0 needed");
  DIP_CHECK(cfg.neighborhood == 0 || (cfg.neighborhood % 2 == 1 && cfg.window == 0), cfg.variant,
            ": the neighbourhood size must be odd, and windows off (window 0) with it; got ", cfg.neighborhood);
  DIP_CHECK(cfg.positional != PositionalKind::Sinusoidal || cfg.width % 4 == 0, cfg.variant,
            ": sinusoidal positions need a width divisible by 4, got ", cfg.width);
  DIP_CHECK(finest_patch > 0 && cfg.image_height % finest_patch == 0 && cfg.image_width % finest_patch == 0,
            cfg.variant, ": the image ", cfg.image_height, "x", cfg.image_width,
            " must be a multiple of ", finest_patch, " (patch size", cfg.variant == "vit" ? "" : " x 2^(stages-1)",
            "); crop the image or change --patch");
}

// Each channel of the noise shifted and scaled to zero mean and unit variance over its pixels:
// (N, C, H, W) -> same shape. Only the noise's statistics matter to it, not DIP's U(0, 0.1) scale.
Variable standardize_channels(const Variable& z) {
  const Shape& s = z.shape();
  Variable flat = reshape(z, {s[0], s[1], s[2] * s[3]});            // (N, C, HW)
  Variable centred = sub(flat, mean_dim(flat, 2, true));           // (N, C, HW)
  Variable var = mean_dim(mul(centred, centred), 2, true);         // (N, C, 1)
  return reshape(div(centred, sqrt(add_scalar(var, 1e-12f))), s);  // eps: a constant channel stays finite
}

// The naive ViT generator (see nn/vit.h).
class VisionTransformer : public Module {
 public:
  VisionTransformer(const VitConfig& cfg, Rng& rng)
      : cfg_(cfg), grid_h_(cfg.image_height / cfg.patch), grid_w_(cfg.image_width / cfg.patch) {
    check_common(cfg, cfg.patch);
    const int p2 = cfg.patch * cfg.patch;
    embed_ = register_module("embed", std::make_shared<PatchEmbed>(cfg.in_channels, cfg.width, cfg.patch, rng));
    pos_ = register_module("pos", make_positional(cfg.positional, grid_h_, grid_w_, cfg.width, rng));
    blocks_ = register_module("blocks", make_blocks(cfg, cfg.width, cfg.heads, cfg.depth, grid_h_, grid_w_, 0, rng));
    norm_ = register_module("norm", std::make_shared<LayerNorm>(cfg.width));
    head_ = register_module("head", std::make_shared<Linear>(cfg.width, cfg.out_channels * p2, true, rng));
  }

  Variable forward(const Variable& z) override {
    DIP_CHECK(z.shape().rank() == 4 && z.size(1) == cfg_.in_channels && z.size(2) == cfg_.image_height &&
                  z.size(3) == cfg_.image_width,
              name(), ": expects noise (N, ", cfg_.in_channels, ", ", cfg_.image_height, ", ",
              cfg_.image_width, "), got ", z.shape().str());
    Variable t = pos_->forward(embed_->forward(cfg_.normalize_noise ? standardize_channels(z) : z));  // (N, T, D)
    t = norm_->forward(blocks_->forward(t));
    t = head_->forward(t);                           // (N, T, C_out*p*p)
    return sigmoid(unpatchify(t, cfg_.patch, grid_h_, grid_w_));  // (N, C_out, H, W)
  }

  std::string name() const override {
    return "ViT(p=" + std::to_string(cfg_.patch) + ", D=" + std::to_string(cfg_.width) + ", depth=" +
           std::to_string(cfg_.depth) + ", heads=" + std::to_string(cfg_.heads) + ", " +
           positional_name(cfg_.positional) +
           local_attention_text(cfg_) + (cfg_.normalize_noise ? ", normalised noise" : "") + ")";
  }

 private:
  VitConfig cfg_;
  int grid_h_, grid_w_;
  std::shared_ptr<PatchEmbed> embed_;
  ModulePtr pos_;
  std::shared_ptr<Sequential> blocks_;
  std::shared_ptr<LayerNorm> norm_;
  std::shared_ptr<Linear> head_;
};

// The noise image sampled at every `factor`-th pixel (nearest downsampling keeps the noise as
// random as at full size; averaging would flatten it): (N, C, H, W) -> (N, C, H/f, W/f).
Variable subsample(const Variable& z, int factor) {
  if (factor == 1) return z;
  const Shape& s = z.shape();
  const int64_t gh = s[2] / factor, gw = s[3] / factor;
  Variable t = reshape(z, {s[0] * s[1] * gh, factor, gw, factor});  // [(n, c, gh), i, gw, j]
  t = narrow(narrow(t, 1, 0, 1), 3, 0, 1);                            // i = j = 0
  return reshape(t, {s[0], s[1], gh, gw});
}

// The multi-scale generator (see nn/vit.h).
class MultiScaleVit : public Module {
 public:
  MultiScaleVit(const VitConfig& cfg, Rng& rng) : cfg_(cfg) {
    DIP_CHECK(cfg.stages >= 1 && cfg.stages <= 10, cfg.variant, ": stages must be in 1..10, got ", cfg.stages);
    const int coarsest = cfg.patch << (cfg.stages - 1);
    check_common(cfg, coarsest);
    auto per_stage = [&](const std::vector<int>& v, int fallback, const char* what) {
      DIP_CHECK(v.empty() || int(v.size()) == cfg.stages, cfg.variant, ": ", what, " lists ", v.size(),
                " values for ", cfg.stages, " stages");
      std::vector<int> out(cfg.stages, fallback);
      for (size_t k = 0; k < v.size(); ++k) out[k] = v[k];
      return out;
    };
    const std::vector<int> widths = per_stage(cfg.stage_widths, cfg.width, "stage_widths");
    const std::vector<int> depths = per_stage(cfg.stage_depths, cfg.depth, "stage_depths");
    const int head_dim = cfg.width / cfg.heads;  // kept at every stage
    int blocks_before = 0;
    for (int k = 0; k < cfg.stages; ++k) {
      const int factor = coarsest >> k;  // image pixels per token side at stage k
      const int dim = widths[k];
      DIP_CHECK(dim > 0 && dim % head_dim == 0 && (cfg.positional != PositionalKind::Sinusoidal || dim % 4 == 0),
                cfg.variant, ": stage ", k, " width ", dim, " must be a multiple of the head size ", head_dim,
                " (width / heads)", cfg.positional == PositionalKind::Sinusoidal ? " and of 4" : "");
      DIP_CHECK(depths[k] >= 0, cfg.variant, ": stage ", k, " depth must be >= 0");
      Stage st;
      st.factor = factor;
      st.dim = dim;
      st.grid_h = cfg.image_height / factor;
      st.grid_w = cfg.image_width / factor;
      const std::string id = std::to_string(k);
      if (k > 0 && widths[k - 1] != dim)
        st.resize = register_module("proj" + id, std::make_shared<Linear>(widths[k - 1], dim, true, rng));
      if (k == 0 || cfg.noise_every_stage)
        st.noise = register_module("noise" + id, std::make_shared<Linear>(cfg.in_channels, dim, true, rng));
      if (k == 0 || cfg.pos_every_stage)
        st.pos = register_module("pos" + id, make_positional(cfg.positional, st.grid_h, st.grid_w, dim, rng));
      st.blocks = register_module(
          "stage" + id, make_blocks(cfg, dim, dim / head_dim, depths[k], st.grid_h, st.grid_w, blocks_before, rng));
      blocks_before += depths[k];
      stages_.push_back(st);
    }
    norm_ = register_module("norm", std::make_shared<LayerNorm>(widths.back()));
    head_ = register_module(
        "head", std::make_shared<Linear>(widths.back(), cfg.out_channels * cfg.patch * cfg.patch, true, rng));
  }

  Variable forward(const Variable& z) override {
    DIP_CHECK(z.shape().rank() == 4 && z.size(1) == cfg_.in_channels && z.size(2) == cfg_.image_height &&
                  z.size(3) == cfg_.image_width,
              name(), ": expects noise (N, ", cfg_.in_channels, ", ", cfg_.image_height, ", ",
              cfg_.image_width, "), got ", z.shape().str());
    Variable t;  // (N, T_k, D_k)
    for (size_t k = 0; k < stages_.size(); ++k) {
      const Stage& st = stages_[k];
      if (k > 0) {
        // A per-token Linear commutes with bilinear upsampling (its weights sum to 1), so a width
        // change is applied on the coarser grid, where it is 4x cheaper.
        if (st.resize) t = st.resize->forward(t);
        const Stage& prev = stages_[k - 1];
        Variable img = unpatchify(t, 1, prev.grid_h, prev.grid_w);    // (N, D, gh, gw)
        t = patchify(upsample2d(img, 2, UpsampleMode::Bilinear), 1);  // (N, 4*T, D)
      }
      if (st.noise) {
        Variable zk = subsample(z, st.factor);  // (N, C, gh, gw)
        if (cfg_.normalize_noise) zk = standardize_channels(zk);
        Variable e = st.noise->forward(patchify(zk, 1));  // (N, T_k, D_k)
        t = t.defined() ? add(t, e) : e;
      }
      if (st.pos) t = st.pos->forward(t);
      t = st.blocks->forward(t);
    }
    t = head_->forward(norm_->forward(t));  // (N, T, C_out*p*p)
    const Stage& last = stages_.back();
    return sigmoid(unpatchify(t, cfg_.patch, last.grid_h, last.grid_w));  // (N, C_out, H, W)
  }

  std::string name() const override {
    std::string widths, depths;
    for (const Stage& st : stages_) {
      widths += (widths.empty() ? "" : ",") + std::to_string(st.dim);
      depths += (depths.empty() ? "" : ",") + std::to_string(st.blocks->size());
    }
    return "MultiScaleViT(stages=" + std::to_string(cfg_.stages) + ", p=" + std::to_string(cfg_.patch) +
           ", widths=" + widths + ", depths=" + depths + ", head size=" + std::to_string(cfg_.width / cfg_.heads) +
           ", " + positional_name(cfg_.positional) +
           local_attention_text(cfg_) + (cfg_.noise_every_stage ? ", noise every stage" : "") +
           (cfg_.pos_every_stage ? ", positions every stage" : "") +
           (cfg_.normalize_noise ? ", normalised noise" : "") + ")";
  }

 private:
  struct Stage {
    int factor = 0, dim = 0, grid_h = 0, grid_w = 0;
    std::shared_ptr<Linear> resize;  // previous width -> dim, or null (same width)
    std::shared_ptr<Linear> noise;   // in_channels -> dim, or null (no noise at this stage)
    ModulePtr pos;                   // or null (no positions at this stage)
    std::shared_ptr<Sequential> blocks;
  };
  VitConfig cfg_;
  std::vector<Stage> stages_;
  std::shared_ptr<LayerNorm> norm_;
  std::shared_ptr<Linear> head_;
};

Error unknown_variant(const std::string& name) {
  std::string known;
  for (const std::string& v : vit_variants()) known += (known.empty() ? "" : ", ") + v;
  return Error("unknown ViT variant '" + name + "'; known: " + known);
}

}  // namespace

std::vector<std::string> vit_variants() { return {"vit", "vit-ms", "vit-na"}; }

PositionalKind parse_positional(const std::string& name) {
  if (name == "learned") return PositionalKind::Learned;
  if (name == "sinusoidal") return PositionalKind::Sinusoidal;
  throw Error("unknown positional embedding '" + name + "'; use learned or sinusoidal");
}

const char* positional_name(PositionalKind kind) {
  return kind == PositionalKind::Sinusoidal ? "sinusoidal" : "learned";
}

VitConfig vit_defaults(const std::string& variant) {
  VitConfig cfg;
  cfg.variant = variant;
  if (variant == "vit-ms" || variant == "vit-na") {
    cfg.patch = 1;
    cfg.stages = 5;
    cfg.width = 128;
    cfg.heads = 4;  // head size 32 at every stage
    cfg.stage_widths = {128, 128, 64, 32, 32};
    cfg.depth = 1;
    cfg.window = 8;
    cfg.positional = PositionalKind::Learned;
    cfg.normalize_noise = true;
    if (variant == "vit-na") {
      cfg.window = 0;
      cfg.neighborhood = 7;
      cfg.stage_widths = {128, 128, 128, 64, 64};
      cfg.noise_every_stage = true;
    }
  } else if (variant != "vit") {
    throw unknown_variant(variant);
  }
  return cfg;
}

float vit_learning_rate(const std::string& variant) {
  if (variant == "vit") return 1e-3f;
  if (variant == "vit-ms") return 2e-3f;
  if (variant == "vit-na") return 3e-3f;
  throw unknown_variant(variant);
}

int vit_multiple(const VitConfig& cfg) {
  return cfg.variant == "vit" ? cfg.patch : cfg.patch << (cfg.stages - 1);
}

VitFootprint vit_footprint(const VitConfig& cfg) {
  VitFootprint f;
  const double r = cfg.mlp_ratio;
  // Blocks of width d on a gh x gw token grid.
  auto blocks = [&](int depth, double d, double gh, double gw, double head_dim) {
    const double t = gh * gw, heads = std::max(1.0, d / std::max(1.0, head_dim));
    double attended = t;  // tokens each token attends to
    if (cfg.neighborhood > 0) attended = std::min(t, double(cfg.neighborhood) * cfg.neighborhood);
    else if (cfg.window > 0) attended = std::min(t, double(cfg.window) * cfg.window);
    f.parameters += depth * (4.0 + 2.0 * r) * d * d;
    f.activation_floats += depth * ((10.0 + 2.0 * r) * t * d + 2.0 * heads * t * attended);
  };
  const double head_dim = double(cfg.width) / std::max(1, cfg.heads);
  const double out = double(cfg.out_channels) * cfg.patch * cfg.patch;
  if (cfg.variant == "vit") {
    const double gh = double(cfg.image_height) / cfg.patch, gw = double(cfg.image_width) / cfg.patch;
    const double in = double(cfg.in_channels) * cfg.patch * cfg.patch;
    f.parameters += (in + out) * cfg.width + gh * gw * cfg.width;  // embedding, head, positions
    f.activation_floats += gh * gw * (in + 3.0 * cfg.width + out);
    blocks(cfg.depth, cfg.width, gh, gw, head_dim);
    return f;
  }
  const int stages = std::max(1, cfg.stages);
  const int coarsest = cfg.patch << (stages - 1);
  for (int k = 0; k < stages; ++k) {
    const double d = k < int(cfg.stage_widths.size()) ? cfg.stage_widths[k] : cfg.width;
    const int depth = k < int(cfg.stage_depths.size()) ? cfg.stage_depths[k] : cfg.depth;
    const double factor = coarsest >> k;
    const double gh = cfg.image_height / factor, gw = cfg.image_width / factor;
    if (k == 0 || cfg.noise_every_stage) f.parameters += (cfg.in_channels + 1.0) * d;  // noise embedding
    if (k == 0 || cfg.pos_every_stage) f.parameters += gh * gw * d;                      // learned positions
    if (k > 0) {
      const double prev = k - 1 < int(cfg.stage_widths.size()) ? cfg.stage_widths[k - 1] : cfg.width;
      if (prev != d) f.parameters += (prev + 1.0) * d;  // the width change
    }
    f.activation_floats += gh * gw * (cfg.in_channels + 4.0 * d);  // embedding, upsampling, positions
    blocks(depth, d, gh, gw, head_dim);
    if (k == stages - 1) {
      f.parameters += d * out;
      f.activation_floats += gh * gw * (2.0 * d + out);
    }
  }
  return f;
}

std::shared_ptr<Module> make_vit(const VitConfig& cfg, Rng& rng) {
  if (cfg.variant == "vit") return std::make_shared<VisionTransformer>(cfg, rng);
  if (cfg.variant == "vit-ms" || cfg.variant == "vit-na") return std::make_shared<MultiScaleVit>(cfg, rng);
  throw unknown_variant(cfg.variant);
}

}  // namespace dip
