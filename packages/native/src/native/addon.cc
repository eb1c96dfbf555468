// The JS binding of the sampler (node-addon-api). Every function runs on the calling isolate's JS
// thread. Loaded per isolate: the main thread and each worker thread that uses it (twice when both
// require and process.dlopen load it: Init is safe to run again).
#include <fcntl.h>
#include <napi.h>
#include <unistd.h>
#include <uv.h>
#include <v8.h>

#include <cerrno>
#include <cstring>

#include "codemap.h"
#include "encoder.h"
#include "labels.h"
#include "profiler.h"

namespace {

vmprof::MetaEntries ToMeta(const Napi::Array& entries) {
  vmprof::MetaEntries meta;
  for (uint32_t i = 0; i < entries.Length(); i++) {
    Napi::Value item = entries.Get(i);
    if (!item.IsArray()) throw Napi::TypeError::New(entries.Env(), "meta entries must be [key, value] pairs");
    Napi::Array pair = item.As<Napi::Array>();
    std::string key = pair.Get(0u).ToString().Utf8Value();
    Napi::Value v = pair.Get(1u);
    vmprof::MetaValue value{vmprof::MetaValue::kString, {}, 0, {}};
    if (v.IsNumber()) {
      value.kind = vmprof::MetaValue::kInt;
      value.i = v.As<Napi::Number>().Int64Value();
    } else if (v.IsArray()) {
      value.kind = vmprof::MetaValue::kList;
      Napi::Array list = v.As<Napi::Array>();
      for (uint32_t j = 0; j < list.Length(); j++) value.list.push_back(list.Get(j).ToString().Utf8Value());
    } else {
      value.s = v.ToString().Utf8Value();
    }
    meta.emplace_back(std::move(key), std::move(value));
  }
  return meta;
}

Napi::Object StatsObject(Napi::Env env, const vmprof::Stats& st) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("samples", Napi::Number::New(env, static_cast<double>(st.samples)));
  o.Set("threads", Napi::Number::New(env, static_cast<double>(st.threads)));
  o.Set("dropped", Napi::Number::New(env, static_cast<double>(st.dropped)));
  o.Set("timer", Napi::String::New(env, st.timer));
  if (!st.error.empty()) o.Set("error", Napi::String::New(env, st.error));
  Napi::Array scripts = Napi::Array::New(env, st.scripts.size());
  for (uint32_t i = 0; i < st.scripts.size(); i++) scripts.Set(i, Napi::String::New(env, st.scripts[i]));
  o.Set("scripts", scripts);
  return o;
}

// start(fd, {periodUs, mode, maxDepth, compress, lines, native, controlFd}, meta: [key, value][], processName)
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsObject() || !info[2].IsArray() || !info[3].IsString())
    throw Napi::TypeError::New(env, "start(fd, options, meta, processName)");
  Napi::Object o = info[1].As<Napi::Object>();
  vmprof::Options options;
  options.period_us = static_cast<uint64_t>(o.Get("periodUs").ToNumber().Int64Value());
  options.cpu_mode = o.Get("mode").ToString().Utf8Value() != "wall";
  options.max_depth = o.Get("maxDepth").ToNumber().Uint32Value();
  options.compress = o.Get("compress").IsUndefined() || o.Get("compress").ToBoolean().Value();
  options.lines = o.Get("lines").IsUndefined() || o.Get("lines").ToBoolean().Value();
  options.native = o.Get("native").ToBoolean().Value();
  if (o.Get("controlFd").IsNumber()) options.control_fd = o.Get("controlFd").ToNumber().Int32Value();
  if (options.period_us < 50) throw Napi::RangeError::New(env, "period must be at least 50 µs");
  std::string error;
  if (!vmprof::Start(info[0].As<Napi::Number>().Int32Value(), options, ToMeta(info[2].As<Napi::Array>()),
                     info[3].As<Napi::String>().Utf8Value(), &error))
    throw Napi::Error::New(env, error);
  return env.Undefined();
}

// addThread(name, kind): profiles the calling isolate's thread.
Napi::Value AddThread(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string error;
  uint8_t kind = info.Length() > 1 ? static_cast<uint8_t>(info[1].ToNumber().Uint32Value()) : 0;
  if (!vmprof::AddThread(v8::Isolate::GetCurrent(), info[0].ToString().Utf8Value(), kind, &error))
    throw Napi::Error::New(env, error);
  return env.Undefined();
}

Napi::Value Stop(const Napi::CallbackInfo& info) { return StatsObject(info.Env(), vmprof::Stop()); }
// releaseThread(): the calling thread's JIT code event handler goes, once its sampling has ended;
// returns false while it is still sampled.
Napi::Value ReleaseThread(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), vmprof::ReleaseThread(v8::Isolate::GetCurrent()));
}
Napi::Value Stats(const Napi::CallbackInfo& info) { return StatsObject(info.Env(), vmprof::CurrentStats()); }
Napi::Value IsEnabled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), vmprof::IsEnabled()); }
// The main thread runs libuv's default loop; each worker thread has a loop of its own. (The preload
// asks this instead of loading node:worker_threads, a few ms of every profiled process's start.)
Napi::Value IsMainThread(const Napi::CallbackInfo& info) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(info.Env(), &loop) != napi_ok) loop = nullptr;
  return Napi::Boolean::New(info.Env(), loop != nullptr && loop == uv_default_loop());
}
Napi::Value InstallTerminationHandlers(const Napi::CallbackInfo& info) {
  vmprof::InstallTerminationHandlers();
  return info.Env().Undefined();
}

// parseCodeName(v8Name, scriptName, bytecode, wasm): how the sampler reads one of V8's code names
// ({kind, name, file, line, column, tier}); for tests of the name tables and for diagnostics.
Napi::Value ParseCodeName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  vmprof::FunctionDesc f;
  vmprof::Tier tier;
  vmprof::ParseCodeName(info[0].ToString().Utf8Value(), info[1].ToString().Utf8Value(), info[2].ToBoolean().Value(),
                        info[3].ToBoolean().Value(), f, tier);
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", Napi::Number::New(env, f.kind));
  o.Set("name", Napi::String::New(env, f.name));
  o.Set("file", Napi::String::New(env, f.file));
  o.Set("line", Napi::Number::New(env, f.line));
  o.Set("column", Napi::Number::New(env, f.column));
  o.Set("tier", Napi::Number::New(env, tier));
  return o;
}

// encoderSample(): a fixed recording of every record type, made by the native encoder exactly as the
// writer thread makes them (the same calls), for the golden test that pins its bytes.
Napi::Value EncoderSample(const Napi::CallbackInfo& info) {
  vmprof::Bytes out;
  vmprof::EncodeHeader(out);
  vmprof::MetaEntries meta;
  meta.push_back({"mode", vmprof::MetaValue{vmprof::MetaValue::kString, "cpu", 0, {}}});
  meta.push_back({"period_us", vmprof::MetaValue{vmprof::MetaValue::kInt, {}, 990, {}}});
  meta.push_back({"argv", vmprof::MetaValue{vmprof::MetaValue::kList, {}, 0, {"node", "app.js"}}});
  vmprof::EncodeMeta(out, 0, meta);
  vmprof::EncodeProcess(out, 4242, 1, 1700000000000000ull, "app.js");
  vmprof::EncodeThread(out, 1, 4242, "main", 0);
  vmprof::EncodeFunction(out, vmprof::kKindJS, "main", "/app.js", 1, 1);
  vmprof::EncodeFunction(out, vmprof::kKindJS, "work", "/app.js", 5, 10);
  vmprof::EncodeFunction(out, vmprof::kKindOther, "wasm-function[0]", "", 0, 0);
  vmprof::EncodeScript(out, "/app.js", "app.js.map");
  vmprof::EncodeFrame(out, 1, vmprof::kTierInterpreted, 2, 3);
  vmprof::EncodeFrame(out, 2, vmprof::kTierOptimized, 6, 12);
  vmprof::EncodeFrame(out, 3, vmprof::kTierBaseline, 0, 0);
  vmprof::EncodeStacks(out, 1, {{0, 1}, {1, 2}, {2, 3}});
  vmprof::LabelPairs a{{"route", "/a"}}, b{{"route", "/b"}, {"tenant", "x"}};
  vmprof::EncodeLabels(out, {&a, &b});
  vmprof::SampleColumns cols;
  for (uint32_t i = 0; i < 40; i++) {
    cols.time.push_back(1000 + 990 * i + (i % 7 == 3 ? 150 : 0));
    cols.wall.push_back(i == 0 ? 990 : cols.time[i] - cols.time[i - 1]);
    cols.cpu.push_back(i % 5 == 0 ? 400 : 980);
    cols.state.push_back(i % 9 == 8 ? 1 : 0);
    cols.stack.push_back(i % 9 == 8 ? 0 : 1 + i % 3);
    cols.labels.push_back(i < 20 || i % 4 == 0 ? 0 : 1 + i % 2);  // the first record has no label column
  }
  vmprof::EncodeSamples(out, 1, cols, 0, 20, false);
  vmprof::EncodeSamples(out, 1, cols, 20, 40, true);
  vmprof::MetaEntries end;
  end.push_back({"samples", vmprof::MetaValue{vmprof::MetaValue::kInt, {}, 40, {}}});
  vmprof::EncodeMeta(out, 0, end);
  vmprof::Bytes empty;
  out.record(vmprof::kEnd, empty);
  return Napi::Buffer<char>::Copy(info.Env(), out.data.data(), out.data.size());
}

// internLabels(pairs: [key, value][]): the registry id of the label set (keys sorted, unique,
// non-empty; sizes bounded: labels.h); throws a RangeError naming what is wrong.
Napi::Value InternLabels(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "internLabels([[key, value], ...])");
  Napi::Array list = info[0].As<Napi::Array>();
  vmprof::LabelPairs pairs;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value item = list.Get(i);
    if (!item.IsArray()) throw Napi::TypeError::New(env, "labels must be [key, value] pairs");
    Napi::Array pair = item.As<Napi::Array>();
    Napi::Value k = pair.Get(0u), v = pair.Get(1u);
    if (!k.IsString() || !v.IsString()) throw Napi::TypeError::New(env, "label keys and values must be strings");
    pairs.emplace_back(k.As<Napi::String>().Utf8Value(), v.As<Napi::String>().Utf8Value());
  }
  std::string error;
  uint32_t id = vmprof::InternLabelSet(std::move(pairs), &error);
  if (!error.empty()) throw Napi::RangeError::New(env, error);
  return Napi::Number::New(env, id);
}

// labelSlot(): a Uint32Array of one element over this thread's current label set id, which the signal
// handler reads (labels.h). The memory is the thread's own and lives as long as the thread, longer
// than its isolate and so than the array.
Napi::Value LabelSlot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  void* word = &vmprof::tls_label_set;
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, word, sizeof(uint32_t));
  return Napi::Uint32Array::New(env, 1, buffer, 0);
}

// makePipe(): [readFd, writeFd] of a new pipe, both close-on-exec (a child process must not hold the
// write end open, or the reader never sees its end). The buffer is raised to 1 MiB where the kernel
// allows (best effort): the writer thread blocks on a full pipe, and a reader that falls behind for a
// moment then costs nothing. For startContinuous: the session writes into it, a worker reads it.
Napi::Value MakePipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw Napi::Error::New(env, std::string("pipe: ") + std::strerror(errno));
  fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, fds[0]));
  out.Set(1u, Napi::Number::New(env, fds[1]));
  return out;
}

// The isolate of this thread whose cleanup hook is registered. The addon can be loaded twice in one
// environment (require and process.dlopen do not share a cache); Node aborts on a second hook with
// the same function and argument.
thread_local v8::Isolate* g_hooked = nullptr;

void OnEnvCleanup(void* isolate) {
  g_hooked = nullptr;
  vmprof::IsolateExiting(static_cast<v8::Isolate*>(isolate));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (g_hooked != isolate) {
    napi_add_env_cleanup_hook(env, OnEnvCleanup, isolate);
    g_hooked = isolate;
  }
  exports.Set("start", Napi::Function::New(env, Start));
  exports.Set("addThread", Napi::Function::New(env, AddThread));
  exports.Set("stop", Napi::Function::New(env, Stop));
  exports.Set("releaseThread", Napi::Function::New(env, ReleaseThread));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("isEnabled", Napi::Function::New(env, IsEnabled));
  exports.Set("isMainThread", Napi::Function::New(env, IsMainThread));
  exports.Set("installTerminationHandlers", Napi::Function::New(env, InstallTerminationHandlers));
  exports.Set("parseCodeName", Napi::Function::New(env, ParseCodeName));
  exports.Set("encoderSample", Napi::Function::New(env, EncoderSample));
  exports.Set("internLabels", Napi::Function::New(env, InternLabels));
  exports.Set("labelSlot", Napi::Function::New(env, LabelSlot));
  exports.Set("makePipe", Napi::Function::New(env, MakePipe));
  return exports;
}

}  // namespace

NODE_API_MODULE(vmprof, Init)
