// Files that appear whole or not at all: written to a temporary name in the same directory,
// flushed to disk, then renamed over the final name (rename is atomic on one filesystem), and the
// directory entry is flushed too. A crash or a full disk leaves the old file or none, never half.
#pragma once
#include <cstddef>
#include <string>

namespace dip::apps {

// Writes `text` to `path` atomically; throws std::runtime_error naming the file on any failure
// (the temporary file is removed).
void write_file_atomic(const std::string& path, const std::string& text);
void write_file_atomic(const std::string& path, const void* data, size_t size);

// Creates `path` with `text` only if it does not exist yet (atomically: link(2) of a complete
// temporary file). Returns false, writing nothing, when `path` already exists.
bool create_file_exclusive(const std::string& path, const std::string& text);

// The whole file, or a std::runtime_error.
std::string read_file_text(const std::string& path);

// Tests: after `bytes` more bytes, every write fails with ENOSPC, as on a full disk (negative:
// never, the default).
void fail_writes_after_for_testing(long long bytes);

}  // namespace dip::apps
