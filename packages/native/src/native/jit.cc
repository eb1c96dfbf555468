// The JIT code event handler (Isolate::SetJitCodeEventHandler), called by V8 on the isolate's JS
// thread (the thread that creates or moves the code). It copies names and source positions out of V8
// (which may allocate: it is not a signal handler), and queues them for the writer under the
// thread's events_mu. It may be interrupted by the sample signal's handler at any point.
#include <v8.h>

#include <algorithm>

#include "state.h"

namespace vmprof {

namespace {

// The profiled state of the event's isolate: the calling thread's own. V8 reports code events on
// the isolate's thread; an event for another isolate (or one not profiled) is counted as lost.
ThreadState* StateOf(v8::Isolate* isolate) {
  ThreadState* ts = tls_state;
  return ts != nullptr && (isolate == nullptr || ts->isolate == isolate) ? ts : nullptr;
}

// Queues an event. The sequence number is taken in the same critical section as the push, and the
// writer takes the queue before it reads the ring: a sample is never resolved before an event that
// was numbered ahead of it.
void Queue(ThreadState* ts, RawCodeEvent&& ev) {
  std::lock_guard<std::mutex> lock(ts->events_mu);
  ev.seq = ts->seq.fetch_add(1, std::memory_order_relaxed);
  ts->events.push_back(std::move(ev));
}

}  // namespace

void OnJitCodeEvent(const v8::JitCodeEvent* e) {
  ThreadState* ts = StateOf(e->isolate);
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
      if (e->user_data != nullptr && e->line_info.position_type == v8::JitCodeEvent::POSITION)
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
        ev.script_id = e->script->GetId();
        if (ts->scripts_seen.emplace(ev.script_id, true).second) {
          v8::HandleScope scope(ts->isolate);
          v8::Local<v8::Value> name = e->script->GetScriptName();
          if (!name.IsEmpty() && name->IsString()) {
            v8::String::Utf8Value utf8(ts->isolate, name);
            if (*utf8 != nullptr) ev.script_name.assign(*utf8, utf8.length());
          }
        }
      }
      Queue(ts, std::move(ev));
      return;
    }
    case v8::JitCodeEvent::CODE_MOVED: {
      RawCodeEvent ev;
      ev.type = RawCodeEvent::kMoved;
      ev.start = reinterpret_cast<uintptr_t>(e->code_start);
      ev.new_start = reinterpret_cast<uintptr_t>(e->new_code_start);
      Queue(ts, std::move(ev));
      return;
    }
    default:
      return;
  }
}

}  // namespace vmprof
