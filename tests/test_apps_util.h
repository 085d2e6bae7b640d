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

}  // namespace dip::test
