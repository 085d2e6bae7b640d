#include "apps/lib/interrupt.h"

#include <csignal>

namespace dip::apps {

namespace {
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_sigint(int) {
  g_interrupted = 1;
  std::signal(SIGINT, SIG_DFL);  // the next Ctrl-C ends the process at once
}
}  // namespace

void install_interrupt_handler() { std::signal(SIGINT, on_sigint); }
bool interrupt_requested() { return g_interrupted != 0; }
void reset_interrupt() {
  g_interrupted = 0;
  install_interrupt_handler();
}
void request_interrupt() { g_interrupted = 1; }

}  // namespace dip::apps
