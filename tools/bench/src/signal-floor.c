// bench:record's "floor": what any in-process signal sampler at the same rate costs the sampled thread
// on this machine before it does any work. Loaded with LD_PRELOAD into a plain `node workload.cjs`:
// its constructor (on the main thread, before Node's main) installs an empty SA_SIGINFO handler for
// SIGRTMIN+4 (the signal vmprof's sampler picks in an unused process) and starts one thread that, every
// $BENCH_FLOOR_PERIOD_US microseconds (default 1000) of the monotonic clock, queues that signal to
// the main thread with rt_tgsigqueueinfo, as vmprof's sampler thread does. Nothing is recorded: the
// handler only returns. With BENCH_FLOOR_SIGNAL=0 the thread only wakes up (no signal): what a thread
// waking every period on another CPU costs the program by itself. The difference between vmprof's
// slowdown and this one is what vmprof's own work (the handler's stack walk, its clock reads, the
// writer) adds.
//
// Built by tools/bench/dist/record.js with the system C compiler; not part of any package.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pid_t g_pid;

// Signal handler, on the main thread: returns at once.
static void on_signal(int sig, siginfo_t* si, void* context) {
  (void)sig;
  (void)si;
  (void)context;
}

// The ticker thread: sleeps to the next period, queues one signal, forever (the process's exit ends it).
// Set up as vmprof's sampler thread is: no timer slack, and the lowest real-time priority where
// allowed, so that the floor differs from vmprof only by vmprof's own work.
static void* ticker(void* arg) {
  long period_ns = (long)(intptr_t)arg;
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  struct sched_param sp;
  memset(&sp, 0, sizeof sp);
  sp.sched_priority = 1;
  pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
  const char* signal_env = getenv("BENCH_FLOOR_SIGNAL");
  int send = !(signal_env && strcmp(signal_env, "0") == 0);
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  for (;;) {
    next.tv_nsec += period_ns;
    while (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec++;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) != 0) {
    }
    if (!send) continue;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGRTMIN + 4;
    si.si_code = SI_QUEUE;
    si.si_pid = g_pid;
    si.si_uid = getuid();
    syscall(SYS_rt_tgsigqueueinfo, g_pid, g_pid, SIGRTMIN + 4, &si);
  }
  return NULL;
}

__attribute__((constructor)) static void start_floor(void) {
  g_pid = getpid();
  const char* env = getenv("BENCH_FLOOR_PERIOD_US");
  long period_us = env ? atol(env) : 1000;
  if (period_us <= 0) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGRTMIN + 4, &sa, NULL);
  // Started with every signal blocked, so that none of the process's signals is delivered to it.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  pthread_t thread;
  if (pthread_create(&thread, NULL, ticker, (void*)(intptr_t)(period_us * 1000)) == 0) pthread_detach(thread);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}
