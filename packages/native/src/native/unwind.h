// Native stack unwinding for `native: true` sessions: libunwind (Debian's libunwind8), loaded with
// dlopen when a session asks for it, driven through an address space of our own (unw_create_addr_space
// with our accessors) over this very process.
//
// Why not libunwind's local mode: it finds each frame's unwind table with dl_iterate_phdr, which takes
// the dynamic loader's lock. A sample that interrupts a thread inside dlopen or dlclose, between that
// (recursive) lock's inner lock and the record of its owner, then waits in the handler for a lock its
// own thread holds: the program hangs (seen on Node 22 with a library loaded and unloaded in a loop).
// Here the handler never calls into the loader: the writer thread lists the loaded objects (their code
// ranges, readable segments and .eh_frame_hdr tables) with dl_iterate_phdr, outside any handler, and
// publishes the list; the handler's accessors look up code and read memory only through that list and
// the thread's stack, so a corrupted frame cannot make the unwinder read an unmapped address either.
//
// Threads: LoadUnwinder runs on a JS thread (session start, under g_mu); WarmUpUnwinder on each
// profiled JS thread as it joins (outside any handler); RefreshObjects on the writer thread (or the
// JS thread starting a session); UnwindNative and the accessors in the sample signal's handler
// (signal.cc's rules: no allocation, no locks of ours, only the thread's preallocated buffers).
#pragma once

#include <libunwind.h>
#include <ucontext.h>
#include <v8.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace vmprof {

// Native pcs kept per sample: between the interrupted pc and the innermost JS frame, and below the
// outermost JS frame (towards main or the thread's start).
constexpr uint32_t kMaxInnerNative = 32;
constexpr uint32_t kMaxOuterNative = 16;
constexpr uint32_t kCodePages = 64;  // V8 code ranges read per sample (Isolate::CopyCodePages)

// How a native walk ended, stored per sample (2 bits each for the inner and the outer walk).
enum NativeEnd : uint8_t {
  kNativeComplete = 0,  // reached JS (inner) or the stack's end (outer, or inner with no JS at all)
  kNativeBroken = 1,    // the unwinder failed: frames beyond the last one found are unknown
  kNativeTruncated = 2, // more frames than kept
};

// libunwind's entry points (its generic, remote-capable build: libunwind-x86_64.so.8) and our address
// space over this process, set up once by LoadUnwinder; read-only afterwards.
struct Unwinder {
  bool loaded = false;
  int (*init_remote)(unw_cursor_t*, unw_addr_space_t, void*) = nullptr;
  int (*step)(unw_cursor_t*) = nullptr;
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*) = nullptr;
  int (*search_unwind_table)(unw_addr_space_t, unw_word_t, unw_dyn_info_t*, unw_proc_info_t*, int, void*) = nullptr;
  void (*flush_cache)(unw_addr_space_t, unw_word_t, unw_word_t) = nullptr;
  unw_addr_space_t as = nullptr;
};
extern Unwinder g_unwinder;

// The loaded objects as the handler may use them: built by RefreshObjects, immutable once published.
struct UnwindObject {
  uintptr_t code_lo = 0, code_hi = 0;  // its executable segments, [lo, hi)
  bool has_table = false;              // a .eh_frame_hdr with a binary-search table
  unw_dyn_info_t table{};              // that table, as libunwind's search expects it
};
struct AddressRange {
  uintptr_t lo = 0, hi = 0;
};
struct UnwindObjects {
  std::vector<UnwindObject> objects;   // by code_lo; code ranges do not overlap
  std::vector<AddressRange> readable;  // every loaded object's readable segments, by lo, merged
  unsigned long long adds = 0, subs = 0;  // the loader's counters when listed (dl_phdr_info)
  uint64_t generation = 0;
};

// Per-thread unwinding state, preallocated when the thread joins a native session: the handler
// keeps no large buffer on the interrupted thread's stack.
struct NativeThread {
  uintptr_t stack_lo = 0, stack_hi = 0;  // the thread's stack, [lo, hi)
  // The lowest stack address a walk may read: the interrupted stack pointer less the red zone (no
  // frame lies below it; a corrupted frame pointer could point into pages the stack never grew to).
  uintptr_t read_lo = 0;
  v8::JSEntryStubs entry_stubs{};
  v8::MemoryRange code_pages[kCodePages];
  unw_cursor_t cursor;
  // The registers the walk starts from (libunwind's numbering, UNW_X86_64_RAX..RIP): the interrupted
  // ones, or those of the C++ frame below a JS segment.
  unw_word_t regs[UNW_X86_64_RIP + 1];
  // The object list this thread's handler is using (a hazard pointer: the writer frees a replaced list
  // only when no thread holds it here); null outside the handler.
  std::atomic<const UnwindObjects*> objects_in_use;
  // The previous sample's outer walk, keyed by the C++ frame found below its innermost JS segment
  // (return address and stack pointer): while that frame is live, every frame below it is the same,
  // so a sample that finds it again copies the walk instead of redoing it.
  uintptr_t outer_key_pc = 0, outer_key_sp = 0;
  uint32_t outer_count = 0;
  NativeEnd outer_end = kNativeComplete;
  uint64_t outer_pcs[kMaxOuterNative] = {};
};

// JS thread. Loads libunwind (once per process) and sets its per-thread cache policy. False with
// `error` set when it cannot be loaded.
bool LoadUnwinder(std::string* error);

// JS thread joining a native session: fills `nt` (stack bounds, V8's entry stubs) and unwinds its
// own stack once, so that libunwind's thread-local cache is set up before the first signal.
void WarmUpUnwinder(v8::Isolate* isolate, NativeThread* nt);

// Writer thread (or the JS thread starting a session, before any sampling): lists the loaded objects
// again when the loader added or removed any since the last list (one dl_iterate_phdr call when not),
// publishes the new list, and frees replaced lists that no thread in `threads` is using. True when a
// new list was published.
bool RefreshObjects(const std::vector<NativeThread*>& threads);

// Writer or JS thread: the dynamic loader's counters of objects added and removed so far (one
// dl_iterate_phdr call, stopped at the first object), to tell whether anything was loaded or unloaded.
void LoaderCounters(unsigned long long* adds, unsigned long long* subs);

// Signal handler (signal.cc): a pc outside every listed object and outside V8's code was met (a library
// loaded since the list was made, say). Unless a request is pending, sets g_objects_missed and wakes
// the writer, which lists the objects again. The writer clears the request when a new list came of
// it, or at its next regular cycle: at most one wake per cycle for code no list will ever hold.
void ObjectsMissed();
extern std::atomic<bool> g_objects_missed;
// The fd the handler writes one byte to when it asks for a new list (the writer's wake pipe), or -1.
extern std::atomic<int> g_objects_wake_fd;
constexpr char kWakeObjects = 127;  // that byte: not a signal number

// The accessors of our address space (signal.cc: they run in the handler). Their `arg` is the
// NativeThread being unwound.
unw_accessors_t* HandlerAccessors();
// Signal handler: the published object list (null before the first), read under the thread's
// hazard pointer (NativeThread::objects_in_use).
extern std::atomic<const UnwindObjects*> g_objects;

// Signal handler. Unwinds the interrupted thread's native frames: `inner` gets the pcs from the
// interrupted pc (first) up to, not including, the first V8 code; `outer` the return addresses below
// the outermost JS frame, nearest to JS first, down to main or the thread's start. Returns the two
// counts and how each walk ended (NativeEnd).
struct NativeWalk {
  uint32_t inner = 0, outer = 0;
  NativeEnd inner_end = kNativeComplete, outer_end = kNativeComplete;
  bool reached_js = false;  // the inner walk found V8 code (else the stack has no JS at all)
};
NativeWalk UnwindNative(v8::Isolate* isolate, NativeThread* nt, const ucontext_t* uc, uint64_t* inner,
                        uint64_t* outer);

}  // namespace vmprof
