// An output directory that appears whole or not at all.
//
// Files are written into DIR.tmp-XXXXXX next to DIR; commit() renames it to DIR (replacing an
// earlier dip output there). Destroyed without commit() — an error, a crash unwinding — the
// temporary directory is removed, so a failed run leaves nothing behind.
#pragma once
#include <string>
#include <vector>

namespace dip::apps {

class OutputDir {
 public:
  // UserError unless `final_path` is absent or an earlier dip output (a directory holding
  // metrics.json), which a new run may replace. Creates nothing.
  static void check_target(const std::string& final_path);

  // Creates missing parent directories and the temporary directory.
  explicit OutputDir(std::string final_path);
  ~OutputDir();
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;

  // A file inside the (temporary) directory.
  std::string file(const std::string& name) const;
  const std::string& final_path() const { return final_path_; }
  void commit();

 private:
  std::string final_path_, temp_path_;
  std::vector<std::string> created_parents_;  // removed again (if empty) when not committed
  bool committed_ = false;
};

}  // namespace dip::apps
