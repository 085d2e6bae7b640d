// `dip study run`: one DIP run per (image, seed, TV setting) over a training and a test folder,
// each traced finely enough that every stopping rule can be evaluated afterwards from the trace
// (`dip study report`, study_report.h), without re-running anything.
//
// STUDY/study.json   the settings, written by the first process; a later `run` with other settings
//                    into the same folder is refused (resuming needs the same command).
// STUDY/runs/ID.json one finished run, written atomically: {"id", "index", "split", "image",
//                    "image_hash", "seed", "tv", "done": true, "metrics": <metrics.json of the run>}.
// STUDY/runs/ID.failed  a run whose input could not be used (the message); retried next time.
//
// A re-run skips runs whose ID.json exists, so an interrupted or preempted study resumes. Runs are
// numbered in a fixed order (train then test, images sorted, then seeds, then settings); a shard
// I/N does the runs whose index is I mod N, so N processes (a Slurm job array) split a study.
// Each run's corruption, network and input are seeded from (the image file's bytes, the seed):
// any machine reproduces any run.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace dip::apps {

struct PlannedRun {
  int index = 0;
  std::string id;     // "train-0003-kodim05-s0-tv0"
  std::string split;  // "train" or "test"
  std::string path;   // the image file
  std::string image;  // its file name
  int seed = 0;
  double tv = 0.0;
};

// The runs of a study in their fixed order.
std::vector<PlannedRun> plan_study_runs(const std::vector<std::string>& train_images,
                                      const std::vector<std::string>& test_images, const std::vector<int>& seeds,
                                      const std::vector<double>& tv_settings);

// Image files directly inside `dir` (.png, .jpg, .jpeg, .bmp, .tga), sorted; UserError when the
// folder is missing or holds none.
std::vector<std::string> list_study_images(const std::string& dir, const std::string& option);

struct Shard {
  int index = 0, count = 1;
};
// --shard I/N, else Slurm's array variables (SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_COUNT, or
// with SLURM_ARRAY_TASK_MIN/MAX), else 0/1. `getenv` is a parameter so tests can fake Slurm.
Shard study_shard(const std::optional<std::string>& option,
                  const std::function<const char*(const char*)>& getenv);

// The seed of a run: a hash of the image file's bytes mixed with the user's seed.
uint64_t study_run_seed(const std::string& file_bytes, int seed);
std::string content_hash_hex(const std::string& bytes);  // FNV-1a 64, 16 hex digits

// `dip study run ...` (argv after "run"). Returns the exit status (0 done, 130 interrupted);
// UserError for bad input.
int study_run_main(const std::vector<std::string>& argv);
std::string study_run_help();

}  // namespace dip::apps
