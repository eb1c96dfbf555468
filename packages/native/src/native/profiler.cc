// The sampler and the writer thread. Which thread runs what is said above each part; see profiler.h.
#include "profiler.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>
#include <v8.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "codemap.h"

namespace vmprof {
namespace {

constexpr uint32_t kMaxDepthCap = 1024;
constexpr uint64_t kRingWords = 1 << 17;  // 1 MiB per thread: seconds of samples at 1 kHz
constexpr uint64_t kHeaderWords = 5;       // ring words of a sample before its frames
constexpr uint64_t kFlushIntervalNs = 1000000000;  // write at least once a second
constexpr int kTickMs = 100;                       // how often the writer drains the rings
constexpr size_t kFlushSamples = 8192;             // or sooner, when this many are pending
int kTickTag;                                      // its address marks the sampler thread's signals

uint64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}
uint64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}
uint64_t EpochUs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000ull + ts.tv_nsec / 1000;
}

// VM states of SPEC.md from V8's StateTag.
uint8_t FormatState(v8::StateTag s) {
  switch (s) {
    case v8::JS: return 0;
    case v8::GC: return 1;
    case v8::BYTECODE_COMPILER:
    case v8::COMPILER: return 2;
    case v8::PARSER: return 3;
    case v8::EXTERNAL: return 4;
    case v8::ATOMICS_WAIT:
    case v8::IDLE: return 5;
    default: return 6;
  }
}

// Per-isolate state. Created and destroyed on the isolate's own thread.
struct ThreadState {
  v8::Isolate* isolate = nullptr;
  pid_t tid = 0;
  uint32_t max_depth = 256;
  // Set by the JS thread (start/stop); read by the signal handler and the JIT handler.
  std::atomic<bool> sampling{false};
  std::atomic<bool> collecting{false};
  // One counter orders this thread's samples against its code events.
  std::atomic<uint64_t> seq{0};
  // Single-producer (signal handler) single-consumer (writer) ring of 64-bit words. A sample is
  // [seq, monotonic ns, thread CPU ns, state << 32 | frame count, pc, frames...].
  std::unique_ptr<uint64_t[]> ring;
  std::atomic<uint64_t> head{0}, tail{0};
  std::atomic<uint64_t> dropped{0};
  // The sampler thread's view of this thread (under Session::targets_mu).
  clockid_t cpu_clock{};
  uint64_t tick_cpu_ns = 0;  // its CPU clock at the last tick
  uint64_t owed_ns = 0;      // CPU time run since its last signal (cpu mode)
  // Signals sent by the sampler thread and taken by the handler; they differ while one is pending.
  std::atomic<uint64_t> sent{0}, received{0};
  // Code events, made on the JS thread, taken by the writer.
  std::mutex events_mu;
  std::vector<RawCodeEvent> events;
  std::unordered_map<uintptr_t, std::unique_ptr<std::vector<std::pair<uint32_t, uint32_t>>>> line_info;  // JS thread
  std::unordered_map<int, bool> scripts_seen;                                                            // JS thread
  // Writer side (under Session::mu).
  uint32_t format_id = 0;
  std::string name;
  uint8_t kind = 0;
  bool thread_written = false;
  std::unique_ptr<CodeMap> codemap;
  SampleColumns cols;
  uint64_t last_time_us = 0, last_cpu_ns = 0;
};

thread_local ThreadState* tls_state __attribute__((tls_model("initial-exec"))) = nullptr;

// One recording.
struct Session {
  int fd = -1;
  Options options;
  uint64_t mono0_ns = 0;
  std::string timer_kind;
  std::mutex targets_mu;  // guards targets and their sampler-thread fields
  std::vector<ThreadState*> targets;
  std::thread ticker;
  std::atomic<bool> ticker_stop{false};
  std::mutex mu;  // guards everything below and the writer side of every ThreadState
  std::vector<ThreadState*> threads;
  FunctionTable functions;                          // every function seen in code events
  std::unordered_map<uint32_t, uint32_t> function_ids;  // table index -> format id, for those sampled
  std::vector<uint32_t> functions_pending;          // table indexes given an id since the last flush
  std::unordered_map<uint64_t, uint32_t> frame_ids;  // function << 8 | tier
  std::vector<std::pair<uint32_t, uint8_t>> frames_pending;
  uint32_t frame_count = 0;
  std::unordered_map<uint64_t, uint32_t> stack_ids;  // parent << 32 | frame
  std::vector<std::pair<uint32_t, uint32_t>> stacks_pending;  // (parent, frame)
  uint32_t stack_count = 0;
  uint32_t next_thread_id = 1;
  uint32_t unknown_function = 0, truncated_function = 0;
  uint64_t samples = 0, dropped_retired = 0;
  uint64_t last_flush_ns = 0;
  size_t pending_samples = 0;
  std::string error;
  bool finished = false;
  std::thread writer;
  int wake[2] = {-1, -1};  // the writer polls wake[0]; a byte wakes it (a signal number: finish)
  std::vector<ResolvedFrame> scratch;
};

std::mutex g_mu;  // guards g_session (the pointer) for Start/Stop/AddThread
Session* g_session = nullptr;
std::atomic<Session*> g_signal_session{nullptr};  // read by the termination signal handler
struct sigaction g_previous_prof;
bool g_prof_installed = false;
struct sigaction g_previous_term[NSIG];  // what SIGINT/SIGTERM/SIGHUP did before our handler

// ---- Signal handler (runs on the interrupted JS thread: async-signal-safe code only) ----

void TakeSample(ThreadState* ts, void* context) {
  uint64_t seq = ts->seq.fetch_add(1, std::memory_order_relaxed);
  uint64_t now = MonoNs();
  uint64_t cpu = ThreadCpuNs();
  v8::RegisterState regs;
  const ucontext_t* uc = static_cast<const ucontext_t*>(context);
#if defined(__x86_64__)
  regs.pc = reinterpret_cast<void*>(uc->uc_mcontext.gregs[REG_RIP]);
  regs.sp = reinterpret_cast<void*>(uc->uc_mcontext.gregs[REG_RSP]);
  regs.fp = reinterpret_cast<void*>(uc->uc_mcontext.gregs[REG_RBP]);
#elif defined(__aarch64__)
  regs.pc = reinterpret_cast<void*>(uc->uc_mcontext.pc);
  regs.sp = reinterpret_cast<void*>(uc->uc_mcontext.sp);
  regs.fp = reinterpret_cast<void*>(uc->uc_mcontext.regs[29]);
  regs.lr = reinterpret_cast<void*>(uc->uc_mcontext.regs[30]);
#else
#error "unsupported architecture"
#endif
  void* frames[kMaxDepthCap];
  v8::SampleInfo info;
  info.frames_count = 0;
  info.vm_state = v8::OTHER;
  ts->isolate->GetStackSample(regs, frames, ts->max_depth, &info);
  uint64_t n = info.frames_count;
  uint64_t head = ts->head.load(std::memory_order_relaxed);
  uint64_t tail = ts->tail.load(std::memory_order_acquire);
  if (head - tail + kHeaderWords + n > kRingWords) {
    ts->dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint64_t* ring = ts->ring.get();
  constexpr uint64_t mask = kRingWords - 1;
  ring[head & mask] = seq;
  ring[(head + 1) & mask] = now;
  ring[(head + 2) & mask] = cpu;
  ring[(head + 3) & mask] = static_cast<uint64_t>(FormatState(info.vm_state)) << 32 | n;
  ring[(head + 4) & mask] = reinterpret_cast<uintptr_t>(regs.pc);
  for (uint64_t i = 0; i < n; i++) ring[(head + kHeaderWords + i) & mask] = reinterpret_cast<uintptr_t>(frames[i]);
  ts->head.store(head + kHeaderWords + n, std::memory_order_release);
}

void OnProfSignal(int sig, siginfo_t* si, void* context) {
  int saved_errno = errno;
  ThreadState* ts = tls_state;
  if (si->si_code == SI_QUEUE && si->si_pid == getpid() && si->si_value.sival_ptr == &kTickTag) {
    if (ts != nullptr) {  // else a tick that arrived after the thread left the session
      ts->received.fetch_add(1, std::memory_order_relaxed);
      if (ts->sampling.load(std::memory_order_relaxed)) TakeSample(ts, context);
    }
  } else if ((g_previous_prof.sa_flags & SA_SIGINFO) && g_previous_prof.sa_sigaction != nullptr) {
    g_previous_prof.sa_sigaction(sig, si, context);
  } else if (!(g_previous_prof.sa_flags & SA_SIGINFO) && g_previous_prof.sa_handler != SIG_DFL &&
             g_previous_prof.sa_handler != SIG_IGN) {
    g_previous_prof.sa_handler(sig);
  }  // a stray SIGPROF with no previous handler is ignored rather than killing the process
  errno = saved_errno;
}

void OnTerminationSignal(int sig) {
  int saved_errno = errno;
  Session* s = g_signal_session.load();
  if (s != nullptr && s->wake[1] >= 0) {
    char c = static_cast<char>(sig);
    (void)!write(s->wake[1], &c, 1);
  } else {
    sigaction(sig, &g_previous_term[sig], nullptr);
    raise(sig);
  }
  errno = saved_errno;
}

// ---- The sampler thread: one per session, it signals each sampled thread alone ----
//
// Why not a timer per thread (timer_create with SIGEV_THREAD_ID, or a perf task-clock event): on
// this kind of virtual machine, a timer expiring on the CPU the sampled thread runs on costs that
// thread 22-33 µs per expiry (the emulated timer interrupt and its re-arm), a 2-3.5% slowdown at
// 1 kHz before any sampling work; a signal sent from another thread costs it about 9 µs.

uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  if (clock_gettime(clock, &ts) != 0) return 0;
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

void Signal(ThreadState* ts) {
  if (ts->sent.load(std::memory_order_relaxed) != ts->received.load(std::memory_order_relaxed)) {
    ts->dropped.fetch_add(1, std::memory_order_relaxed);  // the previous one is still pending
    return;
  }
  siginfo_t si;
  std::memset(&si, 0, sizeof si);
  si.si_signo = SIGPROF;
  si.si_code = SI_QUEUE;
  si.si_pid = getpid();
  si.si_uid = getuid();
  si.si_value.sival_ptr = &kTickTag;
  ts->sent.fetch_add(1, std::memory_order_relaxed);
  if (syscall(SYS_rt_tgsigqueueinfo, getpid(), ts->tid, SIGPROF, &si) != 0) ts->sent.fetch_sub(1, std::memory_order_relaxed);
}

// Every period: in wall mode, signals every thread; in cpu mode, each thread that has run at least a
// period of CPU time since its last signal (read from its CPU clock), so that samples are spread by
// CPU time at any rate, past the kernel tick that limits CPU-time timers.
void TickerLoop(Session* s) {
  const uint64_t period = s->options.period_us * 1000;
  uint64_t next = MonoNs();
  while (!s->ticker_stop.load(std::memory_order_relaxed)) {
    next += period;
    timespec deadline{static_cast<time_t>(next / 1000000000ull), static_cast<long>(next % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
    }
    uint64_t now = MonoNs();
    if (now > next + 10 * period) next = now;  // after a long stall (suspended), do not catch up
    std::lock_guard<std::mutex> lock(s->targets_mu);
    for (ThreadState* ts : s->targets) {
      if (s->options.cpu_mode) {
        uint64_t cpu = ClockNs(ts->cpu_clock);
        ts->owed_ns += cpu > ts->tick_cpu_ns ? cpu - ts->tick_cpu_ns : 0;
        ts->tick_cpu_ns = cpu;
        if (ts->owed_ns < period) continue;
        ts->owed_ns = std::min(ts->owed_ns - period, period);  // at most one signal per tick
      }
      Signal(ts);
    }
  }
}

void ArmTimer(Session* s, ThreadState* ts) {
  std::lock_guard<std::mutex> lock(s->targets_mu);
  ts->tick_cpu_ns = ClockNs(ts->cpu_clock);
  ts->owed_ns = 0;
  s->targets.push_back(ts);
}

void DisarmTimer(Session* s, ThreadState* ts) {
  ts->sampling.store(false);
  std::lock_guard<std::mutex> lock(s->targets_mu);
  auto it = std::find(s->targets.begin(), s->targets.end(), ts);
  if (it != s->targets.end()) s->targets.erase(it);
}

// ---- JIT code event handler (on the isolate's JS thread) ----

void OnJitCodeEvent(const v8::JitCodeEvent* e) {
  ThreadState* ts = tls_state;
  if (ts == nullptr || !ts->collecting.load(std::memory_order_relaxed)) return;
  using Positions = std::vector<std::pair<uint32_t, uint32_t>>;
  switch (e->type) {
    case v8::JitCodeEvent::CODE_START_LINE_INFO_RECORDING:
      const_cast<v8::JitCodeEvent*>(e)->user_data = new Positions();
      return;
    case v8::JitCodeEvent::CODE_ADD_LINE_POS_INFO:
      if (e->user_data != nullptr && e->line_info.position_type == v8::JitCodeEvent::POSITION)
        static_cast<Positions*>(e->user_data)
            ->emplace_back(static_cast<uint32_t>(e->line_info.offset), static_cast<uint32_t>(e->line_info.pos));
      return;
    case v8::JitCodeEvent::CODE_END_LINE_INFO_RECORDING:
      if (e->user_data != nullptr)
        ts->line_info[reinterpret_cast<uintptr_t>(e->code_start)].reset(static_cast<Positions*>(e->user_data));
      return;
    case v8::JitCodeEvent::CODE_ADDED: {
      RawCodeEvent ev;
      ev.type = RawCodeEvent::kAdded;
      ev.bytecode = e->code_type == v8::JitCodeEvent::BYTE_CODE;
      ev.start = reinterpret_cast<uintptr_t>(e->code_start);
      ev.size = e->code_len;
      ev.name.assign(e->name.str, e->name.len);
      auto li = ts->line_info.find(ev.start);
      if (li != ts->line_info.end()) {
        ev.positions = std::move(*li->second);
        ts->line_info.erase(li);
        std::stable_sort(ev.positions.begin(), ev.positions.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      if (!e->script.IsEmpty()) {
        ev.script_id = e->script->GetId();
        if (ts->scripts_seen.emplace(ev.script_id, true).second) {
          v8::HandleScope scope(ts->isolate);
          v8::Local<v8::Value> name = e->script->GetScriptName();
          if (!name.IsEmpty() && name->IsString()) {
            v8::String::Utf8Value utf8(ts->isolate, name);
            if (*utf8 != nullptr) ev.script_name.assign(*utf8, utf8.length());
          }
        }
      }
      ev.seq = ts->seq.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(ts->events_mu);
      ts->events.push_back(std::move(ev));
      return;
    }
    case v8::JitCodeEvent::CODE_MOVED: {
      RawCodeEvent ev;
      ev.type = RawCodeEvent::kMoved;
      ev.start = reinterpret_cast<uintptr_t>(e->code_start);
      ev.new_start = reinterpret_cast<uintptr_t>(e->new_code_start);
      ev.seq = ts->seq.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard<std::mutex> lock(ts->events_mu);
      ts->events.push_back(std::move(ev));
      return;
    }
    default:
      return;
  }
}

// ---- Writer side (writer thread, or a JS thread holding Session::mu) ----

bool WriteAll(Session* s, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(s->fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (s->error.empty()) s->error = std::string("write: ") + std::strerror(n < 0 ? errno : EIO);
      return false;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

uint32_t FrameId(Session* s, uint32_t index, uint8_t tier) {
  auto [fit, fnew] = s->function_ids.emplace(index, static_cast<uint32_t>(s->function_ids.size() + 1));
  if (fnew) s->functions_pending.push_back(index);
  uint32_t function = fit->second;
  auto [it, inserted] = s->frame_ids.emplace(static_cast<uint64_t>(function) << 8 | tier, s->frame_count + 1);
  if (inserted) {
    s->frame_count++;
    s->frames_pending.emplace_back(function, tier);
  }
  return it->second;
}

uint32_t StackId(Session* s, uint32_t parent, uint32_t frame) {
  auto [it, inserted] = s->stack_ids.emplace(static_cast<uint64_t>(parent) << 32 | frame, s->stack_count + 1);
  if (inserted) {
    s->stack_count++;
    s->stacks_pending.emplace_back(parent, frame);
  }
  return it->second;
}

uint32_t PseudoFunction(Session* s, uint32_t* cache, const char* name) {
  if (*cache == 0) {
    FunctionDesc f;
    f.kind = kKindOther;
    f.name = name;
    *cache = s->functions.Intern(f);
  }
  return *cache;
}

void AddSample(Session* s, ThreadState* ts, uint64_t mono_ns, uint64_t cpu_ns, uint8_t state, uint64_t pc,
               const uint64_t* frames, uint64_t n) {
  std::vector<ResolvedFrame>& out = s->scratch;
  out.clear();
  if (n >= ts->max_depth) out.push_back({PseudoFunction(s, &s->truncated_function, "(truncated stack)"), kTierUnknown});
  // GetStackSample starts from the interrupted frame's return address (or, for an interpreted frame,
  // its bytecode offset), so the code running at pc is not among the frames: add it, as V8's own
  // profiler does, when pc is in JS code (not in the interpreter running frame 0's bytecode, nor in a
  // builtin or stub, whose time stays with their caller as in V8's profiles).
  for (uint64_t i = n; i-- > 0;) {
    if (!ts->codemap->Resolve(frames[i], i != 0 || pc != frames[0], out))
      out.push_back({PseudoFunction(s, &s->unknown_function, "(unknown code)"), kTierUnknown});
  }
  if (n == 0 || pc != frames[0]) ts->codemap->ResolveJS(pc, out);
  uint32_t stack = 0;
  for (const auto& f : out) stack = StackId(s, stack, FrameId(s, f.function, f.tier));
  uint64_t t = mono_ns > s->mono0_ns ? (mono_ns - s->mono0_ns) / 1000 : 0;
  if (t < ts->last_time_us) t = ts->last_time_us;
  uint64_t wall = t - ts->last_time_us;
  uint64_t cpu = cpu_ns / 1000 > ts->last_cpu_ns / 1000 ? cpu_ns / 1000 - ts->last_cpu_ns / 1000 : 0;
  ts->last_time_us = t;
  if (cpu_ns > ts->last_cpu_ns) ts->last_cpu_ns = cpu_ns;
  ts->cols.time.push_back(t);
  ts->cols.wall.push_back(wall);
  ts->cols.cpu.push_back(cpu);
  ts->cols.state.push_back(state);
  ts->cols.stack.push_back(stack);
  s->pending_samples++;
}

// Moves everything the thread sampled so far into its columns, applying code events in order.
void Drain(Session* s, ThreadState* ts) {
  uint64_t head = ts->head.load(std::memory_order_acquire);
  std::vector<RawCodeEvent> events;
  {
    std::lock_guard<std::mutex> lock(ts->events_mu);
    events.swap(ts->events);
  }
  size_t ei = 0;
  uint64_t tail = ts->tail.load(std::memory_order_relaxed);
  const uint64_t* ring = ts->ring.get();
  constexpr uint64_t mask = kRingWords - 1;
  uint64_t frames[kMaxDepthCap];
  while (tail != head) {
    uint64_t seq = ring[tail & mask];
    uint64_t mono = ring[(tail + 1) & mask];
    uint64_t cpu = ring[(tail + 2) & mask];
    uint64_t word = ring[(tail + 3) & mask];
    uint64_t n = word & 0xffffffffu;
    uint64_t pc = ring[(tail + 4) & mask];
    for (uint64_t i = 0; i < n; i++) frames[i] = ring[(tail + kHeaderWords + i) & mask];
    tail += kHeaderWords + n;
    while (ei < events.size() && events[ei].seq < seq) ts->codemap->Apply(events[ei++]);
    AddSample(s, ts, mono, cpu, static_cast<uint8_t>(word >> 32), pc, frames, n);
  }
  ts->tail.store(tail, std::memory_order_release);
  for (; ei < events.size(); ei++) ts->codemap->Apply(events[ei]);
}

// Writes definitions made since the last flush, then every pending sample.
void Flush(Session* s) {
  Bytes out;
  for (ThreadState* ts : s->threads) {
    if (ts->thread_written) continue;
    Bytes p;
    p.uv(1);
    p.uv(static_cast<uint64_t>(ts->tid));
    p.str(ts->name);
    p.u8(ts->kind);
    out.record(kThread, p);
    ts->thread_written = true;
  }
  for (uint32_t index : s->functions_pending) {
    const FunctionDesc& f = s->functions.all()[index - 1];
    Bytes p;
    p.u8(f.kind);
    p.str(f.name);
    p.str(f.file);
    p.uv(f.line);
    p.uv(f.column);
    out.record(kFunction, p);
  }
  s->functions_pending.clear();
  for (const auto& [function, tier] : s->frames_pending) {
    Bytes p;
    p.uv(function);
    p.u8(tier);
    out.record(kFrame, p);
  }
  s->frames_pending.clear();
  uint32_t first = s->stack_count - static_cast<uint32_t>(s->stacks_pending.size()) + 1;
  for (size_t i = 0; i < s->stacks_pending.size();) {
    size_t end = std::min(s->stacks_pending.size(), i + 500000);
    Bytes p;
    p.uv(end - i);
    for (; i < end; i++) {
      uint32_t id = first + static_cast<uint32_t>(i);
      uint32_t parent = s->stacks_pending[i].first;
      p.uv(parent == 0 ? id : id - parent);
      p.uv(s->stacks_pending[i].second);
    }
    out.record(kStacks, p);
  }
  s->stacks_pending.clear();
  for (ThreadState* ts : s->threads) {
    if (ts->cols.size() == 0) continue;
    EncodeSamples(out, ts->format_id, ts->cols, 0, ts->cols.size(), s->options.compress);
    s->samples += ts->cols.size();
    ts->cols.clear();
  }
  s->pending_samples = 0;
  s->last_flush_ns = MonoNs();
  if (!out.data.empty() && s->error.empty()) WriteAll(s, out.data);
}

uint64_t Dropped(Session* s) {
  uint64_t d = s->dropped_retired;
  for (ThreadState* ts : s->threads) d += ts->dropped.load();
  return d;
}

// Finishes the session: final drain, counters, END. Caller holds s->mu.
void Finish(Session* s) {
  if (s->finished) return;
  for (ThreadState* ts : s->threads) DisarmTimer(s, ts);
  for (ThreadState* ts : s->threads) Drain(s, ts);
  Flush(s);
  for (ThreadState* ts : s->threads) ts->collecting.store(false);
  Bytes out;
  MetaEntries meta;
  meta.push_back({"samples", MetaValue{MetaValue::kInt, {}, static_cast<int64_t>(s->samples), {}}});
  meta.push_back({"dropped_samples", MetaValue{MetaValue::kInt, {}, static_cast<int64_t>(Dropped(s)), {}}});
  meta.push_back({"end_time", MetaValue{MetaValue::kInt, {}, static_cast<int64_t>(EpochUs()), {}}});
  if (!s->timer_kind.empty()) meta.push_back({"timer", MetaValue{MetaValue::kString, s->timer_kind, 0, {}}});
  EncodeMeta(out, 0, meta);
  Bytes end;
  out.record(kEnd, end);
  if (s->error.empty()) WriteAll(s, out.data);
  s->finished = true;
}

void WriterLoop(Session* s) {
  for (;;) {
    pollfd p{s->wake[0], POLLIN, 0};
    int r = poll(&p, 1, kTickMs);
    int sig = 0;
    if (r > 0) {
      char c = 0;
      if (read(s->wake[0], &c, 1) == 1) sig = c;
      if (sig == 0) return;  // Stop() asked us to end; it finishes the session itself
    }
    {
      std::lock_guard<std::mutex> lock(s->mu);
      if (s->finished) return;
      for (ThreadState* ts : s->threads) Drain(s, ts);
      if (sig != 0 || s->pending_samples >= kFlushSamples || MonoNs() - s->last_flush_ns >= kFlushIntervalNs) Flush(s);
      if (sig != 0) Finish(s);
    }
    if (sig != 0) {  // a termination signal: the file is complete; now let it do what it did before us
      sigaction(sig, &g_previous_term[sig], nullptr);
      kill(getpid(), sig);
      return;
    }
  }
}

}  // namespace

bool Start(int fd, const Options& options, const MetaEntries& meta, const std::string& process_name,
           std::string* error) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_session != nullptr && !g_session->finished) {
    *error = "the profiler is already enabled";
    return false;
  }
  auto* s = new Session();  // never freed: JIT handlers of live workers may still look at their state
  s->fd = fd;
  s->options = options;
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
  EncodeMeta(out, 0, all);
  Bytes p;
  p.uv(static_cast<uint64_t>(getpid()));
  p.uv(static_cast<uint64_t>(getppid()));
  p.uv(start_us);
  p.str(process_name);
  out.record(kProcess, p);
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
  if (!g_prof_installed) {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = OnProfSignal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, &g_previous_prof);
    g_prof_installed = true;
  }
  s->last_flush_ns = MonoNs();
  // The writer must never take our signals: block them while it is created (it inherits the mask).
  sigset_t block, old;
  sigemptyset(&block);
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
    tls_state = new ThreadState();
    tls_state->isolate = isolate;
    tls_state->tid = static_cast<pid_t>(syscall(SYS_gettid));
    pthread_getcpuclockid(pthread_self(), &tls_state->cpu_clock);
    tls_state->ring.reset(new uint64_t[kRingWords]);
    std::memset(tls_state->ring.get(), 0, kRingWords * sizeof(uint64_t));  // no page faults in the handler
  }
  ThreadState* ts = tls_state;
  ts->max_depth = s->options.max_depth;
  ts->name = name;
  ts->kind = kind;
  ts->head = 0;
  ts->tail = 0;
  ts->dropped = 0;
  ts->thread_written = false;
  ts->last_time_us = (MonoNs() - s->mono0_ns) / 1000;
  ts->last_cpu_ns = ThreadCpuNs();
  ts->line_info.clear();
  ts->scripts_seen.clear();
  {
    std::lock_guard<std::mutex> l(s->mu);
    ts->codemap = std::make_unique<CodeMap>(s->functions);
    ts->codemap->RefreshAliases();
    ts->cols.clear();
    ts->format_id = s->next_thread_id++;
    s->threads.push_back(ts);
  }
  ts->collecting.store(true);
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
      DisarmTimer(s, ts);
      std::lock_guard<std::mutex> l(s->mu);
      auto it = std::find(s->threads.begin(), s->threads.end(), ts);
      if (it != s->threads.end()) {
        if (!s->finished) {
          Drain(s, ts);
          Flush(s);
        }
        s->dropped_retired += ts->dropped.load();
        s->threads.erase(it);
      }
    }
  }
  ts->collecting.store(false);
  isolate->SetJitCodeEventHandler(v8::kJitCodeEventDefault, nullptr);
  tls_state = nullptr;
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
  if (s->ticker.joinable()) {
    s->ticker_stop.store(true);
    s->ticker.join();
  }
  g_signal_session.store(nullptr);  // termination signals now take their default action again
  {
    std::lock_guard<std::mutex> l(s->mu);
    Finish(s);
    st.samples = s->samples;
    st.dropped = Dropped(s);
    st.timer = s->timer_kind;
    st.error = s->error;
  }
  return st;
}

bool IsEnabled() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_session != nullptr && !g_session->finished;
}

Stats CurrentStats() {
  std::lock_guard<std::mutex> lock(g_mu);
  Stats st;
  Session* s = g_session;
  if (s == nullptr) return st;
  std::lock_guard<std::mutex> l(s->mu);
  st.samples = s->samples + s->pending_samples;
  st.dropped = Dropped(s);
  st.timer = s->timer_kind;
  st.error = s->error;
  return st;
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
