// The label-set registry (labels.h). InternLabelSet runs on JS threads, LabelSetPairs on the writer
// thread; both take g_labels_mu and may allocate. Nothing here runs in a signal handler.
#include "labels.h"

#include <deque>
#include <map>
#include <mutex>

namespace vmprof {

thread_local std::atomic<uint32_t> tls_label_set __attribute__((tls_model("initial-exec"))){0};

namespace {
std::mutex g_labels_mu;
std::deque<LabelPairs> g_sets;             // id - 1 -> pairs; a deque: pointers stay valid as it grows
std::map<LabelPairs, uint32_t> g_set_ids;  // pairs -> id
}  // namespace

uint32_t InternLabelSet(LabelPairs pairs, std::string* error) {
  if (pairs.empty()) return 0;
  if (pairs.size() > kMaxLabelPairs) {
    *error = "a label set may have at most " + std::to_string(kMaxLabelPairs) + " labels, got " + std::to_string(pairs.size());
    return 0;
  }
  for (size_t i = 0; i < pairs.size(); i++) {
    const auto& [k, v] = pairs[i];
    if (k.empty()) {
      *error = "a label key must not be empty";
      return 0;
    }
    if (k.size() > kMaxLabelBytes || v.size() > kMaxLabelBytes) {
      *error = "label \"" + k.substr(0, 40) + (k.size() > 40 ? "..." : "") + "\" is longer than " + std::to_string(kMaxLabelBytes) + " bytes";
      return 0;
    }
    if (i > 0 && !(pairs[i - 1].first < k)) {
      *error = pairs[i - 1].first == k ? "label key \"" + k + "\" given twice" : "label keys must be sorted";
      return 0;
    }
  }
  std::lock_guard<std::mutex> lock(g_labels_mu);
  auto it = g_set_ids.find(pairs);
  if (it != g_set_ids.end()) return it->second;
  if (g_sets.size() >= kMaxLabelSets) {
    *error = "more than " + std::to_string(kMaxLabelSets) + " distinct label sets in this process (label values should name kinds of work, such as routes, not single requests)";
    return 0;
  }
  g_sets.push_back(pairs);
  uint32_t id = static_cast<uint32_t>(g_sets.size());
  g_set_ids.emplace(std::move(pairs), id);
  return id;
}

const LabelPairs* LabelSetPairs(uint32_t id) {
  std::lock_guard<std::mutex> lock(g_labels_mu);
  return id >= 1 && id <= g_sets.size() ? &g_sets[id - 1] : nullptr;
}

}  // namespace vmprof
