// Byte-level encoding of the profile format (packages/format/SPEC.md): varints, strings, records,
// and the columnar SAMPLES body. Runs on the writer thread (and on the JS thread for the header);
// allocates freely, never used from a signal handler.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vmprof {

// Record types of SPEC.md section 3.
enum RecordType : uint8_t {
  kMeta = 1, kProcess = 2, kThread = 3, kFunction = 4, kFrame = 5, kStacks = 6, kSamples = 7, kScript = 8, kLabels = 0x0B, kEnd = 0x0F
};

// A growable byte buffer with the format's primitive encodings.
class Bytes {
 public:
  std::string data;
  void u8(uint8_t v) { data.push_back(static_cast<char>(v)); }
  void uv(uint64_t v) {
    while (v >= 0x80) { u8(static_cast<uint8_t>(v) | 0x80); v >>= 7; }
    u8(static_cast<uint8_t>(v));
  }
  void sv(int64_t v) { uv(v >= 0 ? static_cast<uint64_t>(v) << 1 : (static_cast<uint64_t>(-(v + 1)) << 1) | 1); }
  void str(std::string_view s) { uv(s.size()); data.append(s.data(), s.size()); }
  void f64(double d);
  // Appends one record: type, uvarint length, payload.
  void record(RecordType type, const Bytes& payload) {
    u8(type);
    uv(payload.data.size());
    data += payload.data;
  }
};

// One metadata value: string, integer or list of strings (SPEC.md META kinds 0, 1, 3).
struct MetaValue {
  enum Kind : uint8_t { kString = 0, kInt = 1, kList = 3 } kind;
  std::string s;
  int64_t i = 0;
  std::vector<std::string> list;
};
using MetaEntries = std::vector<std::pair<std::string, MetaValue>>;

// Appends a META record for `scope` (0: the whole profile).
void EncodeMeta(Bytes& out, uint64_t scope, const MetaEntries& entries);

// The 12-byte file header (version 1.2).
void EncodeHeader(Bytes& out);

// A PROCESS record: pid, parent pid, start time (µs since the Unix epoch), name.
void EncodeProcess(Bytes& out, uint64_t pid, uint64_t ppid, uint64_t start_us, std::string_view name);

// A THREAD record of process `process` (1-based index of its PROCESS record): tid, name, kind.
void EncodeThread(Bytes& out, uint64_t process, uint64_t tid, std::string_view name, uint8_t kind);

// A FUNCTION record (its id is its 1-based position among FUNCTION records): kind, name, file, 1-based
// line and column (0: unknown).
void EncodeFunction(Bytes& out, uint8_t kind, std::string_view name, std::string_view file, uint32_t line,
                    uint32_t column);

// A FRAME record: function id, tier, and the 1-based line and column the frame was executing (0: unknown).
void EncodeFrame(Bytes& out, uint32_t function, uint8_t tier, uint32_t line, uint32_t column);

// A SCRIPT record: a script's name (as FUNCTION records give it) and its `//# sourceMappingURL=` value.
void EncodeScript(Bytes& out, std::string_view file, std::string_view source_map_url);

// A label set as key=value pairs, keys non-empty, unique and sorted.
using LabelPairs = std::vector<std::pair<std::string, std::string>>;

// A LABELS record defining the label sets `sets` (the next ids, in order). Nothing when `sets` is empty.
void EncodeLabels(Bytes& out, const std::vector<const LabelPairs*>& sets);

// STACKS records for the stack nodes `first`, `first + 1`, ... given as (parent id, frame id) pairs
// (parent 0: a root), at most 500,000 nodes per record. Nothing when `nodes` is empty.
void EncodeStacks(Bytes& out, uint32_t first, const std::vector<std::pair<uint32_t, uint32_t>>& nodes);

// Per-sample columns of one thread's batch, in µs since the origin (time) and µs (weights).
struct SampleColumns {
  std::vector<uint64_t> time, wall, cpu;
  std::vector<uint8_t> state;
  std::vector<uint32_t> stack;
  std::vector<uint32_t> labels;  // label set ids (0: none)
  size_t size() const { return time.size(); }
  void clear() { time.clear(); wall.clear(); cpu.clear(); state.clear(); stack.clear(); labels.clear(); }
};

// Appends SAMPLES records for samples [from, to) of `cols` (at most 65536 per record), deflated when
// `compress` and smaller that way. Stack deltas start at 0 in each record; the label column is written
// only for a record with a labelled sample.
void EncodeSamples(Bytes& out, uint64_t thread_id, const SampleColumns& cols, size_t from, size_t to,
                   bool compress);

}  // namespace vmprof
