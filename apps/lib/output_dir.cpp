#include "apps/lib/output_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <system_error>

#include "apps/lib/atomic_file.h"
#include "apps/lib/user_error.h"

namespace fs = std::filesystem;

namespace dip::apps {

namespace {

constexpr const char* kMarker = ".dip-output";
constexpr const char* kLock = ".lock";
constexpr const char* kPartialSuffix = ".partial";

std::string strip_trailing_slashes(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// A file name dip writes directly (not counting atomic-write temporaries).
bool is_dip_name(const std::string& name) {
  static const char* const kNames[] = {"observed.png", "ground_truth.png", "output.png", "output_avg.png",
                                       "metrics.json", "curve.svg",        "report.html", "checkpoint.dip",
                                       kMarker,        kLock};
  for (const char* n : kNames)
    if (name == n) return true;
  return false;
}

bool is_snapshot_name(const std::string& name) {
  const std::string prefix = "iter_", suffix = ".png";
  return name.size() > prefix.size() + suffix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         all_digits(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()));
}

// `name` itself, or the temporary `name.tmp-XXXXXX` of an atomic write of it (atomic_file.h).
template <typename Pred>
bool is_name_or_temporary(const std::string& name, Pred pred) {
  if (pred(name)) return true;
  const size_t at = name.rfind(".tmp-");
  return at != std::string::npos && name.size() == at + 11 && pred(name.substr(0, at));
}

// Why `dir` may not be replaced or cleared, or nothing when it may: it must hold dip's marker and
// only regular files (and the snapshots directory) that dip writes.
std::optional<std::string> foreign_content(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / kMarker, ec))
    return "is not a dip output directory (it has no " + std::string(kMarker) + " marker)";
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string rel = fs::relative(it->path(), dir, ec).string();
    const fs::file_status st = it->symlink_status(ec);
    const bool ok = rel == "snapshots" ? fs::is_directory(st) : fs::is_regular_file(st) && is_dip_file(rel);
    if (!ok) return "holds '" + rel + "', which dip did not write";
  }
  if (ec) return "cannot be read: " + ec.message();
  return std::nullopt;
}

void check_directory(const std::string& path, const std::string& what) {
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(path, ec);
  if (!fs::exists(st)) return;
  DIP_USER_CHECK(fs::is_directory(st), "--out: '", path, "' exists and is not a directory");
  if (fs::is_empty(path, ec)) return;
  const std::optional<std::string> problem = foreign_content(path);
  DIP_USER_CHECK(!problem, "--out: ", what, " '", path, "' ", *problem, "; choose another --out");
}

// Removes the dip files directly in `dir` (but not `keep`).
void remove_dip_files_in(const std::string& dir, const std::string& keep = "") {
  std::error_code ec;
  std::vector<fs::path> names;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path());
  for (const fs::path& p : names) {
    const std::string name = p.filename().string();
    if (name == keep) continue;
    if (name == "snapshots") {
      for (const auto& s : fs::directory_iterator(p, ec))
        if (is_name_or_temporary(s.path().filename().string(), is_snapshot_name)) ::unlink(s.path().c_str());
      ::rmdir(p.c_str());
    } else if (is_dip_file(name)) {
      ::unlink(p.c_str());
    }
  }
}

void sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string parent_of(const std::string& path) {
  const std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

bool is_dip_file(const std::string& rel) {
  const size_t slash = rel.find('/');
  if (slash == std::string::npos) return rel == "snapshots" || is_name_or_temporary(rel, is_dip_name);
  return rel.compare(0, slash, "snapshots") == 0 && rel.find('/', slash + 1) == std::string::npos &&
         is_name_or_temporary(rel.substr(slash + 1), is_snapshot_name);
}

std::string OutputDir::partial_path(const std::string& final_path) {
  return strip_trailing_slashes(final_path) + kPartialSuffix;
}

void OutputDir::check_target(const std::string& final_path_arg) {
  DIP_USER_CHECK(!final_path_arg.empty(), "--out: empty path");
  const std::string final_path = strip_trailing_slashes(final_path_arg);
  const std::string base = fs::path(final_path).filename().string();
  DIP_USER_CHECK(base != "." && base != ".." && final_path != "/", "--out: '", final_path_arg,
                 "' names an existing directory's parent or itself; give a new directory, e.g. out/run1");
  // DIR.partial and DIR.old-XXXXXX must fit too.
  const size_t longest = base.size() + std::strlen(kPartialSuffix);
  DIP_USER_CHECK(longest <= NAME_MAX && final_path.size() + 16 < PATH_MAX, "--out: '", base,
                 "' is too long a name (dip adds '", kPartialSuffix, "'; at most ",
                 NAME_MAX - std::strlen(kPartialSuffix), " characters)");
  check_directory(final_path, "the directory");
  check_directory(partial_path(final_path), "the unfinished run's directory");
}

OutputDir::OutputDir(std::string final_path, bool resume, std::vector<std::string>* notes)
    : final_path_(strip_trailing_slashes(std::move(final_path))), work_path_(partial_path(final_path_)),
      resumed_(resume) {
  check_target(final_path_);
  std::error_code ec;
  const bool existed = fs::exists(work_path_, ec);
  DIP_USER_CHECK(existed || !resume, "--resume: there is no unfinished run of '", final_path_, "' (no ",
                 work_path_, ")");
  if (!existed) {
    // Create missing parents one by one, remembering them so a failed run can remove them again.
    std::vector<fs::path> missing;
    for (fs::path q = fs::path(final_path_).parent_path(); !q.empty() && !fs::exists(q); q = q.parent_path())
      missing.push_back(q);
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      if (::mkdir(it->c_str(), 0777) != 0 && errno != EEXIST)
        throw UserError("--out: cannot create '" + it->string() + "': " + std::strerror(errno));
      created_parents_.push_back(it->string());
    }
    if (::mkdir(work_path_.c_str(), 0777) != 0) {
      const std::string why = std::strerror(errno);
      for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it) ::rmdir(it->c_str());
      throw UserError("--out: cannot create '" + work_path_ + "': " + why);
    }
  }
  // One writer at a time; the lock dies with its process, so a killed run's directory is free.
  const std::string lock = work_path_ + "/" + kLock;
  lock_fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const bool busy = errno == EWOULDBLOCK;
    const std::string why = std::strerror(errno);
    if (lock_fd_ >= 0) ::close(lock_fd_);
    lock_fd_ = -1;
    done_ = true;  // not ours to remove
    if (busy) throw UserError("--out: another dip run is writing '" + work_path_ + "'; wait for it or choose another --out");
    throw UserError("--out: cannot write in '" + work_path_ + "': " + why);
  }
  if (existed && !resume) {
    remove_dip_files_in(work_path_, kLock);
    if (notes) notes->push_back("removed an unfinished earlier run from " + work_path_ + " (--resume " + final_path_ +
                                " would have continued it)");
  }
  try {
    write_marker("running");  // also proves the directory writable before any training
  } catch (const std::exception& e) {
    throw UserError(std::string("--out: ") + e.what());
  }
}

OutputDir::~OutputDir() {
  if (done_) return;
  try {
    if (resumed_) {
      keep();
      return;
    }
    remove_dip_files_in(work_path_, kLock);
    ::unlink((work_path_ + "/" + kLock).c_str());
    ::close(lock_fd_);
    ::rmdir(work_path_.c_str());
    for (auto it = created_parents_.rbegin(); it != created_parents_.rend(); ++it) ::rmdir(it->c_str());
  } catch (...) {
  }
}

std::string OutputDir::file(const std::string& name) const { return work_path_ + "/" + name; }

void OutputDir::write_marker(const std::string& status) const {
  write_file_atomic(file(kMarker), "dip output\nstatus: " + status + "\npid: " + std::to_string(::getpid()) + "\n");
}

void OutputDir::keep() {
  if (done_) return;
  done_ = true;
  try {
    write_marker("unfinished");
  } catch (const std::exception&) {
  }
  ::close(lock_fd_);
}

void OutputDir::commit() {
  DIP_CHECK(!done_, "OutputDir::commit: already committed or kept");
  auto fail = [&](const std::string& why) {
    keep();
    throw std::runtime_error(why + "; the finished run is in " + work_path_ + "/");
  };
  try {
    write_marker("complete");
    check_target(final_path_);  // nothing foreign appeared there meanwhile
  } catch (const std::exception& e) {
    fail(e.what());
  }
  // An earlier finished run moves aside (onto an empty directory: rename(2) allows that), so DIR
  // is missing for an instant only; its files are removed once the new run is in place.
  std::string old;
  if (fs::exists(final_path_)) {
    std::string templ = final_path_ + ".old-XXXXXX";
    if (!mkdtemp(templ.data()) || ::rename(final_path_.c_str(), templ.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      ::rmdir(templ.c_str());
      fail("cannot move the earlier run in '" + final_path_ + "' aside: " + why);
    }
    old = templ;
  }
  ::unlink(file(kLock).c_str());
  if (::rename(work_path_.c_str(), final_path_.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    if (!old.empty()) ::rename(old.c_str(), final_path_.c_str());
    fail("cannot rename '" + work_path_ + "' to '" + final_path_ + "': " + why);
  }
  done_ = true;
  ::close(lock_fd_);
  sync_directory(parent_of(final_path_));
  if (!old.empty() && !remove_dip_output(old)) {
    std::error_code ec;
    if (fs::is_empty(old, ec)) ::rmdir(old.c_str());
  }
}

bool remove_dip_output(const std::string& dir) {
  std::error_code ec;
  if (fs::is_empty(dir, ec)) return ::rmdir(dir.c_str()) == 0;
  if (foreign_content(dir)) return false;
  remove_dip_files_in(dir);
  return ::rmdir(dir.c_str()) == 0;
}

}  // namespace dip::apps
