// The writer thread ("vmprof-writer"), one per session: every 100 ms it drains each thread's ring
// and code-event queue, applies the events in order, resolves sampled addresses to functions and
// tiers (codemap.cc), interns frames and stacks, and writes records at least once a second. It
// allocates and locks freely (Session::mu, a thread's events_mu) and never touches V8. The same
// functions run on a JS thread holding Session::mu when a thread leaves or the session stops.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "labels.h"
#include "state.h"

namespace vmprof {

namespace {

constexpr uint64_t kFlushIntervalNs = 1000000000;  // write at least once a second
constexpr int kTickMs = 100;                       // how often the writer drains the rings
constexpr size_t kFlushSamples = 8192;             // or sooner, when this many are pending

// Key of the stack interning map: a stack node is (parent, frame).
inline uint64_t StackKey(uint32_t parent, uint32_t frame) { return static_cast<uint64_t>(parent) << 32 | frame; }

// The format id of a frame: a function (FunctionTable index), tier and position.
uint32_t FrameId(Session* s, const ResolvedFrame& f) {
  auto [fit, fnew] = s->function_ids.emplace(f.function, static_cast<uint32_t>(s->function_ids.size() + 1));
  if (fnew) s->functions_pending.push_back(f.function);
  uint32_t function = fit->second;
  FrameKey key{static_cast<uint64_t>(function) << 8 | f.tier, static_cast<uint64_t>(f.line) << 32 | f.column};
  auto [it, inserted] = s->frame_ids.emplace(key, s->frame_count + 1);
  if (inserted) {
    s->frame_count++;
    s->frames_pending.push_back({function, f.tier, f.line, f.column});
  }
  return it->second;
}

uint32_t StackId(Session* s, uint32_t parent, uint32_t frame) {
  auto [it, inserted] = s->stack_ids.emplace(StackKey(parent, frame), s->stack_count + 1);
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

// One sampled frame address resolved to the format's frames (an inlined chain may give several), in
// `out`. V8 runs some code it never reports (the top-level code of a `new Function` or eval script),
// and a frame being set up can read as garbage: innermost, such a frame's time goes to its caller (or
// to the sample's VM state); elsewhere in the stack it stays visible as unknown.
void ResolveFrame(Session* s, ThreadState* ts, uint64_t address, bool return_address, bool innermost,
                  std::vector<ResolvedFrame>& out) {
  out.clear();
  if (ts->codemap->Resolve(address, return_address, out)) return;
  s->unresolved_frames++;
  if (!innermost) out.push_back({PseudoFunction(s, &s->unknown_function, "(unknown code)"), kTierUnknown});
}

// The stack of a sample with every frame kept (builtins included): for samples with no JS frame.
uint32_t StackWithBuiltins(Session* s, ThreadState* ts, uint64_t pc, const uint64_t* frames, uint64_t n, uint32_t base) {
  std::vector<ResolvedFrame> out, one;
  if (n >= ts->max_depth) out.push_back({PseudoFunction(s, &s->truncated_function, "(truncated stack)"), kTierUnknown});
  for (uint64_t i = n; i-- > 0;) {
    ResolveFrame(s, ts, frames[i], i != 0 || pc != frames[0], i == 0, one);
    out.insert(out.end(), one.begin(), one.end());
  }
  if (n == 0 || pc != frames[0]) ts->codemap->ResolveJS(pc, out);
  uint32_t stack = base;
  for (const auto& f : out) stack = StackId(s, stack, FrameId(s, f));
  return stack;
}

// The stack of a sample, interned: its frames resolved outermost first. GetStackSample starts from
// the interrupted frame's return address (or, for an interpreted frame, its bytecode offset), so the
// code running at pc is not among the frames: it is added, as V8's own profiler does, when pc is in JS
// code (not in the interpreter running frame 0's bytecode, nor in a builtin or stub). Builtins (a
// generator's next, an await's resume, Array.prototype.sort...) give their time to their JS caller,
// as in V8's profiles, unless the sample has no JS frame at all.
//
// Consecutive samples of a thread share most of their outer frames: the interned stack at each depth
// of the previous sample is kept (ThreadState::stack_cache) and reused for the same addresses, until
// the next code event changes what addresses mean.
//
// `base` is the stack the JS frames go on: 0, or the native frames below the outermost JS frame.
uint32_t SampleStack(Session* s, ThreadState* ts, uint64_t pc, const uint64_t* frames, uint64_t n, uint32_t base) {
  ThreadState::StackCache& c = ts->stack_cache;
  bool truncated = n >= ts->max_depth;
  size_t common = 0;
  if (c.epoch == ts->codemap->epoch() && c.truncated == truncated && c.base == base) {
    size_t limit = std::min<size_t>(n, c.address.size());
    while (common < limit) {
      size_t i = common;
      uint8_t role = i == n - 1 ? (pc != frames[0] ? 2 : 3) : 1;  // 1: caller, 2/3: innermost (return address or not)
      if (c.address[i] != frames[n - 1 - i] || c.role[i] != role) break;
      common++;
    }
  } else {
    c.address.clear();
    c.role.clear();
    c.stack.clear();
    c.kept.clear();
    c.folded.clear();
  }
  c.epoch = ts->codemap->epoch();
  c.truncated = truncated;
  c.base = base;
  c.address.resize(common);
  c.role.resize(common);
  c.stack.resize(common);
  c.kept.resize(common);
  c.folded.resize(common);
  uint32_t stack = base;
  size_t kept = 0;
  bool folded = false;
  if (common > 0) {
    stack = c.stack[common - 1];
    kept = c.kept[common - 1];
    folded = c.folded[common - 1];
  } else if (truncated) {
    stack = StackId(s, base, FrameId(s, {PseudoFunction(s, &s->truncated_function, "(truncated stack)"), kTierUnknown}));
  }
  std::vector<ResolvedFrame>& out = s->scratch;
  auto push = [&](const std::vector<ResolvedFrame>& resolved) {
    for (const auto& f : resolved) {
      if (s->functions.Folded(f.function)) {
        folded = true;
        continue;
      }
      stack = StackId(s, stack, FrameId(s, f));
      kept++;
    }
  };
  for (size_t i = common; i < n; i++) {
    bool innermost = i == n - 1;
    bool return_address = !innermost || pc != frames[0];
    ResolveFrame(s, ts, frames[n - 1 - i], return_address, innermost, out);
    push(out);
    c.address.push_back(frames[n - 1 - i]);
    c.role.push_back(innermost ? (return_address ? 2 : 3) : 1);
    c.stack.push_back(stack);
    c.kept.push_back(kept);
    c.folded.push_back(folded);
  }
  if (n == 0 || pc != frames[0]) {
    out.clear();
    ts->codemap->ResolveJS(pc, out);
    push(out);
  }
  if (kept == 0 && folded) return StackWithBuiltins(s, ts, pc, frames, n, base);
  return stack;
}

// The native frames of a sample (see unwind.h and the ring layout in state.h), around its JS stack.
struct NativePart {
  uint64_t word = 0;  // the sample's header word (kRing* fields)
  const uint64_t* inner = nullptr;
  const uint64_t* outer = nullptr;
};

uint32_t NativeStack(Session* s, uint32_t stack, uint32_t function) {
  return StackId(s, stack, FrameId(s, {function, kTierUnknown}));
}

// A sample of a native session: outer native frames (from main or the thread's start), its JS
// frames, then the inner native frames down to the interrupted pc. Where a walk stopped early, the
// frames it found are kept and one "(unknown native)" frame stands for the rest.
uint32_t NativeSampleStack(Session* s, ThreadState* ts, uint64_t pc, const uint64_t* frames, uint64_t n,
                           const NativePart& np) {
  Symbolizer& sym = *s->symbols;
  uint32_t inner = static_cast<uint32_t>(np.word >> kRingInnerShift) & 63;
  uint32_t outer = static_cast<uint32_t>(np.word >> kRingOuterShift) & 31;
  auto inner_end = static_cast<NativeEnd>((np.word >> kRingInnerEndShift) & 3);
  auto outer_end = static_cast<NativeEnd>((np.word >> kRingOuterEndShift) & 3);
  bool reached_js = (np.word & kRingReachedJS) != 0;
  uint32_t base = 0;
  if (reached_js && n < ts->max_depth) {
    if (outer_end != kNativeComplete) base = NativeStack(s, base, sym.Unknown());
    for (uint32_t i = outer; i-- > 0;) base = NativeStack(s, base, sym.Resolve(np.outer[i], true));
  }
  uint32_t stack = n > 0 || base != 0 ? SampleStack(s, ts, pc, frames, n, base) : 0;
  if (inner_end != kNativeComplete) stack = NativeStack(s, stack, sym.Unknown());
  for (uint32_t i = inner; i-- > 0;) stack = NativeStack(s, stack, sym.Resolve(np.inner[i], i != 0));
  return stack;
}

// The format id of a label set of the registry (0: none), defined at the next flush on first use.
uint32_t LabelId(Session* s, uint32_t registry_id) {
  if (registry_id == 0) return 0;
  auto [it, inserted] = s->label_ids.emplace(registry_id, static_cast<uint32_t>(s->label_ids.size() + 1));
  if (inserted) s->labels_pending.push_back(registry_id);
  return it->second;
}

void AddSample(Session* s, ThreadState* ts, uint64_t tick_us, uint64_t cpu_ns, uint8_t state, uint32_t label,
               uint64_t pc, const uint64_t* frames, uint64_t n, const NativePart& np) {
  uint32_t stack = (np.word & kRingNative) && s->symbols ? NativeSampleStack(s, ts, pc, frames, n, np)
                                                          : SampleStack(s, ts, pc, frames, n, 0);
  // The sample is dated by its tick (a queued tick taken late still says when it was due).
  uint64_t t = tick_us < ts->last_time_us ? ts->last_time_us : tick_us;
  uint64_t wall = t - ts->last_time_us;
  uint64_t cpu = cpu_ns / 1000 > ts->last_cpu_ns / 1000 ? cpu_ns / 1000 - ts->last_cpu_ns / 1000 : 0;
  ts->last_time_us = t;
  if (cpu_ns > ts->last_cpu_ns) ts->last_cpu_ns = cpu_ns;
  ts->cols.time.push_back(t);
  ts->cols.wall.push_back(wall);
  ts->cols.cpu.push_back(cpu);
  ts->cols.state.push_back(state);
  ts->cols.stack.push_back(stack);
  ts->cols.labels.push_back(LabelId(s, label));
  s->pending_samples++;
}

}  // namespace

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

// Moves everything the thread sampled so far into its columns, applying code events in order. The
// event queue is taken before the ring's head is read: every event numbered before a sample in the
// ring is then in hand (see jit.cc, Queue). `last`: the thread takes no more samples (it leaves, or
// the session ends), so the events after its last sample would change nothing written and are
// dropped unapplied: most often V8's replay of the code that existed at the start, thousands of
// events whose applying made a short program's exit about 5 ms longer.
void Drain(Session* s, ThreadState* ts, bool last) {
  std::vector<RawCodeEvent> events;
  {
    std::lock_guard<std::mutex> lock(ts->events_mu);
    events.swap(ts->events);
  }
  uint64_t head = ts->head.load(std::memory_order_acquire);
  size_t ei = 0;
  uint64_t tail = ts->tail.load(std::memory_order_relaxed);
  const uint64_t* ring = ts->ring.get();
  constexpr uint64_t mask = kRingWords - 1;
  uint64_t frames[kMaxDepthCap];
  uint64_t native_pcs[kMaxInnerNative + kMaxOuterNative];
  if (s->symbols) s->symbols->Refresh();
  while (tail != head) {
    uint64_t seq = ring[tail & mask];
    uint64_t tick_us = ring[(tail + 1) & mask];
    uint64_t cpu = ring[(tail + 2) & mask];
    uint64_t word = ring[(tail + 3) & mask];
    uint64_t n = word & kRingFrameMask;
    uint64_t pc = ring[(tail + 4) & mask];
    for (uint64_t i = 0; i < n; i++) frames[i] = ring[(tail + kHeaderWords + i) & mask];
    tail += kHeaderWords + n;
    NativePart np;
    if (word & kRingNative) {
      uint64_t native = ((word >> kRingInnerShift) & 63) + ((word >> kRingOuterShift) & 31);
      for (uint64_t i = 0; i < native; i++) native_pcs[i] = ring[(tail + i) & mask];
      tail += native;
      np.word = word;
      np.inner = native_pcs;
      np.outer = native_pcs + ((word >> kRingInnerShift) & 63);
    }
    while (ei < events.size() && events[ei].seq < seq) ts->codemap->Apply(events[ei++]);
    AddSample(s, ts, tick_us, cpu, static_cast<uint8_t>(word >> 32), static_cast<uint32_t>(word >> 40), pc, frames, n, np);
  }
  ts->tail.store(tail, std::memory_order_release);
  if (!last)
    for (; ei < events.size(); ei++) ts->codemap->Apply(events[ei]);
}

// Writes definitions made since the last flush, then every pending sample.
void Flush(Session* s) {
  Bytes out;
  for (ThreadState* ts : s->threads) {
    if (ts->thread_written) continue;
    EncodeThread(out, 1, static_cast<uint64_t>(ts->tid), ts->name, ts->kind);
    ts->thread_written = true;
  }
  for (ThreadState* ts : s->threads)
    for (auto& [file, url] : ts->codemap->TakeSourceMaps()) s->source_maps.emplace(file, url);
  for (uint32_t index : s->functions_pending) {
    const FunctionDesc& f = s->functions.all()[index - 1];
    EncodeFunction(out, f.kind, f.name, f.file, f.line, f.column);
    // The source map of a script is written once one of its functions is.
    auto map = f.file.empty() ? s->source_maps.end() : s->source_maps.find(f.file);
    if (map != s->source_maps.end() && !map->second.empty()) {
      EncodeScript(out, map->first, map->second);
      map->second.clear();
    }
  }
  s->functions_pending.clear();
  for (const auto& f : s->frames_pending) EncodeFrame(out, f.function, f.tier, f.line, f.column);
  s->frames_pending.clear();

  EncodeStacks(out, s->stack_count - static_cast<uint32_t>(s->stacks_pending.size()) + 1, s->stacks_pending);
  s->stacks_pending.clear();
  std::vector<const LabelPairs*> sets;
  static const LabelPairs kMissing{{"vmprof", "unknown label set"}};  // not reached: ids come from the registry
  for (uint32_t id : s->labels_pending) {
    const LabelPairs* set = LabelSetPairs(id);
    sets.push_back(set != nullptr ? set : &kMissing);
  }
  EncodeLabels(out, sets);
  s->labels_pending.clear();
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

uint64_t Dropped(Session* s, int reason) {
  uint64_t d = 0;
  for (int r = 0; r < kDropReasons; r++) {
    if (reason >= 0 && r != reason) continue;
    d += s->dropped_retired[r];
    for (ThreadState* ts : s->threads) d += ts->dropped[r].load();
  }
  return d;
}

// Finishes the session: final drain, counters, END. Caller holds s->mu.
void Finish(Session* s) {
  if (s->finished) return;
  for (ThreadState* ts : s->threads) DisarmTimer(s, ts);
  for (ThreadState* ts : s->threads) Drain(s, ts, true);
  Flush(s);
  for (ThreadState* ts : s->threads) ts->collecting.store(false);
  Bytes out;
  auto integer = [](uint64_t v) { return MetaValue{MetaValue::kInt, {}, static_cast<int64_t>(v), {}}; };
  MetaEntries meta;
  meta.push_back({"samples", integer(s->samples)});
  meta.push_back({"dropped_samples", integer(Dropped(s, -1))});
  for (int r = 0; r < kDropReasons; r++) meta.push_back({std::string("dropped.") + kDropReasonNames[r], integer(Dropped(s, r))});
  meta.push_back({"end_time", integer(EpochUs())});
  if (!s->timer_kind.empty()) meta.push_back({"timer", MetaValue{MetaValue::kString, s->timer_kind, 0, {}}});
  meta.push_back({"signal", MetaValue{MetaValue::kString, "SIGRTMIN+" + std::to_string(SampleSignal() - SIGRTMIN), 0, {}}});
  meta.push_back({"signal_handler_reinstalled", integer(s->handler_reinstalled.load())});
  meta.push_back({"sampler_priority", MetaValue{MetaValue::kString, s->realtime_sampler.load() ? "realtime" : "normal", 0, {}}});
  meta.push_back({"jit_events_lost", integer(g_jit_events_lost.load())});
  meta.push_back({"unresolved_frames", integer(s->unresolved_frames)});
  uint64_t handler_ns = s->handler_ns_retired, handled = s->handler_samples_retired;
  for (ThreadState* ts : s->threads) {
    handler_ns += ts->handler_ns.load();
    handled += ts->handler_samples.load();
  }
  // What taking one sample cost the sampled thread (its time in the handler), ns on average.
  if (handled > 0) meta.push_back({"sample_cost_ns", integer(handler_ns / handled)});
  if (s->symbols) {
    meta.push_back({"native_symbolized", integer(s->symbols->symbolized())});
    meta.push_back({"native_unsymbolized", integer(s->symbols->unsymbolized())});
  }
  EncodeMeta(out, 0, meta);
  if (s->symbols) {
    MetaEntries process;
    MetaValue list{MetaValue::kList, {}, 0, s->symbols->MappingStrings()};
    process.push_back({"native_mappings", list});
    EncodeMeta(out, 1, process);
  }
  Bytes end;
  out.record(kEnd, end);
  if (s->error.empty()) WriteAll(s, out.data);
  s->finished = true;
}

void WriterLoop(Session* s) {
  pthread_setname_np(pthread_self(), "vmprof-writer");
  for (;;) {
    pollfd p[2] = {{s->wake[0], POLLIN, 0}, {s->options.control_fd, POLLIN, 0}};
    int r = poll(p, s->options.control_fd >= 0 ? 2 : 1, kTickMs);
    int sig = 0;
    bool objects_asked = false;  // a handler met code in no listed object (unwind.h)
    if (r > 0 && (p[0].revents & POLLIN)) {
      char c = 0;
      if (read(s->wake[0], &c, 1) == 1) sig = c;
      if (sig == kWakeObjects) {
        objects_asked = true;
        sig = 0;
      } else if (sig == 0) {
        return;  // Stop() asked us to end; it finishes the session itself
      }
    }
    // The control pipe's last writer went away (the recorder detached, or died): finish now. Bytes
    // written to it mean nothing; they are read and dropped.
    bool detached = false;
    if (r > 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[64];
      ssize_t n = read(s->options.control_fd, buf, sizeof buf);
      detached = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
    }
    {
      std::lock_guard<std::mutex> lock(s->mu);
      if (s->finished) return;
      if (s->options.native) {
        // The loaded objects as native unwinding sees them, listed again when the loader added or
        // removed any. A handler's request stands until a new list came of it or the next regular
        // cycle: code no list will ever hold wakes us at most once per cycle.
        std::vector<NativeThread*> native;
        for (ThreadState* ts : s->threads)
          if (ts->native) native.push_back(ts->native.get());
        if (RefreshObjects(native) || !objects_asked) g_objects_missed.store(false, std::memory_order_relaxed);
      }
      for (ThreadState* ts : s->threads) Drain(s, ts);
      if (sig != 0 || s->pending_samples >= kFlushSamples || MonoNs() - s->last_flush_ns >= kFlushIntervalNs) Flush(s);
      if (sig != 0 || detached) Finish(s);
    }
    if (detached) {
      s->ticker_stop.store(1);  // the sampler thread ends; stop() joins both threads
      return;
    }
    if (sig != 0) {  // a termination signal: the file is complete; now let it do what it did before us
      sigaction(sig, &g_previous_term[sig], nullptr);
      kill(getpid(), sig);
      return;
    }
  }
}

}  // namespace vmprof
