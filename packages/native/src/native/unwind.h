// Native stack unwinding for `native: true` sessions: libunwind (Debian's libunwind8), loaded with
// dlopen when a session asks for it, used in its local mode only.
//
// Threads: LoadUnwinder runs on a JS thread (session start, under g_mu); WarmUpUnwinder on each
// profiled JS thread as it joins (outside any handler); UnwindNative in the sample signal's handler
// (signal.cc's rules: no allocation, no locks of ours, only the thread's preallocated buffers).
#pragma once

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <ucontext.h>
#include <v8.h>

#include <cstdint>
#include <string>

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

// libunwind's local-mode entry points, resolved once by LoadUnwinder; read-only afterwards.
struct Unwinder {
  bool loaded = false;
  int (*init_local2)(unw_cursor_t*, unw_context_t*, int) = nullptr;
  int (*step)(unw_cursor_t*) = nullptr;
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*) = nullptr;
  int (*set_caching_policy)(unw_addr_space_t, unw_caching_policy_t) = nullptr;
  unw_addr_space_t* local_as = nullptr;
};
extern Unwinder g_unwinder;

// Per-thread unwinding state, preallocated when the thread joins a native session: the handler
// keeps no large buffer on the interrupted thread's stack.
struct NativeThread {
  uintptr_t stack_lo = 0, stack_hi = 0;  // the thread's stack, [lo, hi)
  v8::JSEntryStubs entry_stubs{};
  v8::MemoryRange code_pages[kCodePages];
  unw_cursor_t cursor;
  ucontext_t context;  // the interrupted registers, edited to restart below a JS segment
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
// own stack once, so that libunwind's thread-local cache and the unwind tables it reads are set up
// before the first signal (a first touch of a dlopen'ed library's TLS may allocate).
void WarmUpUnwinder(v8::Isolate* isolate, NativeThread* nt);

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
