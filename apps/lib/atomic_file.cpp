#include "apps/lib/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace dip::apps {

namespace {

long long g_write_budget = -1;  // fail_writes_after_for_testing

// write(2), or ENOSPC once the test budget is spent.
ssize_t checked_write(int fd, const char* data, size_t size) {
  if (g_write_budget >= 0) {
    if (g_write_budget == 0) {
      errno = ENOSPC;
      return -1;
    }
    size = std::min<size_t>(size, static_cast<size_t>(g_write_budget));
  }
  const ssize_t n = ::write(fd, data, size);
  if (n > 0 && g_write_budget >= 0) g_write_budget -= n;
  return n;
}

std::string directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::runtime_error("could not " + what + " '" + path + "': " + std::strerror(errno));
}

mode_t current_umask() {
  const mode_t mask = ::umask(0);  // the only way to read it is to set it
  ::umask(mask);
  return mask;
}

// A complete temporary file next to `path` holding `text`, flushed to disk; returns its name.
std::string write_temporary(const std::string& path, const char* data, size_t size) {
  std::string name = path + ".tmp-XXXXXX";
  std::vector<char> buf(name.begin(), name.end());
  buf.push_back('\0');
  const int fd = mkstemp(buf.data());
  if (fd < 0) fail("create a temporary file for", path);
  name = buf.data();
  ::fchmod(fd, 0666 & ~current_umask());  // mkstemp makes 0600; give what open(2) would
  size_t done = 0;
  while (done < size) {
    const ssize_t n = checked_write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = errno;
      ::close(fd);
      ::unlink(name.c_str());
      errno = saved;
      fail("write", path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int saved = errno;
    ::unlink(name.c_str());
    errno = saved;
    fail("write", path);
  }
  return name;
}

void sync_directory(const std::string& path) {
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY);
  if (dir < 0) fail("open the directory of", path);
  const int rc = ::fsync(dir);
  ::close(dir);
  if (rc != 0) fail("flush the directory of", path);
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  const std::string temp = write_temporary(path, static_cast<const char*>(data), size);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    fail("rename into place", path);
  }
  sync_directory(path);
}

bool create_file_exclusive(const std::string& path, const std::string& text) {
  const std::string temp = write_temporary(path, text.data(), text.size());
  const int rc = ::link(temp.c_str(), path.c_str());  // fails with EEXIST when another process won
  const int saved = errno;
  ::unlink(temp.c_str());
  if (rc != 0) {
    if (saved == EEXIST) return false;
    errno = saved;
    fail("create", path);
  }
  sync_directory(path);
  return true;
}

std::string read_file_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("open", path);
  std::ostringstream os;
  os << f.rdbuf();
  if (f.bad()) fail("read", path);
  return os.str();
}

void fail_writes_after_for_testing(long long bytes) { g_write_budget = bytes; }

}  // namespace dip::apps
