// The Transformer generators' options (--patch, --width, ...): every knob of nn/vit.h's VitConfig
// on the command line, so that each variant tried in the study can be run again.
#pragma once
#include <vector>

#include "apps/lib/options.h"
#include "nn/vit.h"

namespace dip::apps {

std::vector<OptionSpec> vit_options();

// Overrides the fields of cfg (a variant's defaults) that args sets. A UserError when a ViT option is
// given with --net skip, or a list option has the wrong count or bad values.
void apply_vit_options(const Args& args, const std::string& net_name, VitConfig& cfg);

}  // namespace dip::apps
