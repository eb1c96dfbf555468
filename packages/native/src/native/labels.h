// Label sets: the key=value pairs a sample carries (SPEC.md LABELS). The registry is process-wide and
// outlives sessions: JS threads intern sets (withLabels) whether or not a session runs, and the writer
// thread reads them when it writes a LABELS record. The signal handler never touches the registry: it
// reads the interrupted thread's current set id from tls_label_set, a word the thread's own JS code
// writes (through the Uint32Array that LabelSlot gives it) around the work each set covers.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "encoder.h"

namespace vmprof {

// Most distinct label sets one process may intern; past it, Intern refuses (its caller runs the work
// unlabelled). Ids fit the 24 bits a ring entry has for them.
constexpr uint32_t kMaxLabelSets = 100000;
// Longest key or value, in bytes.
constexpr size_t kMaxLabelBytes = 1024;
// Most pairs in one set.
constexpr size_t kMaxLabelPairs = 64;

// The calling thread's current label set id (0: none). Written by the thread's JS code, read by the
// signal handler on the same thread (a plain aligned 32-bit load).
extern thread_local std::atomic<uint32_t> tls_label_set __attribute__((tls_model("initial-exec")));

// JS thread: the id of the set `pairs` (sorted by key, keys non-empty and unique: checked, with the
// sizes above), interning it on first use; 0 and `*error` set when it is refused.
uint32_t InternLabelSet(LabelPairs pairs, std::string* error);

// Writer thread (or a JS thread): the pairs of set `id` (1-based), or nullptr. The pointer stays
// valid for the life of the process (sets are never removed).
const LabelPairs* LabelSetPairs(uint32_t id);

}  // namespace vmprof
