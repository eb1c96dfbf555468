// The state the sampler's threads share: one Session per recording, one ThreadState per profiled
// isolate. Each field says which thread writes it and who may read it; the files that use them say
// which thread runs their code:
//   signal.cc   the sample signal's handler, on the interrupted JS thread (async-signal-safe only)
//   ticker.cc   the sampler thread ("vmprof-sampler"), which signals each JS thread
//   jit.cc      the JIT code event handler, on the isolate's JS thread (code moves also on V8's GC helpers)
//   writer.cc   the writer thread ("vmprof-writer"): drain, resolve, intern, encode, write
//   session.cc  the API called from JS (Start, AddThread, Stop), on the caller's JS thread
//   labels.cc   the label-set registry: interned on JS threads, read by the writer (never the handler)
//   unwind.cc   native frames: loads libunwind and warms it up on each JS thread; lists the loaded
//               objects for the handler (the writer); the handler's walk and accessors are in signal.cc
//   symbols.cc  native frames: pcs to ELF symbols (the writer)
#pragma once

#include <signal.h>
#include <time.h>

#include <atomic>
#include <map>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "codemap.h"
#include "encoder.h"
#include "profiler.h"
#include "symbols.h"
#include "unwind.h"

namespace v8 { class Isolate; struct JitCodeEvent; }

namespace vmprof {

constexpr uint32_t kMaxDepthCap = 1024;          // frames per sample, at most
constexpr uint64_t kRingWords = 1 << 17;         // 1 MiB per thread: seconds of samples at 1 kHz
constexpr uint64_t kHeaderWords = 5;             // ring words of a sample before its frames
// The fourth header word of a sample: label set << 40 | VM state << 32 | native bits | frame count.
constexpr uint64_t kRingFrameMask = 0xfff;           // bits 0-11: JS frames (kMaxDepthCap fits)
constexpr int kRingInnerShift = 12;                   // bits 12-17: inner native pcs
constexpr int kRingOuterShift = 18;                   // bits 18-22: outer native pcs
constexpr int kRingInnerEndShift = 23;                // bits 23-24: how the inner walk ended (NativeEnd)
constexpr int kRingOuterEndShift = 25;                // bits 25-26: how the outer walk ended
constexpr uint64_t kRingReachedJS = uint64_t{1} << 27;  // the inner walk reached V8 code
constexpr uint64_t kRingNative = uint64_t{1} << 28;     // native frames were unwound for this sample
static_assert(kMaxDepthCap <= kRingFrameMask, "frame count field");
static_assert(kMaxInnerNative < 64 && kMaxOuterNative < 32, "native count fields");
// A tick's signal carries kTickMagic in its value's top 16 bits and the tick's time (µs since the
// session's origin) in the low 48: it tells our signals from anyone else's, and dates the sample.
constexpr uint64_t kTickMagic = 0x564d;          // "VM"
constexpr uint64_t kTickTimeMask = (uint64_t{1} << 48) - 1;
// Signals a thread may have queued and not yet taken (it is runnable but not running, or stopped).
// Past that, ticks for it are counted as dropped (reason "pending").
constexpr uint64_t kMaxPending = 64;

// Why a tick did not become a sample. Counted per thread, summed in the END metadata.
enum DropReason : int {
  kDropRingFull = 0,    // the writer had not drained the thread's ring
  kDropPending,         // kMaxPending signals already queued for a thread that did not run
  kDropSignalLost,      // sent, never taken (written off when the pending count never drained for a second)
  kDropSendFailed,      // the kernel refused to queue the signal (EAGAIN: queue limit)
  kDropLate,            // ticks the sampler thread itself missed (kept from running for 20 periods)
  kDropReasons
};
extern const char* const kDropReasonNames[kDropReasons];

// Per-isolate state. Created and destroyed on the isolate's own JS thread.
struct ThreadState {
  v8::Isolate* isolate = nullptr;
  pid_t tid = 0;
  uint32_t max_depth = 256;
  bool lines = true;  // read by the JIT handler: take the lines of bytecode positions
  // Set by the JS thread; read by the signal handler, the JIT handler and the sampler thread.
  std::atomic<bool> sampling{false};
  std::atomic<bool> collecting{false};
  // One counter orders this thread's samples (taken in the handler) against its code events (taken
  // under events_mu by the JIT handler, which pushes in the same critical section).
  std::atomic<uint64_t> seq{0};
  // Single-producer (signal handler) single-consumer (writer) ring of 64-bit words. A sample is
  // [seq, tick µs, thread CPU ns, label set << 40 | state << 32 | native bits | frame count, pc,
  //  frames..., inner native pcs..., outer native pcs...] (the kRing* fields above).
  std::unique_ptr<uint64_t[]> ring;
  std::atomic<uint64_t> head{0}, tail{0};
  // GetStackSample's output, preallocated: the handler keeps no large buffer on the thread's stack.
  std::unique_ptr<void*[]> frame_buffer;
  // Native unwinding (null unless the session records native frames): set up on the JS thread
  // before sampling starts, used by the handler only; its pcs are gathered in native_pcs.
  std::unique_ptr<NativeThread> native;
  uint64_t native_pcs[kMaxInnerNative + kMaxOuterNative] = {};
  // The time the handler spent taking samples (GetStackSample, the unwind in native sessions, the
  // copy; monotonic clock, ns), and how many; written by the handler, read by the writer at the end.
  std::atomic<uint64_t> handler_ns{0}, handler_samples{0};
  std::atomic<uint64_t> dropped[kDropReasons] = {};
  // Signals queued by the sampler thread and taken by the handler.
  std::atomic<uint64_t> sent{0}, received{0};
  // The sampler thread's own view (under Session::targets_mu).
  clockid_t cpu_clock{};
  uint64_t tick_cpu_ns = 0;        // its CPU clock at the last tick
  uint64_t owed_ns = 0;            // CPU time run since its last signal (cpu mode)
  uint64_t window_start_ns = 0;    // the current one-second window of the pending-signal count
  uint64_t window_min_pending = 0; // the fewest signals pending at a tick of that window
  // Code events, made on the JS thread (moves also on GC helper threads), taken by the writer.
  std::mutex events_mu;
  std::vector<RawCodeEvent> events;
  // JIT handler only (JS thread).
  std::unordered_map<uintptr_t, std::unique_ptr<std::vector<std::pair<uint32_t, uint32_t>>>> line_info;
  std::unordered_map<int, bool> scripts_seen;
  std::unordered_map<int, std::map<uint32_t, uint32_t>> script_lines;  // per script: line start -> line
  // Writer side (under Session::mu).
  uint32_t format_id = 0;
  std::string name;
  uint8_t kind = 0;
  bool thread_written = false;
  std::unique_ptr<CodeMap> codemap;
  SampleColumns cols;
  uint64_t last_time_us = 0, last_cpu_ns = 0;
  // The previous sample's frames, outermost first, and the interned stack at each depth (writer.cc,
  // SampleStack); valid while the code map's epoch is `epoch`.
  struct StackCache {
    uint64_t epoch = UINT64_MAX;
    bool truncated = false;
    std::vector<uint64_t> address;
    std::vector<uint8_t> role;
    std::vector<uint32_t> stack;
    std::vector<uint32_t> kept;   // frames interned so far (builtins not counted)
    std::vector<bool> folded;     // a builtin was left out so far
    uint32_t base = 0;            // the stack the JS frames were put on (native frames below JS)
  } stack_cache;

  uint64_t DroppedTotal() const {
    uint64_t d = 0;
    for (const auto& c : dropped) d += c.load(std::memory_order_relaxed);
    return d;
  }
};

// A frame as the format defines it: (format function id << 8 | tier, line << 32 | column).
struct FrameKey {
  uint64_t function_tier, position;
  bool operator==(const FrameKey& o) const { return function_tier == o.function_tier && position == o.position; }
};
struct FrameKeyHash {
  size_t operator()(const FrameKey& k) const { return std::hash<uint64_t>()(k.function_tier * 0x9e3779b97f4a7c15ull ^ k.position); }
};

// One recording.
struct Session {
  int fd = -1;
  Options options;
  uint64_t mono0_ns = 0;
  std::string timer_kind;
  // The sampler thread and the threads it signals.
  std::mutex targets_mu;  // guards targets and their sampler-thread fields
  std::vector<ThreadState*> targets;
  std::thread ticker;
  std::atomic<uint32_t> ticker_stop{0};  // 1 once StopTicker asked it to end; the futex its sleep waits on
  std::atomic<uint64_t> handler_reinstalled{0};  // times the sample signal's handler was found replaced
  std::atomic<bool> realtime_sampler{false};      // the sampler thread got SCHED_FIFO
  // The writer thread and everything it owns.
  std::mutex mu;  // guards everything below and the writer side of every ThreadState
  std::vector<ThreadState*> threads;
  FunctionTable functions;                              // every function seen in code events
  std::unordered_map<uint32_t, uint32_t> function_ids;  // table index -> format id, for those sampled
  std::vector<uint32_t> functions_pending;              // table indexes given an id since the last flush
  std::unordered_map<FrameKey, uint32_t, FrameKeyHash> frame_ids;  // -> format id
  std::vector<ResolvedFrame> frames_pending;            // (format function id, tier, line, column)
  // Scripts that declared a source map: name -> sourceMappingURL, "" once its SCRIPT record is written.
  std::unordered_map<std::string, std::string> source_maps;
  uint32_t frame_count = 0;
  std::unordered_map<uint64_t, uint32_t> stack_ids;     // StackKey(parent, frame) -> format id
  std::vector<std::pair<uint32_t, uint32_t>> stacks_pending;  // (parent, frame)
  std::unordered_map<uint32_t, uint32_t> label_ids;     // registry id (labels.h) -> format id
  std::vector<uint32_t> labels_pending;                 // registry ids given a format id since the last flush
  uint32_t stack_count = 0;
  uint32_t next_thread_id = 1;
  uint32_t unknown_function = 0, truncated_function = 0;
  std::unique_ptr<Symbolizer> symbols;  // native pcs -> functions (native sessions only)
  uint64_t samples = 0;
  uint64_t unresolved_frames = 0;  // sampled addresses in no code V8 reported
  uint64_t dropped_retired[kDropReasons] = {};  // counters of threads that left the session
  uint64_t handler_ns_retired = 0, handler_samples_retired = 0;  // the same for the handler's time
  uint64_t last_flush_ns = 0;
  size_t pending_samples = 0;
  std::string error;
  bool finished = false;
  std::thread writer;
  int wake[2] = {-1, -1};  // the writer polls wake[0]; a byte wakes it (a signal number: finish)
  std::vector<ResolvedFrame> scratch;
};

// Process-wide state (session.cc).
extern std::mutex g_mu;                          // guards g_session (the pointer) for the API calls
extern Session* g_session;
extern std::atomic<Session*> g_signal_session;   // read by the termination signal handler
extern thread_local ThreadState* tls_state __attribute__((tls_model("initial-exec")));
extern struct sigaction g_previous_term[NSIG];   // what SIGINT/SIGTERM/SIGHUP did before our handler
extern std::atomic<uint64_t> g_jit_events_lost;  // code events of an isolate we had no state for
extern std::atomic<pid_t> g_pid;                 // this process's id (signal.cc)

// Clocks; async-signal-safe.
inline uint64_t ClockNs(clockid_t clock) {
  timespec ts;
  if (clock_gettime(clock, &ts) != 0) return 0;
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}
inline uint64_t MonoNs() { return ClockNs(CLOCK_MONOTONIC); }
inline uint64_t EpochUs() { return ClockNs(CLOCK_REALTIME) / 1000; }

// signal.cc: the sample signal (a real-time signal no one else uses, chosen at the first Start) and
// the termination handler.
int SampleSignal();
bool InstallSampleHandler(std::string* error);  // JS thread, once per process
bool SampleHandlerInstalled();                  // sampler thread: is our handler still in place?
void ReinstallSampleHandler();                  // sampler thread: put it back, chaining to the intruder
void ShieldFromProfilerHandlers();              // sampler thread: block our signal during SIGPROF handlers
void OnTerminationSignal(int sig);

// ticker.cc
void TickerLoop(Session* s);
// Ends the sampler thread at once (it may be sleeping for a whole period) and joins it. JS thread.
void StopTicker(Session* s);
void ArmTimer(Session* s, ThreadState* ts);
void DisarmTimer(Session* s, ThreadState* ts);

// jit.cc
void OnJitCodeEvent(const v8::JitCodeEvent* e);
// The isolates whose code moves are taken from any thread (V8's GC helpers report the bytecode they
// move): registered by the JS thread once its state collects, unregistered before the state is freed.
void RegisterIsolate(ThreadState* ts);
void UnregisterIsolate(ThreadState* ts);

// writer.cc (the writer thread, or a JS thread holding Session::mu)
bool WriteAll(Session* s, const std::string& data);
void Drain(Session* s, ThreadState* ts, bool last = false);
void Flush(Session* s);
void Finish(Session* s);
void WriterLoop(Session* s);
uint64_t Dropped(Session* s, int reason);

}  // namespace vmprof
