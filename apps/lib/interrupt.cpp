#include "apps/lib/interrupt.h"

#include <csignal>

namespace dip::apps {

namespace {
volatile std::sig_atomic_t g_interrupted = 0;

extern "C" void on_signal(int sig) {
  g_interrupted = 1;
  std::signal(sig, SIG_DFL);  // the next one ends the process at once
}
}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}
bool interrupt_requested() { return g_interrupted != 0; }
void reset_interrupt() {
  g_interrupted = 0;
  install_interrupt_handler();
}
void request_interrupt() { g_interrupted = 1; }

}  // namespace dip::apps
