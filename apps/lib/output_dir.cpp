#include "apps/lib/output_dir.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <unistd.h>

#include "apps/lib/user_error.h"

namespace fs = std::filesystem;

namespace dip::apps {

namespace {
std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}
}  // namespace

void OutputDir::check_target(const std::string& final_path) {
  DIP_USER_CHECK(!final_path.empty(), "--out: empty path");
  const fs::path p(strip_trailing_slashes(final_path));
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(p, ec);
  if (!fs::exists(st)) return;
  DIP_USER_CHECK(fs::is_directory(st), "--out: '", final_path, "' exists and is not a directory");
  DIP_USER_CHECK(fs::is_empty(p, ec) || fs::exists(p / "metrics.json"), "--out: '", final_path,
                 "' exists and is not a dip output directory (no metrics.json); choose another --out");
}

OutputDir::OutputDir(std::string final_path) : final_path_(strip_trailing_slashes(std::move(final_path))) {
  check_target(final_path_);
  // Create missing parents one by one, remembering them so a failed run can remove them again.
  fs::path parent = fs::path(final_path_).parent_path();
  std::vector<fs::path> missing;
  for (fs::path q = parent; !q.empty() && !fs::exists(q); q = q.parent_path()) missing.push_back(q);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    std::error_code ec;
    fs::create_directory(*it, ec);
    if (ec) throw UserError("--out: cannot create '" + it->string() + "': " + ec.message());
    created_parents_.push_back(it->string());
  }
  std::string templ = final_path_ + ".tmp-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) {
    const std::string why = std::strerror(errno);
    for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it) ::rmdir(it->c_str());
    throw UserError("--out: cannot create a directory next to '" + final_path_ + "': " + why);
  }
  temp_path_ = buf.data();
}

OutputDir::~OutputDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(temp_path_, ec);
  for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it) ::rmdir(it->c_str());
}

std::string OutputDir::file(const std::string& name) const { return temp_path_ + "/" + name; }

void OutputDir::commit() {
  check_target(final_path_);  // still replaceable (nothing else appeared there meanwhile)
  std::error_code ec;
  std::string old;
  if (fs::exists(final_path_)) {
    // Move the earlier output aside first, so DIR is missing for an instant only.
    std::string templ = final_path_ + ".old-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) throw std::runtime_error("cannot replace '" + final_path_ + "'");
    old = buf.data();
    fs::rename(final_path_, old + "/previous", ec);
    if (ec) throw std::runtime_error("cannot replace '" + final_path_ + "': " + ec.message());
  }
  fs::rename(temp_path_, final_path_, ec);
  if (ec) throw std::runtime_error("cannot rename '" + temp_path_ + "' to '" + final_path_ + "': " + ec.message());
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace dip::apps
