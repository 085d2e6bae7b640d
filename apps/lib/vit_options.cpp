#include "apps/lib/vit_options.h"

#include <cstdlib>
#include <sstream>

#include "apps/lib/user_error.h"

namespace dip::apps {

std::vector<OptionSpec> vit_options() {
  return {
      int_option("patch", "P", "patch size (vit-ms, vit-na: of the finest stage)", 1, 64),
      int_option("width", "D", "token width (all stages unless --stage-widths)", 1, 4096),
      int_option("depth", "L", "Transformer blocks (vit-ms, vit-na: per stage unless --stage-depths)", 0, 64),
      int_option("heads", "H", "attention heads (multi-scale nets keep the head size width/heads)", 1, 256),
      int_option("mlp-ratio", "R", "MLP hidden width = R x width", 1, 16),
      int_option("window", "W", "local attention in W x W windows, shifted every second block (0: global)", 0, 256),
      int_option("neighborhood", "K", "neighbourhood attention: each token attends to the K x K tokens around it "
                 "(odd K; 0: off)", 0, 63),
      text_option("positional", "learned|sinusoidal", "positional embedding", "", {"learned", "sinusoidal"}),
      int_option("stages", "S", "vit-ms, vit-na: token grids, each twice as fine as the one before", 1, 10),
      text_option("stage-widths", "D0,D1,..", "vit-ms, vit-na: width per stage, coarse to fine"),
      text_option("stage-depths", "L0,L1,..", "vit-ms, vit-na: blocks per stage, coarse to fine"),
      flag_option("noise-every-stage", "vit-ms, vit-na: add the input noise at every stage, not only the first"),
      flag_option("pos-every-stage", "vit-ms, vit-na: add positions at every stage, not only the first"),
  };
}

namespace {

std::vector<int> parse_int_list(const std::string& option, const std::string& text, int min_value) {
  std::vector<int> values;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    DIP_USER_CHECK(!item.empty() && *end == '\0' && v >= min_value && v <= 4096, "--", option, ": '", item,
                   "' is not an integer in ", min_value, "..4096 (give a comma-separated list, e.g. 128,64,32)");
    values.push_back(static_cast<int>(v));
  }
  DIP_USER_CHECK(!values.empty(), "--", option, ": empty list");
  return values;
}

}  // namespace

void apply_vit_options(const Args& args, const std::string& net_name, VitConfig& cfg) {
  for (const OptionSpec& s : vit_options())
    DIP_USER_CHECK(net_name != "skip" || !args.has(s.name), "--", s.name,
                   " sets a Transformer generator; use it with --net vit, vit-ms or vit-na");
  if (net_name == "skip") return;
  const bool multi_scale = cfg.variant != "vit";
  for (const char* name : {"stages", "stage-widths", "stage-depths", "noise-every-stage", "pos-every-stage"})
    DIP_USER_CHECK(multi_scale || !args.has(name), "--", name, " applies to the multi-scale nets (vit-ms, vit-na)");
  if (args.has("patch")) cfg.patch = args.integer("patch", cfg.patch);
  if (args.has("width")) {
    // An explicit width replaces the variant's per-stage widths, keeping its head size.
    const int head_size = cfg.width / cfg.heads;
    cfg.width = args.integer("width", cfg.width);
    cfg.stage_widths.clear();
    if (!args.has("heads")) cfg.heads = std::max(1, cfg.width / head_size);
  }
  if (args.has("depth")) {
    cfg.depth = args.integer("depth", cfg.depth);
    cfg.stage_depths.clear();
  }
  if (args.has("heads")) cfg.heads = args.integer("heads", cfg.heads);
  if (args.has("mlp-ratio")) cfg.mlp_ratio = args.integer("mlp-ratio", cfg.mlp_ratio);
  if (args.has("window")) cfg.window = args.integer("window", cfg.window);
  if (args.has("neighborhood")) {
    cfg.neighborhood = args.integer("neighborhood", 0);
    DIP_USER_CHECK(cfg.neighborhood == 0 || cfg.neighborhood % 2 == 1, "--neighborhood: ", cfg.neighborhood,
                   " must be odd (the query sits at the centre), or 0");
  }
  DIP_USER_CHECK(cfg.neighborhood == 0 || cfg.window == 0,
                 "--window and --neighborhood are two kinds of local attention; give one (the other 0)");
  if (args.has("positional")) cfg.positional = parse_positional(args.text("positional"));
  if (args.has("stages")) {
    cfg.stages = args.integer("stages", cfg.stages);
    if (!args.has("stage-widths") && int(cfg.stage_widths.size()) != cfg.stages) cfg.stage_widths.clear();
    if (!args.has("stage-depths") && int(cfg.stage_depths.size()) != cfg.stages) cfg.stage_depths.clear();
  }
  if (args.flag("noise-every-stage")) cfg.noise_every_stage = true;
  if (args.flag("pos-every-stage")) cfg.pos_every_stage = true;
  if (args.has("stage-widths")) cfg.stage_widths = parse_int_list("stage-widths", args.text("stage-widths"), 1);
  if (args.has("stage-depths")) cfg.stage_depths = parse_int_list("stage-depths", args.text("stage-depths"), 0);
  DIP_USER_CHECK(cfg.stage_widths.empty() || int(cfg.stage_widths.size()) == cfg.stages, "--stage-widths lists ",
                 cfg.stage_widths.size(), " widths for ", cfg.stages, " stages");
  DIP_USER_CHECK(cfg.stage_depths.empty() || int(cfg.stage_depths.size()) == cfg.stages, "--stage-depths lists ",
                 cfg.stage_depths.size(), " depths for ", cfg.stages, " stages");
}

}  // namespace dip::apps
