// The JIT code event handler (Isolate::SetJitCodeEventHandler), called by V8 on the isolate's JS
// thread for code it creates or moves, and on V8's GC helper threads for the bytecode their parallel
// compaction moves (Node 26 does; the JS thread then waits in the GC pause). On the JS thread it copies
// names and source positions out of V8 (which may allocate: it is not a signal handler); on a helper
// it only takes the move, finding the isolate's state in a registry under its own lock, and calls no
// V8 API. Both queue what they took for the writer under the isolate's events_mu. On the JS thread it
// may be interrupted by the sample signal's handler at any point.
#include <v8.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "state.h"

namespace vmprof {

namespace {

// Scripts whose line starts are kept at most (jit.cc's LineColumn cache).
constexpr size_t kMaxLineStarts = 20000;

// The profiled state of the event's isolate when it is the calling thread's own.
ThreadState* StateOf(v8::Isolate* isolate) {
  ThreadState* ts = tls_state;
  return ts != nullptr && (isolate == nullptr || ts->isolate == isolate) ? ts : nullptr;
}

// A code move as the writer takes it.
RawCodeEvent MoveOf(const v8::JitCodeEvent* e) {
  RawCodeEvent ev;
  ev.type = RawCodeEvent::kMoved;
  ev.start = reinterpret_cast<uintptr_t>(e->code_start);
  ev.new_start = reinterpret_cast<uintptr_t>(e->new_code_start);
  return ev;
}

// Isolates whose state collects, for events V8 reports on another thread. The lock is held while such
// an event is queued, and taken to unregister before a state is freed: a helper never sees a freed one.
std::mutex g_registry_mu;
std::unordered_map<v8::Isolate*, ThreadState*> g_registry;

// Queues an event. The sequence number is taken in the same critical section as the push, and the
// writer takes the queue before it reads the ring: a sample is never resolved before an event that
// was numbered ahead of it.
void Queue(ThreadState* ts, RawCodeEvent&& ev) {
  std::lock_guard<std::mutex> lock(ts->events_mu);
  ev.seq = ts->seq.fetch_add(1, std::memory_order_relaxed);
  ts->events.push_back(std::move(ev));
}

// The 1-based line and column of `pos` in `script` (0, 0 when V8 has none). V8 is asked only for what
// the line starts learnt so far do not answer: per script, the start offset of each line met.
std::pair<uint32_t, uint32_t> LineColumn(ThreadState* ts, v8::Local<v8::UnboundScript> script, int script_id,
                                         uint32_t pos) {
  // A cache: it starts over past kMaxLineStarts scripts (a program making scripts with new Function
  // makes one each time, and none says it is gone).
  if (ts->script_lines.size() > kMaxLineStarts && ts->script_lines.count(script_id) == 0) ts->script_lines.clear();
  auto& starts = ts->script_lines[script_id];  // line start offset -> 0-based line
  auto next = starts.upper_bound(pos);
  int line = -1;
  if (next != starts.begin()) {
    auto at = std::prev(next);
    if (next != starts.end() && next->second == at->second + 1) return {at->second + 1, pos - at->first + 1};
    line = script->GetLineNumber(static_cast<int>(pos));
    if (line >= 0 && static_cast<uint32_t>(line) == at->second) return {at->second + 1, pos - at->first + 1};
  }
  if (line < 0) line = script->GetLineNumber(static_cast<int>(pos));
  int column = script->GetColumnNumber(static_cast<int>(pos));
  if (line < 0 || column < 0 || static_cast<uint32_t>(column) > pos) return {0, 0};
  starts.emplace(pos - static_cast<uint32_t>(column), static_cast<uint32_t>(line));
  return {static_cast<uint32_t>(line) + 1, static_cast<uint32_t>(column) + 1};
}

// A script's name (or its //# sourceURL) and //# sourceMappingURL, as UTF-8.
std::string ScriptString(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  if (value.IsEmpty() || !value->IsString()) return std::string();
  v8::String::Utf8Value utf8(isolate, value);
  return *utf8 == nullptr ? std::string() : std::string(*utf8, utf8.length());
}

}  // namespace

void RegisterIsolate(ThreadState* ts) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  g_registry[ts->isolate] = ts;
}

void UnregisterIsolate(ThreadState* ts) {
  std::lock_guard<std::mutex> lock(g_registry_mu);
  auto it = g_registry.find(ts->isolate);
  if (it != g_registry.end() && it->second == ts) g_registry.erase(it);
}

void OnJitCodeEvent(const v8::JitCodeEvent* e) {
  ThreadState* ts = StateOf(e->isolate);
  if (ts == nullptr && e->type == v8::JitCodeEvent::CODE_MOVED && e->isolate != nullptr) {
    // A GC helper thread moving an isolate's bytecode: its samples must find the code where it went.
    std::lock_guard<std::mutex> lock(g_registry_mu);
    auto it = g_registry.find(e->isolate);
    if (it != g_registry.end() && it->second->collecting.load(std::memory_order_relaxed)) {
      Queue(it->second, MoveOf(e));
      return;
    }
  }
  if (ts == nullptr || !ts->collecting.load(std::memory_order_relaxed)) {
    if (e->type == v8::JitCodeEvent::CODE_ADDED || e->type == v8::JitCodeEvent::CODE_MOVED)
      g_jit_events_lost.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  using Positions = std::vector<std::pair<uint32_t, uint32_t>>;
  switch (e->type) {
    case v8::JitCodeEvent::CODE_START_LINE_INFO_RECORDING:
      const_cast<v8::JitCodeEvent*>(e)->user_data = new Positions();
      return;
    case v8::JitCodeEvent::CODE_ADD_LINE_POS_INFO:
      // Statement and expression positions both: V8's own profiler places a sample by either.
      if (e->user_data != nullptr)
        static_cast<Positions*>(e->user_data)
            ->emplace_back(static_cast<uint32_t>(e->line_info.offset), static_cast<uint32_t>(e->line_info.pos));
      return;
    case v8::JitCodeEvent::CODE_END_LINE_INFO_RECORDING:
      if (e->user_data != nullptr)
        ts->line_info[reinterpret_cast<uintptr_t>(e->code_start)].reset(static_cast<Positions*>(e->user_data));
      return;
    case v8::JitCodeEvent::CODE_ADDED: {
      RawCodeEvent ev;
      ev.type = RawCodeEvent::kAdded;
      ev.bytecode = e->code_type == v8::JitCodeEvent::BYTE_CODE;
      ev.wasm = e->code_type == v8::JitCodeEvent::WASM_CODE;
      ev.start = reinterpret_cast<uintptr_t>(e->code_start);
      ev.size = e->code_len;
      ev.name.assign(e->name.str, e->name.len);
      auto li = ts->line_info.find(ev.start);
      if (li != ts->line_info.end()) {
        ev.positions = std::move(*li->second);
        ts->line_info.erase(li);
        std::stable_sort(ev.positions.begin(), ev.positions.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      if (!e->script.IsEmpty()) {
        v8::HandleScope scope(ts->isolate);
        ev.script_id = e->script->GetId();
        if (ts->scripts_seen.emplace(ev.script_id, true).second) {
          ev.script_name = ScriptString(ts->isolate, e->script->GetScriptName());
          if (ev.script_name.empty()) ev.script_name = ScriptString(ts->isolate, e->script->GetSourceURL());
          ev.source_map_url = ScriptString(ts->isolate, e->script->GetSourceMappingURL());
        }
        // Lines are taken here, where V8 is at hand (it computed the script's line ends when it named
        // the code), against the code's own script: right for every position of bytecode, and for
        // optimized code's own and same-script inlined positions (the writer knows which are which).
        if (ts->lines && !ev.positions.empty()) {
          ev.lines.reserve(ev.positions.size());
          // Code whose first and last positions are on one line (a minified bundle's, a one-line
          // new Function's) has every position there: two lookups instead of one per position.
          auto [lo, hi] = std::minmax_element(ev.positions.begin(), ev.positions.end(),
                                              [](const auto& a, const auto& b) { return a.second < b.second; });
          auto first = LineColumn(ts, e->script, ev.script_id, lo->second);
          auto last = LineColumn(ts, e->script, ev.script_id, hi->second);
          if (first.first != 0 && first.first == last.first) {
            uint32_t start = lo->second - (first.second - 1);
            for (const auto& p : ev.positions) ev.lines.push_back({first.first, p.second - start + 1});
          } else {
            for (const auto& p : ev.positions) ev.lines.push_back(LineColumn(ts, e->script, ev.script_id, p.second));
          }
        }
      }
      Queue(ts, std::move(ev));
      return;
    }
    case v8::JitCodeEvent::CODE_MOVED:
      Queue(ts, MoveOf(e));
      return;
    default:
      return;
  }
}

}  // namespace vmprof
