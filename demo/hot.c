/*
 * The demo's workload: a CPU-bound loop whose hottest function has a name nobody else uses, so the demo can check
 * that the flame graph it gets back really shows this process. Built with frame pointers so perf's default call
 * graph walks it.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
/* Where the work goes, so the compiler cannot drop it as unused. */
volatile unsigned long tracejob_demo_sink;

static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

__attribute__((noinline)) unsigned long tracejob_demo_hot_spin(unsigned long n) {
  unsigned long x = n;
  for (unsigned long i = 0; i < 2000000; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}

__attribute__((noinline)) unsigned long tracejob_demo_warm_path(unsigned long n) {
  unsigned long x = n;
  for (unsigned long i = 0; i < 200000; i++) x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  return x;
}

int main(void) {
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  printf("demo workload pid %d\n", getpid());
  fflush(stdout);
  unsigned long acc = 1;
  while (!stop) {
    acc += tracejob_demo_hot_spin(acc);
    acc += tracejob_demo_warm_path(acc);
    tracejob_demo_sink = acc;
  }
  return 0;
}
