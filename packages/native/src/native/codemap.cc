// Address -> function resolution; runs on the writer thread only (see codemap.h).
#include "codemap.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vmprof {

// Entries of CodeMap::script_lines_ kept at most (about 40 bytes each).
constexpr size_t kMaxScriptLines = 2000000;

uint32_t FunctionTable::Intern(const FunctionDesc& f) {
  std::string key;
  key.reserve(f.name.size() + f.file.size() + 24);
  key.push_back(static_cast<char>('0' + f.kind));
  key += f.name;
  key.push_back('\0');
  key += f.file;
  key.push_back('\0');
  key += std::to_string(f.line) + ":" + std::to_string(f.column);
  auto [it, inserted] = ids_.emplace(std::move(key), static_cast<uint32_t>(all_.size() + 1));
  if (inserted) {
    all_.push_back(f);
    folded_.push_back(f.kind == kKindBuiltin && f.name.compare(0, 8, "RegExp: ") != 0);
  }
  return it->second;
}

namespace {

// What the tag before the first ':' of a code name says about the code.
struct TagRule {
  const char* tag;
  FunctionKind kind;
  bool js;  // a JS function: "[marker]name file:line:column"
};
const TagRule kTagRules[] = {
    {"JS", kKindJS, true},         {"Function", kKindJS, true},       {"LazyCompile", kKindJS, true},
    {"Script", kKindJS, true},     {"Eval", kKindJS, true},           {"Builtin", kKindBuiltin, false},
    {"Handler", kKindBuiltin, false}, {"BytecodeHandler", kKindBuiltin, false}, {"Stub", kKindBuiltin, false},
    {"RegExp", kKindBuiltin, false}, {"Callback", kKindNative, false},
};

// The marker V8 puts before a JS function's name, longest first. Seen (test/fixtures/code-names):
// Node 20-26 "~" Ignition, "^" Sparkplug, "+" Maglev, "*" TurboFan; Node 24+ "'" after the marker for
// context-specialized code; Node 26 "o" before it for on-stack-replacement code.
struct MarkerRule {
  const char* prefix;
  Tier tier;
};
const MarkerRule kMarkerRules[] = {
    {"o~'", kTierInterpreted}, {"o^'", kTierBaseline}, {"o+'", kTierMaglev}, {"o*'", kTierOptimized},
    {"o~", kTierInterpreted},  {"o^", kTierBaseline},  {"o+", kTierMaglev},  {"o*", kTierOptimized},
    {"~'", kTierInterpreted},  {"^'", kTierBaseline},  {"+'", kTierMaglev},  {"*'", kTierOptimized},
    {"~", kTierInterpreted},   {"^", kTierBaseline},   {"+", kTierMaglev},   {"*", kTierOptimized},
};

// WebAssembly code is named "<name>-<function index>-<compiler>" (no file): one function, one tier
// per compiler.
struct WasmTierRule {
  const char* suffix;
  Tier tier;
};
const WasmTierRule kWasmTierRules[] = {{"-liftoff", kTierBaseline}, {"-turbofan", kTierOptimized}, {"-interpreter", kTierInterpreted}};

bool StartsWith(const std::string& s, const char* prefix) { return s.compare(0, std::strlen(prefix), prefix) == 0; }
bool EndsWith(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool AllDigits(const std::string& s, size_t from, size_t to) {
  if (from >= to) return false;
  for (size_t i = from; i < to; i++)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

// "name-12-turbofan" -> "name", tier; false when `rest` is not such a name.
bool ParseWasmName(const std::string& rest, FunctionDesc& out, Tier& tier) {
  for (const WasmTierRule& rule : kWasmTierRules) {
    if (!EndsWith(rest, rule.suffix)) continue;
    std::string head = rest.substr(0, rest.size() - std::strlen(rule.suffix));
    size_t dash = head.rfind('-');
    if (dash == std::string::npos || !AllDigits(head, dash + 1, head.size())) return false;
    out.kind = kKindOther;
    out.name = head.substr(0, dash);
    tier = rule.tier;
    return true;
  }
  return false;
}

}  // namespace

void ParseCodeName(const std::string& v8_name, const std::string& script_name, bool bytecode, bool wasm,
                   FunctionDesc& out, Tier& tier) {
  size_t colon = v8_name.find(':');
  std::string tag = colon == std::string::npos ? std::string() : v8_name.substr(0, colon);
  std::string rest = colon == std::string::npos ? v8_name : v8_name.substr(colon + 1);
  tier = bytecode ? kTierInterpreted : kTierUnknown;
  const TagRule* rule = nullptr;
  for (const TagRule& r : kTagRules)
    if (tag == r.tag) rule = &r;
  // V8 reports WebAssembly code under the "JS" tag on Node 20-26; its name has no file (no space).
  if ((wasm || rule == nullptr || rule->js) && rest.find(' ') == std::string::npos && ParseWasmName(rest, out, tier))
    return;
  bool marked = false;
  if (rule == nullptr || rule->js) {
    for (const MarkerRule& m : kMarkerRules) {
      if (!StartsWith(rest, m.prefix)) continue;
      tier = m.tier;
      rest.erase(0, std::strlen(m.prefix));
      marked = true;
      break;
    }
  }
  if (!marked && !bytecode && (rule == nullptr || !rule->js)) {
    out.kind = rule == nullptr ? kKindOther : rule->kind;
    out.name = tag == "RegExp" ? "RegExp: " + rest : rest.empty() ? v8_name : rest;
    return;
  }
  out.kind = kKindJS;
  // "name file:line:column": peel the line and column, then the file.
  size_t c2 = rest.rfind(':');
  size_t c1 = c2 == std::string::npos || c2 == 0 ? std::string::npos : rest.rfind(':', c2 - 1);
  std::string head = rest;
  if (c1 != std::string::npos && AllDigits(rest, c1 + 1, c2) && AllDigits(rest, c2 + 1, rest.size())) {
    out.line = static_cast<uint32_t>(std::stoul(rest.substr(c1 + 1, c2 - c1 - 1)));
    out.column = static_cast<uint32_t>(std::stoul(rest.substr(c2 + 1)));
    head = rest.substr(0, c1);
  }
  if (!script_name.empty() && head.size() >= script_name.size() &&
      head.compare(head.size() - script_name.size(), script_name.size(), script_name) == 0) {
    out.file = script_name;
    head.resize(head.size() - script_name.size());
    if (!head.empty() && head.back() == ' ') head.pop_back();
    out.name = head;
  } else if (out.line != 0) {
    size_t sp = head.rfind(' ');
    out.name = sp == std::string::npos ? std::string() : head.substr(0, sp);
    out.file = sp == std::string::npos ? head : head.substr(sp + 1);
  } else {
    out.name = head;
  }
  // Code of a script V8 gave no name (eval, new Function) is named by its //# sourceURL, if any.
  if (out.file.empty() && !script_name.empty()) out.file = script_name;
}

void CodeMap::Erase(uintptr_t start, uintptr_t end) {
  auto it = code_.upper_bound(start);
  if (it != code_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second.size > start) it = prev;
  }
  while (it != code_.end() && it->first < end) it = code_.erase(it);
}

static const bool kDebug = getenv("VMPROF_DEBUG_CODE") != nullptr;
static const bool kDebugPositions = kDebug && std::strcmp(getenv("VMPROF_DEBUG_CODE"), "positions") == 0;

void CodeMap::Apply(RawCodeEvent& e) {
  epoch_++;
  if (kDebug) {
    if (e.type == RawCodeEvent::kMoved) fprintf(stderr, "MOVE %lx -> %lx\n", e.start, e.new_start);
    else {
      fprintf(stderr, "ADD %lx+%lu %s script=%d '%s' bytecode=%d wasm=%d positions=%zu\n", e.start, e.size, e.name.c_str(), e.script_id, e.script_name.c_str(), e.bytecode, e.wasm, e.positions.size());
      if (kDebugPositions) {  // VMPROF_DEBUG_CODE=positions: (code offset:script offset) pairs too
        for (auto& p : e.positions) fprintf(stderr, " %u:%u", p.first, p.second);
        fprintf(stderr, "\n");
      }
    }
  }
  if (e.type == RawCodeEvent::kMoved) {
    auto it = code_.find(e.start);
    if (it == code_.end()) return;
    Code moved = std::move(it->second);
    code_.erase(it);
    Erase(e.new_start, e.new_start + moved.size);
    code_.emplace(e.new_start, std::move(moved));
    return;
  }
  if (e.script_id >= 0 && !e.script_name.empty()) script_names_[e.script_id] = e.script_name;
  if (!e.source_map_url.empty() && !e.script_name.empty()) source_maps_.emplace_back(e.script_name, e.source_map_url);
  std::string script_name;
  if (e.script_id >= 0) {
    auto sn = script_names_.find(e.script_id);
    if (sn != script_names_.end()) script_name = sn->second;
  }
  FunctionDesc f;
  Tier tier;
  ParseCodeName(e.name, script_name, e.bytecode, e.wasm, f, tier);
  uint32_t function = functions_.Intern(f);
  // WebAssembly runs like JS code: its frames and the pc in it are the program's own.
  Code code{e.size == 0 ? 1 : e.size, function, tier, f.kind == kKindJS || e.wasm, e.bytecode, e.script_id, nullptr, nullptr, nullptr};
  if (code.js && e.script_id >= 0 && !e.positions.empty()) {
    if (e.bytecode) {
      if (e.lines.size() == e.positions.size()) {
        // Scripts never say they are gone (a program that makes functions with new Function makes a
        // script each time): past kMaxScriptLines the table starts over. Only positions inlined from
        // another script into code compiled before that lose their line.
        if (script_lines_.size() > kMaxScriptLines) script_lines_.clear();
        for (size_t i = 0; i < e.positions.size(); i++)
          script_lines_[static_cast<uint64_t>(e.script_id) << 32 | e.positions[i].second] =
              static_cast<uint64_t>(e.lines[i].first) << 32 | e.lines[i].second;
        code.lines = std::make_shared<std::vector<std::pair<uint32_t, uint32_t>>>(std::move(e.lines));
        code.positions = std::make_shared<std::vector<std::pair<uint32_t, uint32_t>>>(e.positions);
      }
      std::vector<uint32_t> pos;
      pos.reserve(e.positions.size());
      for (auto& p : e.positions) pos.push_back(p.second);
      std::sort(pos.begin(), pos.end());
      pos.erase(std::unique(pos.begin(), pos.end()), pos.end());
      FunctionRange r{function, pos.front(), pos.back(), f.name.empty() && f.line <= 1 && f.column <= 1, std::move(pos)};
      auto known = range_of_.find(function);
      if (known != range_of_.end() && known->second.first == e.script_id) {
        ranges_[e.script_id][known->second.second] = std::move(r);
      } else {
        auto& list = ranges_[e.script_id];
        range_of_[function] = {e.script_id, list.size()};
        list.push_back(std::move(r));
      }
    } else {
      if (e.lines.size() == e.positions.size())
        code.lines = std::make_shared<std::vector<std::pair<uint32_t, uint32_t>>>(std::move(e.lines));
      code.positions = std::make_shared<std::vector<std::pair<uint32_t, uint32_t>>>(std::move(e.positions));
    }
  }
  Erase(e.start, e.start + code.size);
  code_.emplace(e.start, std::move(code));
}

uint32_t CodeMap::Innermost(int script_id, uint32_t pos, bool exact, const FunctionRange* within) {
  auto it = ranges_.find(script_id);
  if (it == ranges_.end()) return 0;
  uint32_t best = 0, best_span = UINT32_MAX;
  for (const auto& r : it->second) {
    if (pos < r.min_pos || pos > r.max_pos) continue;
    // Top-level code is never inlined, nor (in practice) a function's own lexical ancestors.
    if (exact && (r.top_level || (within && r.min_pos <= within->min_pos && r.max_pos >= within->max_pos))) continue;
    if (exact && !std::binary_search(r.positions.begin(), r.positions.end(), pos)) continue;
    uint32_t span = r.max_pos - r.min_pos;
    if (span < best_span) { best = r.function; best_span = span; }
  }
  return best;
}

// The function whose source produced `script_offset` inside optimized code of `code.function`: that
// function itself, another one (inlined), or 0 when unknown. V8 reports script offsets without saying
// which script an inlined function came from: offsets inside the function's own source range belong
// to the innermost function there; others must match a bytecode position of exactly one known function.
uint32_t CodeMap::Attribute(const Code& code, uint32_t p) {
  // Every tier's code of a function repeats its positions: answers found are kept (an inlined
  // function was compiled, so its range known, before the code that inlines it).
  uint64_t key = static_cast<uint64_t>(code.function) << 32 | p;
  auto cached = attribution_.find(key);
  if (cached != attribution_.end()) return cached->second;
  uint32_t found = AttributeUncached(code, p);
  if (found != 0) attribution_.emplace(key, found);
  return found;
}

uint32_t CodeMap::AttributeUncached(const Code& code, uint32_t p) {
  uint32_t self = code.function;
  auto own = range_of_.find(self);
  const FunctionRange* r = nullptr;
  if (own != range_of_.end() && own->second.first == code.script_id) {
    r = &ranges_[code.script_id][own->second.second];
    if (p >= r->min_pos && p <= r->max_pos) {
      uint32_t g = Innermost(code.script_id, p, false, nullptr);
      return g == 0 ? self : g;
    }
  }
  uint32_t g = Innermost(code.script_id, p, true, r);
  if (g != 0) return g;
  uint32_t found = 0;
  int count = 0;
  for (const auto& [sid, list] : ranges_) {
    if (sid == code.script_id) continue;
    uint32_t c = Innermost(sid, p, true, nullptr);
    if (c != 0) { found = c; count++; }
  }
  return count == 1 ? found : 0;
}

// Rebuilds nested inlining (A inlines B inlines C) from the layout of the code: TurboFan lays an
// inlined function's code inside the code of the function it was inlined into, so walking the
// position entries in code order, a change of function either enters a new inlined function (it
// becomes the innermost of the current chain) or returns to one already on the chain (the chain is
// cut back to it). Entries of unknown function continue the current chain. Each link keeps the last
// entry seen of its function: the position it is at (for a caller, the call into the next link).
void CodeMap::BuildChains(Code& code) {
  const auto& pos = *code.positions;
  auto chains = std::make_shared<std::vector<std::vector<ChainLink>>>(pos.size());
  std::vector<ChainLink> chain{{code.function, kNoOffset, kNoOffset}};  // the current one
  for (size_t i = 0; i < pos.size(); i++) {
    uint32_t f = Attribute(code, pos[i].second);
    if (f != 0) {
      auto at = std::find_if(chain.begin(), chain.end(), [f](const ChainLink& l) { return l.function == f; });
      if (at != chain.end()) chain.erase(at + 1, chain.end());
      else chain.push_back({f, kNoOffset, kNoOffset});
      chain.back().offset = pos[i].second;
      chain.back().entry = static_cast<uint32_t>(i);
    } else if (chain.back().entry == kNoOffset) {
      // A position no function's bytecode has (the function's entry, say) still places the innermost
      // function until one of its own comes.
      chain.back().offset = pos[i].second;
      chain.back().entry = static_cast<uint32_t>(i);
    }
    (*chains)[i] = chain;
  }
  code.chains = std::move(chains);
}

std::pair<uint32_t, uint32_t> CodeMap::LineOf(uint32_t function, int code_script, uint32_t offset) const {
  if (offset == kNoOffset) return {0, 0};
  auto range = range_of_.find(function);
  int script = range != range_of_.end() ? range->second.first : code_script;
  auto it = script_lines_.find(static_cast<uint64_t>(script) << 32 | offset);
  if (it == script_lines_.end()) return {0, 0};
  return {static_cast<uint32_t>(it->second >> 32), static_cast<uint32_t>(it->second)};
}

// V8 may run its embedded builtins from a copy of the executable's pages mapped elsewhere (short
// builtin calls), while its code events report them at their place in the executable. A file mapping
// whose address does not follow the file's own load bias is such a copy.
void CodeMap::RefreshAliases() {
  epoch_++;
  aliases_.clear();
  native_.clear();
  FILE* f = fopen("/proc/self/maps", "r");
  if (f == nullptr) return;
  struct Mapping { uintptr_t start, end, offset; unsigned long inode; };
  std::vector<Mapping> maps;
  char line[4096];
  while (fgets(line, sizeof line, f) != nullptr) {
    unsigned long start, end, offset, inode;
    char perms[8];
    unsigned dev_major, dev_minor;
    if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &start, &end, perms, &offset, &dev_major, &dev_minor, &inode) != 7) continue;
    if (inode == 0 || perms[2] != 'x') continue;
    maps.push_back({start, end, offset, inode});
    native_.emplace_back(start, end);
  }
  fclose(f);
  for (const Mapping& m : maps) {
    // The file's load bias is that of its lowest mapping; a mapping that disagrees is a copy.
    const Mapping* first = &m;
    for (const Mapping& o : maps)
      if (o.inode == m.inode && o.start < first->start) first = &o;
    intptr_t bias = static_cast<intptr_t>(first->start - first->offset);
    intptr_t natural = static_cast<intptr_t>(m.offset) + bias;
    if (natural != static_cast<intptr_t>(m.start))
      aliases_.push_back({m.start, m.end, natural - static_cast<intptr_t>(m.start)});
  }
}

bool CodeMap::IsNative(uintptr_t address) const {
  for (const auto& [start, end] : native_)
    if (address >= start && address < end) return true;
  return false;
}

bool CodeMap::Lookup(uintptr_t address, std::map<uintptr_t, Code>::iterator* found) {
  auto it = code_.upper_bound(address);
  if (it == code_.begin()) return false;
  --it;
  if (address >= it->first + it->second.size) return false;
  *found = it;
  return true;
}

bool CodeMap::ResolveJS(uintptr_t pc, std::vector<ResolvedFrame>& out) {
  std::map<uintptr_t, Code>::iterator it;
  if (!Lookup(pc, &it) || !it->second.js) return false;
  return Resolve(pc, false, out);
}

bool CodeMap::Resolve(uintptr_t address, bool is_return_address, std::vector<ResolvedFrame>& out) {
  std::map<uintptr_t, Code>::iterator it;
  if (!Lookup(address, &it)) {
    bool aliased = false;
    for (const Alias& a : aliases_) {
      if (address >= a.start && address < a.end && Lookup(address + a.delta, &it)) {
        address += a.delta;
        aliased = true;
        break;
      }
    }
    if (!aliased) {
      if (kDebug) fprintf(stderr, "UNKNOWN %lx\n", address);
      return IsNative(address);
    }
  }
  Code& code = it->second;
  uintptr_t offset = address - it->first;
  const auto* pos = code.positions.get();
  // The entry of the position table in force at the address. A return address points after its call:
  // one byte back is inside it. An interrupted pc is the next instruction to run: like V8's own
  // profiler, the entry before it is taken. A bytecode frame's address is the bytecode being run.
  (void)is_return_address;
  size_t index = SIZE_MAX;
  bool prologue = false;
  if (pos != nullptr && !pos->empty()) {
    if (!code.bytecode && offset > 0) offset--;
    auto p = std::upper_bound(pos->begin(), pos->end(), offset,
                              [](uintptr_t o, const std::pair<uint32_t, uint32_t>& e) { return o < e.first; });
    prologue = p == pos->begin();
    index = prologue ? 0 : static_cast<size_t>(p - pos->begin()) - 1;
  }
  if (index == SIZE_MAX) {
    out.push_back({code.function, code.tier});
    return true;
  }
  // Before the first entry (the prologue): the function itself, at its first entry's line, as V8's
  // profiler places it.
  if (prologue && !code.bytecode) {
    auto range = range_of_.find(code.function);
    bool own = code.lines && (range == range_of_.end() || range->second.first == code.script_id);
    auto lc = own ? (*code.lines)[0] : std::pair<uint32_t, uint32_t>{0, 0};
    out.push_back({code.function, code.tier, lc.first, lc.second});
    return true;
  }
  if (code.bytecode) {
    const auto& lc = (*code.lines)[index];
    out.push_back({code.function, code.tier, lc.first, lc.second});
    return true;
  }
  if (!code.chains) BuildChains(code);
  for (const ChainLink& link : (*code.chains)[index]) {
    // A position of the code's own script has its line read with the code; another script's is looked up.
    auto range = range_of_.find(link.function);
    bool own_script = range == range_of_.end() || range->second.first == code.script_id;
    auto [line, column] = own_script && code.lines && link.entry != kNoOffset ? (*code.lines)[link.entry]
                                                                             : LineOf(link.function, code.script_id, link.offset);
    out.push_back({link.function, code.tier, line, column});
  }
  return true;
}

}  // namespace vmprof
