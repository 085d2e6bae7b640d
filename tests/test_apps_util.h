// Helpers for the app tests: generated images in a scratch directory, file checks.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/lib/image.h"
#include "apps/lib/image_io.h"
#include "apps/lib/trainer.h"
#include "nn/skip.h"

namespace dip::test {

// A fresh directory under /tmp, removed (with its contents) at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "dip-apps-test-XXXXXX").string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    path_ = mkdtemp(buf.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }
  // Names of the entries directly inside, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::string path_;
};

// A smooth RGB test picture with an edge: gradients plus a bright disc (values in [0, 1]).
inline apps::Image test_picture(int h, int w, int channels = 3) {
  apps::Image img(channels, h, w);
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        const float dx = x - w * 0.6f, dy = y - h * 0.4f;
        const bool disc = dx * dx + dy * dy < 0.06f * h * w;
        float v = 0.2f + 0.5f * x / w * (c == 0) + 0.5f * y / h * (c == 1) + 0.3f * (c == 2);
        img.at(c, y, x) = disc ? 0.9f : std::min(v, 1.f);
      }
  return img;
}

inline std::string write_test_png(const std::string& path, int h, int w, int channels = 3) {
  apps::save_png(path, test_picture(h, w, channels));
  return path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

// A small DIP problem that trains in milliseconds: a 2-scale skip net (8 -> 16 -> 16 channels, skip 4)
// fitting the 32x32 test picture from a fixed U(0, 0.1) input, the picture as its own ground truth.
struct SmallFit {
  std::shared_ptr<Module> net;
  apps::FitTarget target;
};
inline SmallFit small_fit(uint64_t seed = 5) {
  SkipConfig cfg;
  cfg.in_channels = 8;
  cfg.channels_down = {16, 16};
  cfg.channels_up = {16, 16};
  cfg.channels_skip = {4, 4};
  Rng rng(seed);
  SmallFit f;
  f.net = skip(cfg, rng);
  const apps::Image pic = test_picture(32, 32);
  f.target.observed = apps::image_to_tensor(pic);
  f.target.ground_truth = pic;
  f.target.input = Tensor::uniform({1, 8, 32, 32}, 0.f, 0.1f, rng);
  return f;
}

}  // namespace dip::test
