#include "apps/lib/interrupt.h"

#include <csignal>

namespace dip::apps {

namespace {
volatile std::sig_atomic_t g_signal = 0;  // the first signal received, 0 when none

extern "C" void on_signal(int sig) {
  if (g_signal == 0) g_signal = sig;
}

void set_action(int sig, void (*handler)(int), int flags) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
}
}  // namespace

void reset_interrupt() {
  g_signal = 0;
  set_action(SIGINT, SIG_DFL, 0);
  set_action(SIGTERM, SIG_DFL, 0);
  set_action(SIGPIPE, SIG_IGN, 0);
}

void install_interrupt_handler() {
  // SA_RESETHAND: the handler runs once, the next signal has the default action (ends the process).
  set_action(SIGINT, on_signal, SA_RESETHAND);
  set_action(SIGTERM, on_signal, SA_RESETHAND);
}

bool interrupt_requested() { return g_signal != 0; }
int interrupt_exit_status() { return 128 + (g_signal != 0 ? static_cast<int>(g_signal) : SIGINT); }
void request_interrupt() {
  if (g_signal == 0) g_signal = SIGINT;
}

}  // namespace dip::apps
