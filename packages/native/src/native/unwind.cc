// Loading and warming up libunwind for native frames (unwind.h). Runs on JS threads only: at session
// start (LoadUnwinder, under g_mu) and when a thread joins a native session (WarmUpUnwinder). It may
// allocate, lock and call the dynamic loader. The handler side (UnwindNative) is in signal.cc.
#include <dlfcn.h>
#include <pthread.h>
#include <ucontext.h>

#include <cstring>

#include "unwind.h"

namespace vmprof {

Unwinder g_unwinder;

bool LoadUnwinder(std::string* error) {
#if !defined(__x86_64__)
  *error = "native frames are supported on x86-64 Linux only";
  return false;
#else
  if (g_unwinder.loaded) return true;
  // Debian's libunwind8 (the runtime part of libunwind-dev). Loaded now, never in the handler, and
  // never closed: a late signal may still be unwinding with it.
  void* lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) lib = dlopen("libunwind-x86_64.so.8", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    *error = "native frames need libunwind (Debian/Ubuntu package libunwind8): cannot load libunwind.so.8";
    return false;
  }
  Unwinder u;
  u.init_local2 = reinterpret_cast<decltype(u.init_local2)>(dlsym(lib, "_ULx86_64_init_local2"));
  u.step = reinterpret_cast<decltype(u.step)>(dlsym(lib, "_ULx86_64_step"));
  u.get_reg = reinterpret_cast<decltype(u.get_reg)>(dlsym(lib, "_ULx86_64_get_reg"));
  u.set_caching_policy = reinterpret_cast<decltype(u.set_caching_policy)>(dlsym(lib, "_ULx86_64_set_caching_policy"));
  u.local_as = reinterpret_cast<unw_addr_space_t*>(dlsym(lib, "_ULx86_64_local_addr_space"));
  if (!u.init_local2 || !u.step || !u.get_reg || !u.set_caching_policy || !u.local_as) {
    *error = "native frames need libunwind 1.3 or later (unw_init_local2): libunwind.so.8 lacks it";
    return false;
  }
  // A per-thread cache where libunwind was built with one (--enable-per-thread-cache): no lock. Debian's
  // is not, and then libunwind uses its global cache, whose lock it takes with every signal blocked:
  // a thread that holds it cannot be interrupted by our handler, so the handler never waits on its
  // own thread, only (briefly) on another thread that is unwinding. That costs two sigprocmask calls
  // per step: most of --native's cost per sample (native_sample_cost_ns).
  u.set_caching_policy(*u.local_as, UNW_CACHE_PER_THREAD);
  u.loaded = true;
  g_unwinder = u;
  return true;
#endif
}

void WarmUpUnwinder(v8::Isolate* isolate, NativeThread* nt) {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      nt->stack_lo = reinterpret_cast<uintptr_t>(addr);
      nt->stack_hi = nt->stack_lo + size;
    }
    pthread_attr_destroy(&attr);
  }
  nt->entry_stubs = isolate->GetJSEntryStubs();
  for (auto& p : nt->code_pages) p = v8::MemoryRange();
  if (!g_unwinder.loaded) return;
  // One walk of this thread's own stack: libunwind's per-thread cache (thread-local storage of a
  // dlopen'ed library, allocated at its first touch) and the unwind tables of node and libc are
  // set up here rather than in the first signal.
  ucontext_t uc;
  if (getcontext(&uc) != 0) return;
  std::memcpy(&nt->context, &uc, sizeof uc);
  if (g_unwinder.init_local2(&nt->cursor, &nt->context, 0) < 0) return;
  for (int i = 0; i < 64 && g_unwinder.step(&nt->cursor) > 0; i++) {
  }
}

}  // namespace vmprof
