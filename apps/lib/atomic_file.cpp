#include "apps/lib/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace dip::apps {

namespace {

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
std::string write_temporary(const std::string& path, const std::string& text) {
  std::string name = path + ".tmp-XXXXXX";
  std::vector<char> buf(name.begin(), name.end());
  buf.push_back('\0');
  const int fd = mkstemp(buf.data());
  if (fd < 0) fail("create a temporary file for", path);
  name = buf.data();
  ::fchmod(fd, 0666 & ~current_umask());  // mkstemp makes 0600; give what open(2) would
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
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
  const std::string temp = write_temporary(path, text);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    fail("rename into place", path);
  }
  sync_directory(path);
}

bool create_file_exclusive(const std::string& path, const std::string& text) {
  const std::string temp = write_temporary(path, text);
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

}  // namespace dip::apps
