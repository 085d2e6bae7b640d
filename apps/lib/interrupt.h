// Ctrl-C handling: the first SIGINT (or SIGTERM, e.g. from `timeout`) only raises a flag that the
// training loop polls, so the run stops cleanly and saves what it has; a second one kills the
// process as usual.
#pragma once

namespace dip::apps {

void install_interrupt_handler();
bool interrupt_requested();
// Clears the flag and re-arms the handler (between runs in one process, e.g. tests).
void reset_interrupt();
// Raises the flag as SIGINT would (tests; programmatic cancellation).
void request_interrupt();

}  // namespace dip::apps
