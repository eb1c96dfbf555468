// The sampler's API: one profiling session per process, one ThreadState per profiled isolate (main
// thread and each worker). Every function here is called on a JS thread (from addon.cc) or, for
// IsolateExiting, on the exiting isolate's own thread. Which thread runs the rest, and what it may do
// there, is said in state.h and at the top of each file: signal.cc (the signal handler), ticker.cc
// (the sampler thread), jit.cc (the JIT code event handler), writer.cc (the writer thread),
// session.cc (this API).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "encoder.h"

namespace v8 { class Isolate; }

namespace vmprof {

// How to sample. Set once per session.
struct Options {
  uint64_t period_us = 990;  // sampling period, µs
  bool cpu_mode = true;      // true: sample CPU time (thread CPU clocks); false: wall-clock time
  uint32_t max_depth = 256;  // frames kept per sample (innermost first); deeper stacks are cut
  bool compress = true;      // deflate SAMPLES bodies
  bool lines = true;         // give frames the line and column they were executing
  // Unwind native frames too (libunwind, unwind.h): between the interrupted pc and the innermost JS
  // frame, and below the outermost; symbolized by the writer from the process's ELF files.
  bool native = false;
  // A descriptor the writer thread watches (the read end of a pipe or FIFO; -1: none). When its last
  // writer closes it (or dies), the writer finishes the session on its own (END written, sampling
  // stopped) without waiting for the JS thread, which may be busy; stop() then only joins and
  // releases. Owned by the caller, never closed by the session. What vmprof-record --pid holds.
  int control_fd = -1;
};

// Counters of a session, for stop() and stats().
struct Stats {
  uint64_t samples = 0;  // samples written
  uint64_t threads = 0;  // threads that joined the session
  uint64_t dropped = 0;  // ticks that did not become samples, all reasons (state.h, DropReason)
  std::string timer;     // "thread-cpu-clock" (cpu mode) or "wall-clock"
  std::string error;     // the first write error, if any
  std::vector<std::string> scripts;  // scripts whose SCRIPT record (a declared source map) was written
};

// Starts a session writing to `fd` (not closed by the session): writes the header, `meta` (profile
// scope) and one PROCESS record, then starts the writer and sampler threads. Returns false with `error` set if a
// session is already running or the fd cannot be written.
bool Start(int fd, const Options& options, const MetaEntries& meta, const std::string& process_name,
           std::string* error);

// Registers the calling thread's isolate with the running session: installs its JIT code event
// handler and makes it a target of the sampler thread. Returns false with `error` set when no session
// runs or the thread is already registered.
bool AddThread(v8::Isolate* isolate, const std::string& name, uint8_t kind, std::string* error);

// Called when an isolate is about to go away (on its own thread): writes out its samples, removes
// its handler, stops its signals, frees its state. Safe to call for an isolate that was never registered.
void IsolateExiting(v8::Isolate* isolate);

// Ends the session: stops the signals and the sampler thread, writes all pending samples, the final counters and the END
// record, and removes the calling thread's JIT code event handler (V8 then stops reporting code to
// us: nothing of the sampler costs the thread anything after it). Threads other than the caller keep
// an idle handler until they call ReleaseThread or exit. Idempotent; returns the session's counters
// (zeros when none ran).
Stats Stop();

// Removes the calling thread's JIT code event handler once the session no longer samples it (a
// worker left running after stop). Returns false, doing nothing, while the thread is still sampled.
bool ReleaseThread(v8::Isolate* isolate);

// True while a session runs.
bool IsEnabled();

// Counters of the running (or last) session.
Stats CurrentStats();

// For SIGINT, SIGTERM and SIGHUP not ignored: on delivery, the session is finished (complete file),
// then the previous disposition (default, or Node's own handler) is restored and the signal re-raised,
// so the process still dies of it. Call before the program runs: a program that installs its own
// handler later replaces ours.
void InstallTerminationHandlers();

}  // namespace vmprof
