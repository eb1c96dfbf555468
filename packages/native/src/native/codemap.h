// The map from code addresses to functions of one isolate, rebuilt from V8's JIT code events.
//
// Threads: RawCodeEvents are made on the isolate's JS thread (in the JIT code event handler) and
// queued; a CodeMap is owned by the writer thread, which applies the queued events in order and
// resolves sampled addresses. Nothing here runs in a signal handler.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace vmprof {

// Tiers and function kinds of SPEC.md (FRAME tier, FUNCTION kind).
enum Tier : uint8_t { kTierUnknown = 0, kTierInterpreted = 1, kTierBaseline = 2, kTierMaglev = 3, kTierOptimized = 4 };
enum FunctionKind : uint8_t { kKindJS = 0, kKindNative = 1, kKindBuiltin = 2, kKindOther = 3 };

// A function as the format names it. Functions are interned by the writer (FunctionTable).
struct FunctionDesc {
  FunctionKind kind = kKindOther;
  std::string name, file;
  uint32_t line = 0, column = 0;
};

// Interns functions: equal descriptions get the same index (1, 2, ...; all()[index - 1]).
class FunctionTable {
 public:
  uint32_t Intern(const FunctionDesc& f);
  const std::vector<FunctionDesc>& all() const { return all_; }
  // True for V8 builtins and stubs (not generated regexp code): their time belongs to the JS
  // function that called them, as in V8's own profiles and Chrome DevTools.
  bool Folded(uint32_t index) const { return folded_[index - 1]; }
 private:
  std::vector<FunctionDesc> all_;
  std::vector<bool> folded_;
  std::unordered_map<std::string, uint32_t> ids_;
};

// One code event as copied on the JS thread. `seq` orders it against that thread's samples.
struct RawCodeEvent {
  enum Type : uint8_t { kAdded, kMoved } type = kAdded;
  bool bytecode = false;         // a BytecodeArray (interpreted code), else machine code
  bool wasm = false;             // WebAssembly code
  uint64_t seq = 0;
  uintptr_t start = 0, size = 0, new_start = 0;
  std::string name;              // V8's name, e.g. "JS:*work /app/x.js:4:19"
  int script_id = -1;            // -1: no script
  std::string script_name;       // set the first time a script is seen: its name, or else its //# sourceURL
  std::string source_map_url;    // set the first time a script is seen: its //# sourceMappingURL, if any
  // (code offset, script offset) pairs of the code's source position table, sorted by code offset.
  std::vector<std::pair<uint32_t, uint32_t>> positions;
  // The 1-based (line, column) of each entry of `positions` read in the code's own script (for
  // optimized code, wrong for entries inlined from another script: those are looked up elsewhere).
  std::vector<std::pair<uint32_t, uint32_t>> lines;
};

// One sampled frame resolved: a function (FunctionTable index), the tier it ran in, and the 1-based
// line and column in the function's script it was executing (0: unknown).
struct ResolvedFrame {
  uint32_t function;
  Tier tier;
  uint32_t line = 0, column = 0;
};

// Address -> function resolution for one isolate, with inlined frames rebuilt from source positions.
class CodeMap {
 public:
  explicit CodeMap(FunctionTable& functions) : functions_(functions) {}
  void Apply(RawCodeEvent& event);
  // Appends the frames of one physical frame at `address`, outermost first (an optimized function
  // followed by the functions inlined at that address, if any), each with the position it was
  // executing: the address's own for the innermost, the call into the next one for the others. `is_return_address` is true for every
  // frame but the innermost. Returns false when the address is in no known code. An address in the
  // machine code of a mapped file (Node's C++, where V8 was entered from) adds no frame and returns
  // true: like V8's own profiler, the JS stack says where such calls came from.
  bool Resolve(uintptr_t address, bool is_return_address, std::vector<ResolvedFrame>& out);
  // Like Resolve for the interrupted pc (not a return address), but only when it is in JS code.
  bool ResolveJS(uintptr_t pc, std::vector<ResolvedFrame>& out);
  // Re-reads where V8 runs copies of code that it reported at other addresses (embedded builtins).
  void RefreshAliases();
  // Changes every time an event is applied or the aliases are re-read: resolutions made under an
  // older epoch may be stale.
  uint64_t epoch() const { return epoch_; }
  // Scripts that declared a source map, as (script name, sourceMappingURL), since the last take.
  std::vector<std::pair<std::string, std::string>> TakeSourceMaps() { return std::move(source_maps_); }

 private:
  struct FunctionRange {  // what a function's bytecode tells about its place in its script
    uint32_t function;
    uint32_t min_pos, max_pos;
    bool top_level;  // a script's or module's top-level code (anonymous, at 1:1)
    std::vector<uint32_t> positions;  // sorted, unique script offsets of its bytecode
  };
  // A function on an inlining chain and the last script offset seen of it (kNoOffset: none yet), with
  // the index of that position entry.
  struct ChainLink {
    uint32_t function;
    uint32_t offset;
    uint32_t entry;
  };
  static constexpr uint32_t kNoOffset = UINT32_MAX;
  struct Code {
    uintptr_t size;
    uint32_t function;
    Tier tier;
    bool js;
    bool bytecode;
    int script_id;
    std::shared_ptr<std::vector<std::pair<uint32_t, uint32_t>>> positions;
    std::shared_ptr<std::vector<std::pair<uint32_t, uint32_t>>> lines;  // (line, column) per position, own script
    // Machine code: per position entry, the chain of functions running there, the code's own function
    // first and the innermost inlined one last (built at the first lookup).
    std::shared_ptr<std::vector<std::vector<ChainLink>>> chains;
  };
  struct Alias {  // [start, end) runs the code reported at [start + delta, end + delta)
    uintptr_t start, end;
    intptr_t delta;
  };
  void Erase(uintptr_t start, uintptr_t end);
  bool Lookup(uintptr_t address, std::map<uintptr_t, Code>::iterator* found);
  uint32_t Attribute(const Code& code, uint32_t script_offset);
  uint32_t AttributeUncached(const Code& code, uint32_t script_offset);
  void BuildChains(Code& code);
  uint32_t Innermost(int script_id, uint32_t pos, bool exact, const FunctionRange* within);

  FunctionTable& functions_;
  uint64_t epoch_ = 0;
  std::map<uintptr_t, Code> code_;
  std::vector<Alias> aliases_;
  std::vector<std::pair<uintptr_t, uintptr_t>> native_;  // executable file mappings
  bool IsNative(uintptr_t address) const;
  std::unordered_map<int, std::string> script_names_;
  std::unordered_map<int, std::vector<FunctionRange>> ranges_;  // by script id
  std::unordered_map<uint32_t, std::pair<int, size_t>> range_of_;  // function -> (script, index)
  std::unordered_map<uint64_t, uint32_t> attribution_;  // (function << 32 | script offset) -> Attribute()
  // (script id << 32 | script offset) -> (line << 32 | column), from bytecode events' line info.
  std::unordered_map<uint64_t, uint64_t> script_lines_;
  std::vector<std::pair<std::string, std::string>> source_maps_;
  // The 1-based line and column of `offset` in the script of `function` (0, 0 when unknown).
  std::pair<uint32_t, uint32_t> LineOf(uint32_t function, int code_script, uint32_t offset) const;
};

// Parses V8's code name ("JS:~name /path/x.js:4:19", "JS:o*'name ...", "Builtin:ArrayForEach",
// "JS:wasm-function[0]-0-turbofan", ...) into a function and the tier its marker says, from the tables
// in codemap.cc (the strings V8 gives on each supported Node are in test/fixtures/code-names).
// `script_name` (may be empty) helps split names that contain spaces. No V8 marker is left in the name.
void ParseCodeName(const std::string& v8_name, const std::string& script_name, bool bytecode, bool wasm,
                   FunctionDesc& out, Tier& tier);

}  // namespace vmprof
