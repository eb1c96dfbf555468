// The sampler thread ("vmprof-sampler"), one per session: every period it queues the sample signal
// to each JS thread that is due, alone (rt_tgsigqueueinfo to its thread id). It may lock
// Session::targets_mu and call sigaction; it never touches V8 or the writer's state.
// ArmTimer/DisarmTimer run on the JS thread of the isolate they add or remove; StopTicker on the JS
// thread that stops the session.
//
// Why not a timer per thread (timer_create with SIGEV_THREAD_ID, or a perf task-clock event): on
// this kind of virtual machine, a timer expiring on the CPU the sampled thread runs on costs that
// thread 22-33 µs per expiry (the emulated timer interrupt and its re-arm), a 2-3.5% slowdown at
// 1 kHz before any sampling work; a signal sent from another thread costs it about 9 µs.
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "state.h"

namespace vmprof {

namespace {

constexpr uint64_t kWindowNs = 1000000000;  // pending signals that never drain for this long are written off
constexpr uint64_t kMaxBehind = 20;        // periods the sampler catches up on, at most

// Queues one tick to `ts`, dated `tick_us`. A thread that is runnable but not running takes its
// queued ticks when it runs again, each as a sample dated by its tick: its stack has not changed
// meanwhile, so these samples are true (wall mode keeps its shares when threads outnumber cores).
void Signal(ThreadState* ts, uint64_t tick_us, uint64_t now_ns, pid_t pid, uid_t uid) {
  uint64_t sent = ts->sent.load(std::memory_order_relaxed);
  uint64_t received = ts->received.load(std::memory_order_relaxed);
  uint64_t pending = sent > received ? sent - received : 0;
  // Self-healing accounting: a signal that was sent and never taken (discarded while someone had
  // replaced our handler, say) would count as pending for ever. Pending signals that never drained
  // below some number over a whole second were lost: write them off.
  if (now_ns - ts->window_start_ns >= kWindowNs) {
    if (ts->window_min_pending > 0 && ts->window_min_pending != UINT64_MAX && ts->window_start_ns != 0) {
      ts->received.fetch_add(ts->window_min_pending, std::memory_order_relaxed);
      ts->dropped[kDropSignalLost].fetch_add(ts->window_min_pending, std::memory_order_relaxed);
      pending -= std::min(pending, ts->window_min_pending);
    }
    ts->window_start_ns = now_ns;
    ts->window_min_pending = pending;
  } else {
    ts->window_min_pending = std::min(ts->window_min_pending, pending);
  }
  if (pending >= kMaxPending) {
    ts->dropped[kDropPending].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  si.si_signo = SampleSignal();
  si.si_code = SI_QUEUE;
  si.si_pid = pid;
  si.si_uid = uid;
  si.si_value.sival_ptr = reinterpret_cast<void*>(static_cast<uintptr_t>(kTickMagic << 48 | (tick_us & kTickTimeMask)));
  ts->sent.fetch_add(1, std::memory_order_relaxed);
  if (syscall(SYS_rt_tgsigqueueinfo, pid, ts->tid, SampleSignal(), &si) != 0) {
    ts->sent.fetch_sub(1, std::memory_order_relaxed);
    if (errno == EAGAIN) ts->dropped[kDropSendFailed].fetch_add(1, std::memory_order_relaxed);
  }
}

// Sleeps until `deadline_ns` on the monotonic clock, or until StopTicker wakes it: a futex wait
// with an absolute deadline (one system call and one timer, as clock_nanosleep), so that stopping
// does not wait out the period (at 10 Hz every profiled process's exit took up to 100 ms longer).
// False when stopped.
bool SleepUntil(Session* s, uint64_t deadline_ns) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "the futex word is the atomic itself");
  timespec deadline{static_cast<time_t>(deadline_ns / 1000000000ull), static_cast<long>(deadline_ns % 1000000000ull)};
  for (;;) {
    // FUTEX_WAIT_BITSET takes an absolute time on CLOCK_MONOTONIC; it returns at once if the word
    // is no longer 0 (stopped), and honours the thread's timer slack as clock_nanosleep does.
    long r = syscall(SYS_futex, reinterpret_cast<uint32_t*>(&s->ticker_stop), FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0u, &deadline,
                     nullptr, FUTEX_BITSET_MATCH_ANY);
    if (s->ticker_stop.load(std::memory_order_relaxed) != 0) return false;
    if (r == 0 || errno == EINTR) {
      if (MonoNs() < deadline_ns) continue;  // a spurious or signal wake-up before the deadline
    }
    return true;  // ETIMEDOUT (or the deadline has passed)
  }
}

}  // namespace

void StopTicker(Session* s) {
  if (!s->ticker.joinable()) return;
  s->ticker_stop.store(1);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&s->ticker_stop), FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, nullptr, nullptr, 0);
  s->ticker.join();
}

// Every period: in wall mode, signals every thread; in cpu mode, each thread that has run at least a
// period of CPU time since its last signal (read from its CPU clock), so that samples are spread by
// CPU time at any rate, past the kernel tick that limits CPU-time timers.
//
// Ticks follow a fixed grid. When this thread was kept from running (2 busy cores, say) and is behind
// the grid, or a thread still owes a period of CPU time, the next tick comes half a period later
// instead, so the missed samples are taken soon, each at its own moment, rather than lost or taken in
// a burst; each sample's weights are the time and CPU time since the thread's previous one.
void TickerLoop(Session* s) {
  pthread_setname_np(pthread_self(), "vmprof-sampler");
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // wake on time (the default slack is 50 µs)
  // Where allowed (root, CAP_SYS_NICE or an RLIMIT_RTPRIO), the lowest real-time priority, so that a
  // tick is not late when runnable threads outnumber cores (measured: 16 busy workers on 2 cores at
  // load 10, wall mode at 200 Hz: 142-201 samples per thread-second without, 191-201 with). Its work
  // per tick is bounded (a few syscalls per thread), and the kernel's real-time throttling caps it.
  sched_param sp{};
  sp.sched_priority = 1;
  s->realtime_sampler = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
  const uint64_t period = s->options.period_us * 1000;
  const pid_t pid = g_pid.load();
  const uid_t uid = getuid();
  uint64_t ticks = 0;
  uint64_t grid = MonoNs();  // the next tick on the grid
  uint64_t next = grid;
  while (!s->ticker_stop.load(std::memory_order_relaxed)) {
    if (!SleepUntil(s, next)) break;
    uint64_t now = MonoNs();
    grid += period;
    if (now > grid + kMaxBehind * period) {  // suspended or starved for long: start afresh
      // In wall mode every thread lost those ticks; in cpu mode the next samples' CPU weights cover them.
      uint64_t missed = (now - grid) / period;
      std::lock_guard<std::mutex> lock(s->targets_mu);
      if (!s->options.cpu_mode)
        for (ThreadState* ts : s->targets) ts->dropped[kDropLate].fetch_add(missed, std::memory_order_relaxed);
      grid = now;
    }
    // A program or addon may have replaced our handler, or another profiler installed its SIGPROF
    // handler: looked at every 16 ticks (system calls).
    if (++ticks % 16 == 0) {
      if (!SampleHandlerInstalled()) {
        ReinstallSampleHandler();
        s->handler_reinstalled.fetch_add(1, std::memory_order_relaxed);
      }
      ShieldFromProfilerHandlers();
    }
    uint64_t tick_us = (now - s->mono0_ns) / 1000;
    bool owing = false;
    {
      std::lock_guard<std::mutex> lock(s->targets_mu);
      for (ThreadState* ts : s->targets) {
        if (s->options.cpu_mode) {
          uint64_t cpu = ClockNs(ts->cpu_clock);
          ts->owed_ns += cpu > ts->tick_cpu_ns ? cpu - ts->tick_cpu_ns : 0;
          ts->tick_cpu_ns = cpu;
          if (ts->owed_ns < period) continue;
          // One signal per tick; what is owed beyond it (up to kMaxBehind periods) is paid by the
          // half-period ticks that follow.
          ts->owed_ns = std::min(ts->owed_ns - period, kMaxBehind * period);
          owing = owing || ts->owed_ns >= period;
        }
        Signal(ts, tick_us, now, pid, uid);
      }
    }
    next = (owing || now >= grid) ? now + period / 2 : grid;
  }
}

void ArmTimer(Session* s, ThreadState* ts) {
  std::lock_guard<std::mutex> lock(s->targets_mu);
  ts->tick_cpu_ns = ClockNs(ts->cpu_clock);
  ts->owed_ns = 0;
  ts->window_start_ns = 0;
  ts->window_min_pending = UINT64_MAX;
  s->targets.push_back(ts);
}

void DisarmTimer(Session* s, ThreadState* ts) {
  ts->sampling.store(false);
  std::lock_guard<std::mutex> lock(s->targets_mu);
  auto it = std::find(s->targets.begin(), s->targets.end(), ts);
  if (it != s->targets.end()) s->targets.erase(it);
}

}  // namespace vmprof
