// Native pcs to functions, for `native: true` sessions: the process's file mappings (/proc/self/maps)
// and the ELF symbol tables of those files (.symtab, else .dynsym), C++ names demangled.
//
// Threads: the writer thread (or a JS thread holding Session::mu), never a signal handler. It reads
// files, allocates and calls the dynamic loader's dl_iterate_phdr freely.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "codemap.h"

namespace vmprof {

// One file mapping of the process that held a sampled pc: [start, end) maps `file` from byte
// `offset`. Kept for the whole session, so a library unloaded before the end still resolves.
struct NativeMapping {
  uintptr_t start = 0, end = 0, offset = 0;
  std::string file;      // path as /proc/self/maps gives it ("[vdso]" for the vDSO)
  std::string build_id;  // GNU build id, lower-case hex ("" when the file has none)
  bool used = false;     // a sampled pc fell in it
};

class ElfSymbols;

class Symbolizer {
 public:
  explicit Symbolizer(FunctionTable& functions);
  ~Symbolizer();
  // The function (FunctionTable index) of native `pc`: the ELF symbol that covers it (demangled), else
  // `file+0xOFFSET` (offset in the file), else "(unknown native)" when no file mapping holds it.
  // `return_address`: pc is a return address, so the call before it is looked up (pc - 1).
  uint32_t Resolve(uintptr_t pc, bool return_address);
  // "(unknown native)": where an unwind stopped early (a frame it could not read).
  uint32_t Unknown();
  // Re-reads the mappings when the dynamic loader added or removed objects since the last look
  // (cheap: one dl_iterate_phdr call). The writer calls it every cycle, before resolving.
  void Refresh();
  // The mappings that held a sampled pc, as the `native_mappings` metadata strings (SPEC.md):
  // "START END OFFSET BUILD_ID FILE", numbers in lower-case hex, BUILD_ID "-" when none.
  std::vector<std::string> MappingStrings() const;
  uint64_t symbolized() const { return symbolized_; }
  uint64_t unsymbolized() const { return unsymbolized_; }

 private:
  void ReadMaps();
  ElfSymbols* Elf(const std::string& file);
  FunctionTable& functions_;
  std::map<uintptr_t, NativeMapping> maps_;  // by start
  std::unordered_map<std::string, std::unique_ptr<ElfSymbols>> elves_;
  std::unordered_map<uintptr_t, uint32_t> cache_;  // looked-up address -> function
  unsigned long long adds_ = ~0ull, subs_ = ~0ull;
  bool reread_ = false;  // the maps were re-read for a miss since the last Refresh
  uint32_t unknown_ = 0;
  uint64_t symbolized_ = 0, unsymbolized_ = 0;
};

}  // namespace vmprof
