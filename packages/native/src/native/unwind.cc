// Loading libunwind and listing the loaded objects for native frames (unwind.h). Runs on JS threads
// (LoadUnwinder at session start, under g_mu; WarmUpUnwinder when a thread joins a native session)
// and on the writer thread (RefreshObjects). It may allocate, lock and call the dynamic loader; the
// handler side (UnwindNative and the accessors) is in signal.cc.
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "unwind.h"

namespace vmprof {

Unwinder g_unwinder;
std::atomic<const UnwindObjects*> g_objects{nullptr};
std::atomic<int> g_objects_wake_fd{-1};
std::atomic<bool> g_objects_missed{false};

namespace {

std::mutex g_objects_mu;                     // RefreshObjects: one lister at a time
std::vector<const UnwindObjects*> g_retired;  // replaced lists not yet freed (under g_objects_mu)

}  // namespace

void LoaderCounters(unsigned long long* adds, unsigned long long* subs) {
  struct Out {
    unsigned long long adds = 0, subs = 0;
  } out;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t size, void* data) -> int {
        auto* o = static_cast<Out*>(data);
        if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
          o->adds = info->dlpi_adds;
          o->subs = info->dlpi_subs;
        }
        return 1;  // the counters are the same in every entry: one is enough
      },
      &out);
  *adds = out.adds;
  *subs = out.subs;
}

namespace {

// Size in bytes of a value of DWARF pointer encoding `enc` in .eh_frame_hdr; 0 for one we do not read.
size_t EncodedSize(uint8_t enc) {
  switch (enc & 0x0f) {
    case 0x00: return sizeof(uintptr_t);  // absptr
    case 0x02: case 0x0a: return 2;       // udata2, sdata2
    case 0x03: case 0x0b: return 4;       // udata4, sdata4
    case 0x04: case 0x0c: return 8;       // udata8, sdata8
    default: return 0;
  }
}

// Fills `o.table` from the .eh_frame_hdr at `hdr` (mapped: its object is loaded and the loader's
// lock is held by our dl_iterate_phdr). Only the usual layout has a table libunwind can search:
// version 1, FDE count as udata4/sdata4, entries as datarel sdata4 pairs.
void ReadEhFrameHdr(const uint8_t* hdr, UnwindObject& o) {
  if (hdr[0] != 1) return;
  uint8_t eh_frame_ptr_enc = hdr[1], fde_count_enc = hdr[2], table_enc = hdr[3];
  size_t ptr_size = EncodedSize(eh_frame_ptr_enc);
  if (ptr_size == 0 || (fde_count_enc != 0x03 && fde_count_enc != 0x0b) || table_enc != 0x3b) return;
  uint32_t fde_count = 0;
  std::memcpy(&fde_count, hdr + 4 + ptr_size, 4);
  if (fde_count == 0) return;
  o.table.format = UNW_INFO_FORMAT_REMOTE_TABLE;
  o.table.start_ip = o.code_lo;
  o.table.end_ip = o.code_hi;
  o.table.gp = 0;
  o.table.u.rti.name_ptr = 0;
  o.table.u.rti.segbase = reinterpret_cast<uintptr_t>(hdr);  // datarel: relative to the header
  o.table.u.rti.table_data = reinterpret_cast<uintptr_t>(hdr + 8 + ptr_size);
  o.table.u.rti.table_len = fde_count * 8 / sizeof(unw_word_t);  // in words, 8 bytes per entry
  o.has_table = true;
}

// Lists every loaded object (under the loader's lock, which dl_iterate_phdr holds while it calls us).
UnwindObjects* ListObjects() {
  auto* list = new UnwindObjects();
  LoaderCounters(&list->adds, &list->subs);
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* l = static_cast<UnwindObjects*>(data);
        UnwindObject o;
        const uint8_t* hdr = nullptr;
        o.code_lo = UINTPTR_MAX;
        for (int i = 0; i < info->dlpi_phnum; i++) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
          if (ph.p_type == PT_LOAD) {
            // Whole pages: libunwind reads aligned words, which may pass a segment's last byte.
            if (ph.p_flags & PF_R) l->readable.push_back({lo & ~uintptr_t{4095}, (hi + 4095) & ~uintptr_t{4095}});
            if (ph.p_flags & PF_X) {
              o.code_lo = std::min(o.code_lo, lo);
              o.code_hi = std::max(o.code_hi, hi);
            }
          } else if (ph.p_type == PT_GNU_EH_FRAME) {
            hdr = reinterpret_cast<const uint8_t*>(lo);
          }
        }
        if (o.code_lo == UINTPTR_MAX) return 0;
        if (hdr != nullptr) ReadEhFrameHdr(hdr, o);
        l->objects.push_back(o);
        return 0;
      },
      list);
  std::sort(list->objects.begin(), list->objects.end(), [](const UnwindObject& a, const UnwindObject& b) { return a.code_lo < b.code_lo; });
  // Overlapping code ranges (should never happen) would make the lookup ambiguous: keep the first.
  std::vector<UnwindObject> kept;
  for (const UnwindObject& o : list->objects)
    if (kept.empty() || o.code_lo >= kept.back().code_hi) kept.push_back(o);
  list->objects.swap(kept);
  auto& r = list->readable;
  std::sort(r.begin(), r.end(), [](const AddressRange& a, const AddressRange& b) { return a.lo < b.lo; });
  std::vector<AddressRange> merged;
  for (const AddressRange& a : r) {
    if (!merged.empty() && a.lo <= merged.back().hi) merged.back().hi = std::max(merged.back().hi, a.hi);
    else merged.push_back(a);
  }
  r.swap(merged);
  return list;
}

}  // namespace

bool LoadUnwinder(std::string* error) {
#if !defined(__x86_64__)
  *error = "native frames are supported on x86-64 Linux only";
  return false;
#else
  if (g_unwinder.loaded) return true;
  // Debian's libunwind8: its generic build, which unwinds any address space through accessors. Loaded
  // now, never in the handler, and never closed: a late signal may still be unwinding with it.
  void* lib = dlopen("libunwind-x86_64.so.8", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    *error = "native frames need libunwind (Debian/Ubuntu package libunwind8): cannot load libunwind-x86_64.so.8";
    return false;
  }
  Unwinder u;
  auto create = reinterpret_cast<unw_addr_space_t (*)(unw_accessors_t*, int)>(dlsym(lib, "_Ux86_64_create_addr_space"));
  auto set_caching_policy = reinterpret_cast<int (*)(unw_addr_space_t, unw_caching_policy_t)>(dlsym(lib, "_Ux86_64_set_caching_policy"));
  u.init_remote = reinterpret_cast<decltype(u.init_remote)>(dlsym(lib, "_Ux86_64_init_remote"));
  u.step = reinterpret_cast<decltype(u.step)>(dlsym(lib, "_Ux86_64_step"));
  u.get_reg = reinterpret_cast<decltype(u.get_reg)>(dlsym(lib, "_Ux86_64_get_reg"));
  u.search_unwind_table = reinterpret_cast<decltype(u.search_unwind_table)>(dlsym(lib, "_Ux86_64_dwarf_search_unwind_table"));
  u.flush_cache = reinterpret_cast<decltype(u.flush_cache)>(dlsym(lib, "_Ux86_64_flush_cache"));
  if (!create || !set_caching_policy || !u.init_remote || !u.step || !u.get_reg || !u.search_unwind_table || !u.flush_cache) {
    *error = "native frames need libunwind 1.3 or later: libunwind-x86_64.so.8 lacks its unwinding functions";
    return false;
  }
  u.as = create(HandlerAccessors(), 0);
  if (u.as == nullptr) {
    *error = "native frames: libunwind could not create an address space";
    return false;
  }
  // A cache of unwind rules per thread (thread-local storage, set up by WarmUpUnwinder): no lock in
  // the handler. A libunwind built without it falls back to its global cache, whose lock it takes
  // with every signal blocked (a thread holding it cannot be interrupted by our handler).
  set_caching_policy(u.as, UNW_CACHE_PER_THREAD);
  u.loaded = true;
  g_unwinder = u;
  std::vector<NativeThread*> none;
  RefreshObjects(none);
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
  // One walk of this thread's own stack, as the handler walks: libunwind's per-thread cache (thread-
  // local storage of a dlopen'ed library, allocated at its first touch) is set up here rather than in
  // the first signal.
  ucontext_t uc;
  if (getcontext(&uc) != 0) return;
  uint64_t inner[kMaxInnerNative], outer[kMaxOuterNative];
  UnwindNative(isolate, nt, &uc, inner, outer);
}

bool RefreshObjects(const std::vector<NativeThread*>& threads) {
  std::lock_guard<std::mutex> lock(g_objects_mu);
  bool changed = false;
  const UnwindObjects* now = g_objects.load();
  unsigned long long adds = 0, subs = 0;
  LoaderCounters(&adds, &subs);
  if (now == nullptr || adds != now->adds || subs != now->subs) {
    UnwindObjects* list = ListObjects();
    list->generation = now == nullptr ? 1 : now->generation + 1;
    g_objects.store(list, std::memory_order_seq_cst);
    if (now != nullptr) g_retired.push_back(now);
    // Code at an address that held another object's may unwind differently now.
    if (now != nullptr && subs != now->subs) g_unwinder.flush_cache(g_unwinder.as, 0, 0);
    changed = true;
  }
  // A replaced list is freed once no handler holds it: a handler publishes what it uses (its hazard
  // pointer) before it checks that the list is still the current one.
  auto held = [&](const UnwindObjects* l) {
    for (NativeThread* nt : threads)
      if (nt->objects_in_use.load(std::memory_order_seq_cst) == l) return true;
    return false;
  };
  std::vector<const UnwindObjects*> kept;
  for (const UnwindObjects* l : g_retired) {
    if (held(l)) kept.push_back(l);
    else delete l;
  }
  g_retired.swap(kept);
  return changed;
}

}  // namespace vmprof
