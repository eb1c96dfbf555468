// The signal handlers. Everything in OnSampleSignal, TakeSample and UnwindNative runs inside a signal
// handler on the interrupted JS thread: no allocation, no locks, no V8 heap access beyond
// Isolate::GetStackSample (and, with native frames, Isolate::CopyCodePages and v8::Unwinder, both
// signal-safe by contract, and libunwind's unw_init_remote/unw_step/unw_get_reg over our own
// accessors, which read only the thread's stack and the objects the writer listed: unwind.h); only
// atomics, clock_gettime, write(2) to wake the writer, and the thread's preallocated buffers. The
// install/check functions below run on the JS thread (install) or the sampler thread (check).
//
// Why a real-time signal and not SIGPROF: SIGPROF is shared. V8's own CpuProfiler (--cpu-prof,
// @datadog/pprof) and APM agents use it, and Node installs and removes a handler for it whenever a
// program adds or removes a 'SIGPROF' listener; removing the last listener restores the default
// action, so our next SIGPROF killed the program. Node offers no listener for real-time signals, and
// they queue instead of merging, so every tick is delivered even when the thread is waiting for a CPU.
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>
#include <v8.h>

#include <atomic>
#include <cstring>

#include "labels.h"
#include "state.h"
#include "unwind.h"

namespace vmprof {

namespace {

int g_signal = 0;                     // the sample signal; 0 until chosen
// What was there before us, chained for others' signals. The sampler thread may replace it while a
// handler reads it, so each new one goes to a fresh slot, published by an atomic index.
constexpr int kPreviousSlots = 8;
struct sigaction g_previous_slots[kPreviousSlots];
std::atomic<int> g_previous_index{0};

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

inline bool InV8(size_t pages, const v8::MemoryRange* code_pages, uintptr_t pc) {
  return v8::Unwinder::PCIsInV8(pages, code_pages, reinterpret_cast<void*>(pc));
}

inline uintptr_t Reg(unw_cursor_t* cursor, unw_regnum_t reg) {
  unw_word_t v = 0;
  return g_unwinder.get_reg(cursor, reg, &v) == 0 ? static_cast<uintptr_t>(v) : 0;
}

// At most this many libunwind steps per sample, over all native segments: a corrupted stack that
// loops costs a bounded time.
constexpr uint32_t kMaxNativeSteps = 256;

// The object whose code holds `pc`, or null.
const UnwindObject* FindObject(const UnwindObjects* l, uintptr_t pc) {
  const UnwindObject* o = l->objects.data();
  size_t lo = 0, hi = l->objects.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (pc < o[mid].code_lo) hi = mid;
    else if (pc >= o[mid].code_hi) lo = mid + 1;
    else return &o[mid];
  }
  return nullptr;
}

// True when [addr, addr + size) lies in this thread's stack or in a loaded object's readable segment.
bool Readable(const NativeThread* nt, const UnwindObjects* l, uintptr_t addr, size_t size) {
  if (addr + size < addr) return false;
  if (addr >= nt->read_lo && addr + size <= nt->stack_hi) return true;
  const AddressRange* r = l->readable.data();
  size_t lo = 0, hi = l->readable.size();
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (addr < r[mid].lo) hi = mid;
    else if (addr >= r[mid].hi) lo = mid + 1;
    else return addr + size <= r[mid].hi;
  }
  return false;
}

// libunwind's accessors over this process (unwind.h), for the thread being unwound (`arg`). Memory is
// read only where Readable says so; code is looked up only in the published object list.
int FindProcInfo(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t* pi, int need_unwind_info, void* arg) {
  auto* nt = static_cast<NativeThread*>(arg);
  const UnwindObjects* l = nt->objects_in_use.load(std::memory_order_relaxed);
  const UnwindObject* o = l ? FindObject(l, ip) : nullptr;
  if (o == nullptr || !o->has_table) return -UNW_ENOINFO;
  return g_unwinder.search_unwind_table(as, ip, const_cast<unw_dyn_info_t*>(&o->table), pi, need_unwind_info, arg);
}
void PutUnwindInfo(unw_addr_space_t, unw_proc_info_t*, void*) {}  // libunwind frees what its search made
int GetDynInfoListAddr(unw_addr_space_t, unw_word_t*, void*) { return -UNW_ENOINFO; }
int AccessMem(unw_addr_space_t, unw_word_t addr, unw_word_t* val, int write, void* arg) {
  auto* nt = static_cast<NativeThread*>(arg);
  const UnwindObjects* l = nt->objects_in_use.load(std::memory_order_relaxed);
  if (write || l == nullptr || !Readable(nt, l, addr, sizeof(unw_word_t))) return -UNW_EINVAL;
  std::memcpy(val, reinterpret_cast<const void*>(addr), sizeof(unw_word_t));
  return 0;
}
int AccessReg(unw_addr_space_t, unw_regnum_t reg, unw_word_t* val, int write, void* arg) {
  auto* nt = static_cast<NativeThread*>(arg);
  if (write) return -UNW_EREADONLYREG;
  if (reg < 0 || reg > UNW_X86_64_RIP) return -UNW_EBADREG;
  *val = nt->regs[reg];
  return 0;
}
int AccessFpReg(unw_addr_space_t, unw_regnum_t, unw_fpreg_t*, int, void*) { return -UNW_EBADREG; }
int Resume(unw_addr_space_t, unw_cursor_t*, void*) { return -UNW_EINVAL; }
int GetProcName(unw_addr_space_t, unw_word_t, char*, size_t, unw_word_t*, void*) { return -UNW_ENOINFO; }

unw_accessors_t g_accessors = {FindProcInfo, PutUnwindInfo, GetDynInfoListAddr, AccessMem, AccessReg, AccessFpReg, Resume, GetProcName};

#if defined(__x86_64__)
// The interrupted registers in libunwind's numbering.
void LoadRegs(NativeThread* nt, const ucontext_t* uc) {
  static constexpr int kGreg[UNW_X86_64_RIP + 1] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI, REG_RBP, REG_RSP, REG_R8,
                                                    REG_R9,  REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP};
  for (int i = 0; i <= UNW_X86_64_RIP; i++) nt->regs[i] = static_cast<unw_word_t>(uc->uc_mcontext.gregs[kGreg[i]]);
}
#endif

// Holds the current object list for the walk (NativeThread::objects_in_use) and lets it go at the end.
struct ObjectsHold {
  NativeThread* nt;
  const UnwindObjects* list = nullptr;
  explicit ObjectsHold(NativeThread* t) : nt(t) {
    // Publish, then check that it is still the current list: the writer, which replaces the list
    // before it looks at what threads hold, then never frees it under us.
    for (int i = 0; i < 4 && list == nullptr; i++) {
      const UnwindObjects* l = g_objects.load(std::memory_order_seq_cst);
      nt->objects_in_use.store(l, std::memory_order_seq_cst);
      if (g_objects.load(std::memory_order_seq_cst) == l) list = l;
    }
    if (list == nullptr) nt->objects_in_use.store(nullptr, std::memory_order_release);
  }
  ~ObjectsHold() { nt->objects_in_use.store(nullptr, std::memory_order_release); }
};

}  // namespace

unw_accessors_t* HandlerAccessors() { return &g_accessors; }

void ObjectsMissed() {
  if (g_objects_missed.exchange(true, std::memory_order_relaxed)) return;
  int fd = g_objects_wake_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    char c = kWakeObjects;
    (void)!write(fd, &c, 1);
  }
}

// Signal handler (unwind.h). libunwind through our accessors, per-thread cache, warmed up on this
// thread before its first signal (WarmUpUnwinder): no allocation, no lock, no call into the dynamic
// loader here. A corrupted frame makes an accessor refuse the read and the walk end; V8's own frames
// are crossed with v8::Unwinder, which is signal-safe by contract.
NativeWalk UnwindNative(v8::Isolate* isolate, NativeThread* nt, const ucontext_t* uc, uint64_t* inner,
                        uint64_t* outer) {
  NativeWalk w;
  const Unwinder& u = g_unwinder;
  size_t pages = isolate->CopyCodePages(kCodePages, nt->code_pages);
  if (pages > kCodePages) pages = kCodePages;
  const v8::MemoryRange* cp = nt->code_pages;
#if defined(__x86_64__)
  uintptr_t pc = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  uintptr_t sp = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  nt->read_lo = sp - 128 > nt->stack_lo && sp - 128 < sp ? sp - 128 : nt->stack_lo;
  v8::RegisterState rs;
  rs.pc = reinterpret_cast<void*>(pc);
  rs.sp = reinterpret_cast<void*>(uc->uc_mcontext.gregs[REG_RSP]);
  rs.fp = reinterpret_cast<void*>(uc->uc_mcontext.gregs[REG_RBP]);
  uint32_t steps = 0;
  unw_cursor_t* cursor = &nt->cursor;
  ObjectsHold hold(nt);
  const UnwindObjects* objects = hold.list;
  // Native code in no listed object: a library loaded since the list was made (the writer lists
  // them again), or code of no file at all. libunwind then falls back on the frame pointer.
  auto note = [&](uintptr_t ip) {
    if (FindObject(objects, ip) == nullptr) ObjectsMissed();
  };
  if (!InV8(pages, cp, pc)) {
    // Inner: from the interrupted pc up to the first V8 code (a builtin such as CallApiCallback or
    // CEntry, or JIT code), or the stack's end when no JS runs on this thread right now.
    LoadRegs(nt, uc);
    if (objects == nullptr || u.init_remote(cursor, u.as, nt) < 0) {
      inner[w.inner++] = pc;
      w.inner_end = kNativeBroken;
      return w;
    }
    for (;;) {
      uintptr_t ip = Reg(cursor, UNW_REG_IP);
      if (ip == 0) break;
      if (w.inner > 0 && InV8(pages, cp, ip)) {
        rs.pc = reinterpret_cast<void*>(ip);
        rs.sp = reinterpret_cast<void*>(Reg(cursor, UNW_REG_SP));
        rs.fp = reinterpret_cast<void*>(Reg(cursor, UNW_X86_64_RBP));
        w.reached_js = true;
        break;
      }
      if (w.inner == kMaxInnerNative) {
        w.inner_end = kNativeTruncated;
        break;
      }
      inner[w.inner++] = ip;
      note(ip);
      int r = ++steps > kMaxNativeSteps ? -1 : u.step(cursor);
      if (r == 0) break;
      if (r < 0) {
        w.inner_end = kNativeBroken;
        break;
      }
    }
    if (!w.reached_js) return w;
  } else {
    w.reached_js = true;
  }
  // Outer: V8's unwinder crosses a JS segment down to the C++ frame that entered it; libunwind walks
  // on from there. Should it meet V8 code again (C++ called from JS, calling JS), the frames found so
  // far were a middle segment: they are dropped and the walk goes on below, so what is kept is the
  // bottom segment, down to main or the thread's start.
  bool first_segment = true;
  uintptr_t key_pc = 0, key_sp = 0;
  auto remember = [&]() {
    nt->outer_key_pc = key_pc;
    nt->outer_key_sp = key_sp;
    nt->outer_count = w.outer;
    nt->outer_end = w.outer_end;
    for (uint32_t i = 0; i < w.outer; i++) nt->outer_pcs[i] = outer[i];
  };
  for (;;) {
    if (!v8::Unwinder::TryUnwindV8Frames(nt->entry_stubs, pages, cp, &rs, reinterpret_cast<const void*>(nt->stack_hi))) {
      w.outer = 0;
      w.outer_end = kNativeBroken;
      return w;
    }
    if (first_segment) {
      first_segment = false;
      key_pc = reinterpret_cast<uintptr_t>(rs.pc);
      key_sp = reinterpret_cast<uintptr_t>(rs.sp);
      if (key_pc == nt->outer_key_pc && key_sp == nt->outer_key_sp && key_pc != 0) {
        w.outer = nt->outer_count;
        w.outer_end = nt->outer_end;
        for (uint32_t i = 0; i < w.outer; i++) outer[i] = nt->outer_pcs[i];
        return w;
      }
    }
    w.outer = 0;
    w.outer_end = kNativeComplete;
    // Restart below the JS segment: its C++ caller's pc, sp and fp (the other registers are the
    // interrupted ones: frames that saved them say where, and libunwind reads them from the stack).
    LoadRegs(nt, uc);
    nt->regs[UNW_X86_64_RIP] = reinterpret_cast<uintptr_t>(rs.pc);
    nt->regs[UNW_X86_64_RSP] = reinterpret_cast<uintptr_t>(rs.sp);
    nt->regs[UNW_X86_64_RBP] = reinterpret_cast<uintptr_t>(rs.fp);
    if (objects == nullptr || u.init_remote(cursor, u.as, nt) < 0) {
      w.outer_end = kNativeBroken;
      return w;
    }
    bool again = false;
    for (;;) {
      uintptr_t ip = Reg(cursor, UNW_REG_IP);
      if (ip == 0) break;
      if (InV8(pages, cp, ip)) {
        rs.pc = reinterpret_cast<void*>(ip);
        rs.sp = reinterpret_cast<void*>(Reg(cursor, UNW_REG_SP));
        rs.fp = reinterpret_cast<void*>(Reg(cursor, UNW_X86_64_RBP));
        again = true;
        break;
      }
      if (w.outer < kMaxOuterNative) outer[w.outer++] = ip;
      else w.outer_end = kNativeTruncated;
      note(ip);
      if (++steps > kMaxNativeSteps) {
        if (w.outer_end == kNativeComplete) w.outer_end = kNativeTruncated;
        remember();
        return w;
      }
      int r = u.step(cursor);
      if (r == 0) break;
      if (r < 0) {
        w.outer_end = kNativeBroken;
        break;
      }
    }
    if (!again) {
      remember();
      return w;
    }
  }
#else
  (void)isolate; (void)uc; (void)inner; (void)outer; (void)cp;
  w.inner_end = kNativeBroken;
  return w;
#endif
}

namespace {

constexpr uint64_t kHandlerPreemptedNs = 200000;

// Signal handler: copies one sample into the thread's ring.
void TakeSample(ThreadState* ts, void* context, uint64_t tick_us) {
  uint64_t t0 = MonoNs();  // the vDSO's clock: cheap, unlike the thread CPU clock
  uint64_t seq = ts->seq.fetch_add(1, std::memory_order_relaxed);
  uint64_t cpu = ClockNs(CLOCK_THREAD_CPUTIME_ID);
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
  void** frames = ts->frame_buffer.get();
  v8::SampleInfo info;
  info.frames_count = 0;
  info.vm_state = v8::OTHER;
  ts->isolate->GetStackSample(regs, frames, ts->max_depth, &info);
  uint64_t n = info.frames_count;
  NativeWalk walk;
  uint64_t* inner = ts->native_pcs;
  uint64_t* outer = ts->native_pcs + kMaxInnerNative;
  if (ts->native) walk = UnwindNative(ts->isolate, ts->native.get(), uc, inner, outer);
  uint64_t head = ts->head.load(std::memory_order_relaxed);
  uint64_t tail = ts->tail.load(std::memory_order_acquire);
  if (head - tail + kHeaderWords + n + walk.inner + walk.outer > kRingWords) {
    ts->dropped[kDropRingFull].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint64_t* ring = ts->ring.get();
  constexpr uint64_t mask = kRingWords - 1;
  ring[head & mask] = seq;
  ring[(head + 1) & mask] = tick_us;
  ring[(head + 2) & mask] = cpu;
  uint64_t label = tls_label_set.load(std::memory_order_relaxed);
  uint64_t native = ts->native ? kRingNative | static_cast<uint64_t>(walk.inner) << kRingInnerShift |
                                      static_cast<uint64_t>(walk.outer) << kRingOuterShift |
                                      static_cast<uint64_t>(walk.inner_end) << kRingInnerEndShift |
                                      static_cast<uint64_t>(walk.outer_end) << kRingOuterEndShift |
                                      (walk.reached_js ? kRingReachedJS : 0)
                                : 0;
  ring[(head + 3) & mask] = label << 40 | static_cast<uint64_t>(FormatState(info.vm_state)) << 32 | native | n;
  ring[(head + 4) & mask] = reinterpret_cast<uintptr_t>(regs.pc);
  for (uint64_t i = 0; i < n; i++) ring[(head + kHeaderWords + i) & mask] = reinterpret_cast<uintptr_t>(frames[i]);
  uint64_t at = head + kHeaderWords + n;
  for (uint32_t i = 0; i < walk.inner; i++) ring[(at++) & mask] = inner[i];
  for (uint32_t i = 0; i < walk.outer; i++) ring[(at++) & mask] = outer[i];
  ts->head.store(at, std::memory_order_release);
  // A handler that took over 200 µs was preempted inside it (the longest native unwinds take about
  // 50): the clock then counts the time it waited for a CPU, which is not its cost. Left out.
  uint64_t spent = MonoNs() - t0;
  if (spent < kHandlerPreemptedNs) {
    ts->handler_ns.fetch_add(spent, std::memory_order_relaxed);
    ts->handler_samples.fetch_add(1, std::memory_order_relaxed);
  }
}

// Signal handler for the sample signal. Ours carry kTickMagic and come from this process; anything
// else goes to whoever had the signal before us (and is ignored if no one had: the default action
// of a real-time signal would kill the program).
void OnSampleSignal(int sig, siginfo_t* si, void* context) {
  int saved_errno = errno;
  uint64_t value = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(si->si_value.sival_ptr));
  if (si->si_code == SI_QUEUE && si->si_pid == g_pid.load(std::memory_order_relaxed) && (value >> 48) == kTickMagic) {
    ThreadState* ts = tls_state;
    if (ts != nullptr) {  // else a tick that arrived after the thread left the session
      ts->received.fetch_add(1, std::memory_order_relaxed);
      if (ts->sampling.load(std::memory_order_relaxed)) TakeSample(ts, context, value & kTickTimeMask);
    }
  } else {
    const struct sigaction& previous = g_previous_slots[g_previous_index.load(std::memory_order_acquire)];
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction != nullptr) {
      previous.sa_sigaction(sig, si, context);
    } else if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
      previous.sa_handler(sig);
    }
  }
  errno = saved_errno;
}

bool IsOurs(const struct sigaction& sa) { return (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction == OnSampleSignal; }

void Install(struct sigaction* previous) {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = OnSampleSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  // Another profiler's SIGPROF waits while we take a sample, as ours waits during its handler
  // (ShieldFromProfilerHandlers): neither sees the other's handler instead of the JS code.
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGPROF);
  sigaction(g_signal, &sa, previous);
}

}  // namespace

// This process's id, read once (getpid is a system call, and the handler runs a thousand times a
// second); a forked child reads its own.
std::atomic<pid_t> g_pid{0};

const char* const kDropReasonNames[kDropReasons] = {"ring_full", "pending", "signal_lost", "send_failed", "late"};

int SampleSignal() { return g_signal; }

// JS thread, under g_mu: picks the first real-time signal from SIGRTMIN+4 whose disposition is the
// default (no one uses it), and installs our handler for good (never removed: a late tick must not
// find the default action).
bool InstallSampleHandler(std::string* error) {
  g_pid.store(getpid());
  static bool at_fork = pthread_atfork(nullptr, nullptr, [] { g_pid.store(getpid()); }) == 0;
  (void)at_fork;
  if (g_signal != 0) return true;
  for (int sig = SIGRTMIN + 4; sig <= SIGRTMAX - 1; sig++) {
    struct sigaction current;
    if (sigaction(sig, nullptr, &current) != 0) continue;
    if ((current.sa_flags & SA_SIGINFO) || current.sa_handler != SIG_DFL) continue;
    g_signal = sig;
    Install(&g_previous_slots[0]);
    return true;
  }
  *error = "no free real-time signal for the sampler";
  return false;
}

// Sampler thread.
bool SampleHandlerInstalled() {
  struct sigaction current;
  return sigaction(g_signal, nullptr, &current) != 0 || IsOurs(current);
}

void ReinstallSampleHandler() {
  struct sigaction intruder;
  Install(&intruder);
  int next = g_previous_index.load(std::memory_order_relaxed) + 1;
  if (IsOurs(intruder) || next >= kPreviousSlots) return;  // past 8 intruders, keep chaining to the last
  g_previous_slots[next] = intruder;
  g_previous_index.store(next, std::memory_order_release);
}

// Sampler thread. A tick taken while another profiler's SIGPROF handler runs on the thread (V8's
// CpuProfiler: node --cpu-prof, @datadog/pprof) sees that handler's registers, not the JS code it
// interrupted, and the JS frame it was in is lost. Adding our signal to that handler's mask makes
// the tick wait the handler's few microseconds instead. Only a real handler is touched (not the
// default action), and only when our signal is missing from its mask.
void ShieldFromProfilerHandlers() {
  struct sigaction current;
  if (g_signal == 0 || sigaction(SIGPROF, nullptr, &current) != 0) return;
  bool real = (current.sa_flags & SA_SIGINFO) ? current.sa_sigaction != nullptr
                                              : current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN;
  if (!real || sigismember(&current.sa_mask, g_signal)) return;
  sigaddset(&current.sa_mask, g_signal);
  sigaction(SIGPROF, &current, nullptr);
}

// Termination signals (SIGINT, SIGTERM, SIGHUP), on whichever thread the kernel picks: wake the
// writer, which finishes the file and then re-raises the signal with its previous disposition.
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

}  // namespace vmprof
