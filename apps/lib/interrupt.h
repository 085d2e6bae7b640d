// Ctrl-C and SIGTERM (`timeout`, Slurm's preemption) during training: the first one only raises a
// flag that the training loop polls, so the run stops cleanly and saves what it has; a second one
// ends the process at once. Before training (reading inputs, building the network) nothing needs
// saving, so the signals keep their default action and end a run blocked on a slow input at once.
// SIGPIPE is ignored: a closed pipe on stdout (`dip ... | head`) must not decide the fate of the
// results; progress lines to it are simply lost.
#pragma once

namespace dip::apps {

// Clears the flag, gives SIGINT/SIGTERM their default action back and ignores SIGPIPE (at the
// start of each command).
void reset_interrupt();
// From here on SIGINT/SIGTERM only raise the flag (the first time).
void install_interrupt_handler();
bool interrupt_requested();
// What the process exits with after an interrupted run: 128 + the signal (130 SIGINT, 143 SIGTERM).
int interrupt_exit_status();
// Raises the flag as SIGINT would (tests; programmatic cancellation).
void request_interrupt();

}  // namespace dip::apps
