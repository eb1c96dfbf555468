// The session API of profiler.h, called from JS (addon.cc) on the caller's JS thread, and from the
// environment cleanup hook on an exiting isolate's own thread. It creates and frees the shared state
// (state.h), starts and joins the sampler and writer threads. It may allocate and lock (g_mu, then
// Session::mu or Session::targets_mu).
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <v8.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "state.h"

namespace vmprof {

std::mutex g_mu;
Session* g_session = nullptr;
std::atomic<Session*> g_signal_session{nullptr};
thread_local ThreadState* tls_state __attribute__((tls_model("initial-exec"))) = nullptr;
struct sigaction g_previous_term[NSIG];
std::atomic<uint64_t> g_jit_events_lost{0};

namespace {

// The counters of a session (samples written or pending). Caller holds s->mu.
Stats StatsOf(Session* s) {
  Stats st;
  st.samples = s->samples + s->pending_samples;
  st.threads = s->next_thread_id - 1;
  st.dropped = Dropped(s, -1);
  st.timer = s->timer_kind;
  st.error = s->error;
  for (const auto& [file, url] : s->source_maps)
    if (url.empty()) st.scripts.push_back(file);
  return st;
}

}  // namespace

bool Start(int fd, const Options& options, const MetaEntries& meta, const std::string& process_name,
           std::string* error) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_session != nullptr && !g_session->finished) {
    *error = "the profiler is already enabled";
    return false;
  }
  if (!InstallSampleHandler(error)) return false;
  if (options.native && !LoadUnwinder(error)) return false;
  auto* s = new Session();  // never freed: JIT handlers of live workers may still look at their state
  s->fd = fd;
  s->options = options;
  if (options.native) s->symbols = std::make_unique<Symbolizer>(s->functions);
  if (s->options.max_depth == 0 || s->options.max_depth > kMaxDepthCap) s->options.max_depth = kMaxDepthCap;
  s->mono0_ns = MonoNs();
  uint64_t start_us = EpochUs();
  Bytes out;
  EncodeHeader(out);
  MetaEntries all = meta;
  all.push_back({"start_time", MetaValue{MetaValue::kInt, {}, static_cast<int64_t>(start_us), {}}});
  all.push_back({"mode", MetaValue{MetaValue::kString, options.cpu_mode ? "cpu" : "wall", 0, {}}});
  all.push_back({"period_us", MetaValue{MetaValue::kInt, {}, static_cast<int64_t>(options.period_us), {}}});
  all.push_back({"max_depth", MetaValue{MetaValue::kInt, {}, static_cast<int64_t>(s->options.max_depth), {}}});
  if (options.native) all.push_back({"native_frames", MetaValue{MetaValue::kString, "libunwind", 0, {}}});
  EncodeMeta(out, 0, all);
  EncodeProcess(out, static_cast<uint64_t>(getpid()), static_cast<uint64_t>(getppid()), start_us, process_name);
  if (!WriteAll(s, out.data)) {
    *error = s->error;
    delete s;
    return false;
  }
  if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    delete s;
    return false;
  }
  s->last_flush_ns = MonoNs();
  // Our threads must never take the program's signals nor ours: block them while they are created
  // (they inherit the mask).
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SampleSignal());
  sigaddset(&block, SIGPROF);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  s->writer = std::thread(WriterLoop, s);
  s->ticker = std::thread(TickerLoop, s);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  s->timer_kind = options.cpu_mode ? "thread-cpu-clock" : "wall-clock";
  g_session = s;
  g_signal_session.store(s);
  if (options.native) g_objects_wake_fd.store(s->wake[1]);
  return true;
}

bool AddThread(v8::Isolate* isolate, const std::string& name, uint8_t kind, std::string* error) {
  std::lock_guard<std::mutex> lock(g_mu);
  Session* s = g_session;
  if (s == nullptr || s->finished) {
    *error = "the profiler is not enabled";
    return false;
  }
  if (tls_state != nullptr && tls_state->collecting.load()) {
    *error = "this thread is already profiled";
    return false;
  }
  if (tls_state == nullptr) {
    auto* fresh = new ThreadState();
    fresh->isolate = isolate;
    fresh->tid = static_cast<pid_t>(syscall(SYS_gettid));
    pthread_getcpuclockid(pthread_self(), &fresh->cpu_clock);
    fresh->ring.reset(new uint64_t[kRingWords]);
    fresh->frame_buffer.reset(new void*[kMaxDepthCap]);
    // Touched now: no page faults in the signal handler.
    std::memset(fresh->ring.get(), 0, kRingWords * sizeof(uint64_t));
    std::memset(fresh->frame_buffer.get(), 0, kMaxDepthCap * sizeof(void*));
    std::atomic_signal_fence(std::memory_order_seq_cst);
    tls_state = fresh;
  }
  ThreadState* ts = tls_state;
  ts->max_depth = s->options.max_depth;
  ts->lines = s->options.lines;
  ts->name = name;
  ts->kind = kind;
  ts->head = 0;
  ts->tail = 0;
  for (auto& d : ts->dropped) d = 0;
  ts->handler_ns = 0;
  ts->handler_samples = 0;
  ts->thread_written = false;
  ts->last_time_us = (MonoNs() - s->mono0_ns) / 1000;
  ts->last_cpu_ns = ClockNs(CLOCK_THREAD_CPUTIME_ID);
  ts->line_info.clear();
  ts->scripts_seen.clear();
  // Not sampling yet: the handler, which runs on this thread, does not look at `native` now.
  if (s->options.native) {
    if (!ts->native) {
      ts->native = std::make_unique<NativeThread>();
      std::memset(static_cast<void*>(ts->native.get()), 0, sizeof(NativeThread));  // touched now: no page faults in the handler
    }
    WarmUpUnwinder(isolate, ts->native.get());
  } else {
    ts->native.reset();
  }
  {
    std::lock_guard<std::mutex> l(s->mu);
    ts->codemap = std::make_unique<CodeMap>(s->functions);
    ts->codemap->RefreshAliases();
    ts->cols.clear();
    ts->stack_cache = ThreadState::StackCache();
    ts->format_id = s->next_thread_id++;
    s->threads.push_back(ts);
  }
  ts->collecting.store(true);
  RegisterIsolate(ts);
  // Replays the code that exists already, then reports code as it is created and moved.
  isolate->SetJitCodeEventHandler(v8::kJitCodeEventEnumExisting, OnJitCodeEvent);
  ts->sampling.store(true);
  ArmTimer(s, ts);
  return true;
}

void IsolateExiting(v8::Isolate* isolate) {
  ThreadState* ts = tls_state;
  if (ts == nullptr || ts->isolate != isolate) return;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    Session* s = g_session;
    if (s != nullptr) {
      DisarmTimer(s, ts);  // no new ticks; ones already queued find sampling off, then no state
      std::lock_guard<std::mutex> l(s->mu);
      auto it = std::find(s->threads.begin(), s->threads.end(), ts);
      if (it != s->threads.end()) {
        if (!s->finished) {
          Drain(s, ts, true);
          Flush(s);
        }
        for (int r = 0; r < kDropReasons; r++) s->dropped_retired[r] += ts->dropped[r].load();
        s->handler_ns_retired += ts->handler_ns.load();
        s->handler_samples_retired += ts->handler_samples.load();
        s->threads.erase(it);
      }
    }
  }
  ts->collecting.store(false);
  isolate->SetJitCodeEventHandler(v8::kJitCodeEventDefault, nullptr);
  // The handler runs on this thread, and on GC helpers through the registry: once neither can see
  // the state, the state can go.
  UnregisterIsolate(ts);
  tls_state = nullptr;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  delete ts;
}

Stats Stop() {
  std::lock_guard<std::mutex> lock(g_mu);
  Session* s = g_session;
  Stats st;
  if (s == nullptr) return st;
  if (s->writer.joinable()) {
    if (s->writer.get_id() == std::this_thread::get_id()) {
      s->writer.detach();
    } else {
      char c = 0;
      (void)!write(s->wake[1], &c, 1);
      s->writer.join();
    }
  }
  StopTicker(s);
  g_signal_session.store(nullptr);  // termination signals now take their default action again
  g_objects_wake_fd.store(-1);
  {
    std::lock_guard<std::mutex> l(s->mu);
    Finish(s);
    st = StatsOf(s);
  }
  // The caller's own code events end here (its ThreadState stays, for a later session).
  if (tls_state != nullptr && tls_state->isolate != nullptr) tls_state->isolate->SetJitCodeEventHandler(v8::kJitCodeEventDefault, nullptr);
  return st;
}

bool ReleaseThread(v8::Isolate* isolate) {
  ThreadState* ts = tls_state;
  if (ts == nullptr || ts->isolate != isolate) return true;
  if (ts->collecting.load()) return false;
  isolate->SetJitCodeEventHandler(v8::kJitCodeEventDefault, nullptr);
  return true;
}

bool IsEnabled() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_session == nullptr) return false;
  std::lock_guard<std::mutex> l(g_session->mu);  // the writer may finish it (control pipe closed)
  return !g_session->finished;
}

Stats CurrentStats() {
  std::lock_guard<std::mutex> lock(g_mu);
  Stats st;
  Session* s = g_session;
  if (s == nullptr) return st;
  std::lock_guard<std::mutex> l(s->mu);
  return StatsOf(s);
}

void InstallTerminationHandlers() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction current;
    if (sigaction(sig, nullptr, &current) != 0) continue;
    // Ignored signals stay ignored (nohup). Node's own handler (it resets the terminal, then dies of
    // the signal) runs after ours, when the profile is complete.
    if (!(current.sa_flags & SA_SIGINFO) && (current.sa_handler == SIG_IGN || current.sa_handler == OnTerminationSignal)) continue;
    g_previous_term[sig] = current;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnTerminationSignal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
}

}  // namespace vmprof
