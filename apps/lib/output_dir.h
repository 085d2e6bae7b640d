// Where a run's files go, so that dip never destroys what it did not write and never shows a
// half-written result.
//
//   DIR          a finished run only. It appears whole, by renaming DIR.partial at the end.
//   DIR.partial  the run being written (locked while a process writes it), or an unfinished one:
//                interrupted (Ctrl-C, SIGTERM), killed, or failed while saving. It holds the
//                outputs so far and checkpoint.dip, from which `--resume DIR` continues.
//
// Both hold `.dip-output`, dip's marker. A directory may be replaced or cleared only when it
// holds the marker and nothing but files dip writes (`is_dip_file`): those files are removed one by
// one, never a tree, so a file a user put there stops the run instead of being deleted.
// Directories are created with mode 0777 less the umask, like mkdir(1).
#pragma once
#include <string>
#include <vector>

namespace dip::apps {

// A path inside an output directory that dip writes: observed.png, output.png, output_avg.png,
// ground_truth.png, metrics.json, curve.svg, report.html, checkpoint.dip, .dip-output, .lock,
// snapshots/, snapshots/iter_N.png, and the temporary names of those files' atomic writes.
bool is_dip_file(const std::string& relative_path);

class OutputDir {
 public:
  // Checks `--out` before any work: UserError unless DIR (and DIR.partial) are absent, empty or
  // dip outputs, and the names fit the filesystem's limits. Creates nothing.
  static void check_target(const std::string& final_path);

  // Opens DIR.partial for writing: created (with missing parents), or taken over when a run left
  // it unfinished. `resume` keeps what is there (the checkpoint and snapshots); otherwise the
  // earlier unfinished run's files are removed (`notes` says so). UserError when another process
  // is writing it.
  OutputDir(std::string final_path, bool resume, std::vector<std::string>* notes = nullptr);
  // Without commit() or keep(): a run that failed before it had anything worth keeping; DIR.partial
  // and the parents it created are removed (unless it was resumed: its checkpoint stays).
  ~OutputDir();
  OutputDir(const OutputDir&) = delete;
  OutputDir& operator=(const OutputDir&) = delete;

  // A file inside DIR.partial.
  std::string file(const std::string& name) const;
  const std::string& final_path() const { return final_path_; }
  const std::string& work_path() const { return work_path_; }

  // The run finished: DIR.partial becomes DIR (an earlier finished run there is replaced, its
  // files removed one by one). On failure DIR.partial stays, whole, and the error says so.
  void commit();
  // The run stopped early: everything stays in DIR.partial, marked as unfinished.
  void keep();

  // The path of the unfinished run of `final_path` (DIR.partial).
  static std::string partial_path(const std::string& final_path);

 private:
  void write_marker(const std::string& status) const;

  std::string final_path_, work_path_;
  std::vector<std::string> created_parents_;  // removed again (if empty) when the run fails
  int lock_fd_ = -1;
  bool resumed_ = false, done_ = false;
};

// Removes the files dip writes from `dir`, then `dir` itself if that left it empty. Returns false
// (removing nothing) when `dir` holds something else or lacks dip's marker.
bool remove_dip_output(const std::string& dir);

}  // namespace dip::apps
