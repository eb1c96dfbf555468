// Encoding of the profile format; runs on the writer thread (see encoder.h).
#include "encoder.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>

namespace vmprof {

void Bytes::f64(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  for (int i = 0; i < 8; i++) u8(static_cast<uint8_t>(bits >> (8 * i)));
}

void EncodeHeader(Bytes& out) {
  static const uint8_t kHeader[12] = {0x89, 'V', 'M', 'P', 'R', 'O', 'F', '\n', 1, 2, 0, 0};
  out.data.append(reinterpret_cast<const char*>(kHeader), sizeof kHeader);
}

void EncodeMeta(Bytes& out, uint64_t scope, const MetaEntries& entries) {
  Bytes p;
  p.uv(scope);
  p.uv(entries.size());
  for (const auto& [key, value] : entries) {
    p.str(key);
    p.u8(value.kind);
    switch (value.kind) {
      case MetaValue::kString: p.str(value.s); break;
      case MetaValue::kInt: p.sv(value.i); break;
      case MetaValue::kList:
        p.uv(value.list.size());
        for (const auto& s : value.list) p.str(s);
        break;
    }
  }
  out.record(kMeta, p);
}

void EncodeProcess(Bytes& out, uint64_t pid, uint64_t ppid, uint64_t start_us, std::string_view name) {
  Bytes p;
  p.uv(pid);
  p.uv(ppid);
  p.uv(start_us);
  p.str(name);
  out.record(kProcess, p);
}

void EncodeThread(Bytes& out, uint64_t process, uint64_t tid, std::string_view name, uint8_t kind) {
  Bytes p;
  p.uv(process);
  p.uv(tid);
  p.str(name);
  p.u8(kind);
  out.record(kThread, p);
}

void EncodeFunction(Bytes& out, uint8_t kind, std::string_view name, std::string_view file, uint32_t line,
                    uint32_t column) {
  Bytes p;
  p.u8(kind);
  p.str(name);
  p.str(file);
  p.uv(line);
  p.uv(column);
  out.record(kFunction, p);
}

void EncodeFrame(Bytes& out, uint32_t function, uint8_t tier, uint32_t line, uint32_t column) {
  Bytes p;
  p.uv(function);
  p.u8(tier);
  p.uv(line);
  p.uv(column);
  out.record(kFrame, p);
}

void EncodeScript(Bytes& out, std::string_view file, std::string_view source_map_url) {
  Bytes p;
  p.str(file);
  p.str(source_map_url);
  out.record(kScript, p);
}

void EncodeStacks(Bytes& out, uint32_t first, const std::vector<std::pair<uint32_t, uint32_t>>& nodes) {
  constexpr size_t kMaxNodes = 500000;
  for (size_t i = 0; i < nodes.size();) {
    size_t end = std::min(nodes.size(), i + kMaxNodes);
    Bytes p;
    p.uv(end - i);
    for (; i < end; i++) {
      // A node's parent as a backward distance from its own id (a root: its own id, pointing at 0).
      uint32_t id = first + static_cast<uint32_t>(i);
      uint32_t parent = nodes[i].first;
      p.uv(parent == 0 ? id : id - parent);
      p.uv(nodes[i].second);
    }
    out.record(kStacks, p);
  }
}

// Raw DEFLATE (RFC 1951) of `in`; empty on failure. zlib comes from the node binary's own exports.
static std::string Deflate(const std::string& in) {
  z_stream z;
  std::memset(&z, 0, sizeof z);
  if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  size_t n = out.size() - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return {};
  out.resize(n);
  return out;
}

void EncodeLabels(Bytes& out, const std::vector<const LabelPairs*>& sets) {
  if (sets.empty()) return;
  Bytes p;
  p.uv(sets.size());
  for (const LabelPairs* set : sets) {
    p.uv(set->size());
    for (const auto& [k, v] : *set) {
      p.str(k);
      p.str(v);
    }
  }
  out.record(kLabels, p);
}

static uint64_t Zig(int64_t v) { return v >= 0 ? static_cast<uint64_t>(v) << 1 : (static_cast<uint64_t>(-(v + 1)) << 1) | 1; }

static void EncodeBatch(Bytes& out, uint64_t thread_id, const SampleColumns& c, size_t from, size_t to,
                        bool compress) {
  size_t n = to - from;
  // The batch's typical step: the median time step (0 for a single sample).
  std::vector<uint64_t> steps;
  steps.reserve(n);
  for (size_t i = from + 1; i < to; i++) steps.push_back(c.time[i] - c.time[i - 1]);
  uint64_t period = 0;
  if (!steps.empty()) {
    std::vector<uint64_t> sorted(steps);
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    period = sorted[sorted.size() / 2];
  }
  Bytes body;
  body.uv(c.time[from]);
  for (uint64_t s : steps) body.uv(Zig(static_cast<int64_t>(s) - static_cast<int64_t>(period)));
  for (size_t i = from; i < to; i++) {
    uint64_t expected = i == from ? period : c.time[i] - c.time[i - 1];
    body.uv(Zig(static_cast<int64_t>(c.wall[i]) - static_cast<int64_t>(expected)));
  }
  for (size_t i = from; i < to; i++) body.uv(Zig(static_cast<int64_t>(c.cpu[i]) - static_cast<int64_t>(c.wall[i])));
  for (size_t i = from; i < to;) {
    size_t j = i;
    while (j < to && c.state[j] == c.state[i]) j++;
    body.uv(c.state[i]);
    body.uv(j - i);
    i = j;
  }
  uint32_t prev = 0;
  for (size_t i = from; i < to; i++) {
    body.uv(Zig(static_cast<int64_t>(c.stack[i]) - static_cast<int64_t>(prev)));
    prev = c.stack[i];
  }
  bool labelled = false;
  for (size_t i = from; i < to && !labelled; i++) labelled = c.labels[i] != 0;
  for (size_t i = from; labelled && i < to;) {
    size_t j = i;
    while (j < to && c.labels[j] == c.labels[i]) j++;
    body.uv(c.labels[i]);
    body.uv(j - i);
    i = j;
  }
  Bytes p;
  p.uv(thread_id);
  p.uv(n);
  std::string deflated = compress ? Deflate(body.data) : std::string();
  bool use_deflate = !deflated.empty() && deflated.size() < body.data.size();
  p.u8(use_deflate ? 1 : 0);
  p.uv(period);
  p.data += use_deflate ? deflated : body.data;
  out.record(kSamples, p);
}

void EncodeSamples(Bytes& out, uint64_t thread_id, const SampleColumns& cols, size_t from, size_t to,
                   bool compress) {
  constexpr size_t kMaxBatch = 65536;
  for (size_t i = from; i < to; i += kMaxBatch) EncodeBatch(out, thread_id, cols, i, std::min(to, i + kMaxBatch), compress);
}

}  // namespace vmprof
