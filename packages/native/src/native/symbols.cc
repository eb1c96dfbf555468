// Symbolization of native pcs (symbols.h). Runs on the writer thread, or a JS thread holding
// Session::mu; never in a signal handler. Reads /proc/self/maps and ELF files, allocates freely.
#include "symbols.h"
#include "unwind.h"

#include <cxxabi.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vmprof {

// The function symbols of one ELF file, by address, with its PT_LOAD segments to turn a file offset
// into the address the symbols use. The file stays mapped (read-only) for the names.
class ElfSymbols {
 public:
  explicit ElfSymbols(const std::string& path) { Load(path); }
  ~ElfSymbols() {
    if (base_ != nullptr) munmap(base_, size_);
  }
  // The symbol covering file offset `offset`, demangled; "" when none.
  std::string Lookup(uint64_t offset) const {
    uint64_t vaddr = 0;
    bool found = false;
    for (const auto& seg : loads_) {
      if (offset >= seg.offset && offset < seg.offset + seg.filesz) {
        vaddr = offset - seg.offset + seg.vaddr;
        found = true;
        break;
      }
    }
    if (!found || syms_.empty()) return "";
    auto it = std::upper_bound(syms_.begin(), syms_.end(), vaddr, [](uint64_t a, const Sym& s) { return a < s.value; });
    if (it == syms_.begin()) return "";
    --it;
    // A symbol with a size covers [value, value + size); asm routines without a size cover up to the next symbol.
    if (it->size != 0 && vaddr >= it->value + it->size) return "";
    return Demangle(it->name);
  }
  const std::string& build_id() const { return build_id_; }

 private:
  struct Sym {
    uint64_t value, size;
    const char* name;
  };
  struct Segment {
    uint64_t offset, filesz, vaddr;
  };
  static std::string Demangle(const char* name) {
    if (name[0] == '_' && name[1] == 'Z') {
      int status = 0;
      char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
      if (d != nullptr) {
        std::string out(d);
        std::free(d);
        return out;
      }
    }
    return name;
  }
  void Load(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
      close(fd);
      return;
    }
    void* m = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return;
    base_ = static_cast<uint8_t*>(m);
    size_ = static_cast<size_t>(st.st_size);
    const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base_);
    if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) return;
    auto in = [&](uint64_t off, uint64_t len) { return off <= size_ && len <= size_ - off; };
    if (in(eh->e_phoff, uint64_t{eh->e_phnum} * sizeof(Elf64_Phdr))) {
      const auto* ph = reinterpret_cast<const Elf64_Phdr*>(base_ + eh->e_phoff);
      for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD) loads_.push_back({ph[i].p_offset, ph[i].p_filesz, ph[i].p_vaddr});
        if (ph[i].p_type == PT_NOTE && in(ph[i].p_offset, ph[i].p_filesz)) ReadNotes(ph[i].p_offset, ph[i].p_filesz);
      }
    }
    if (!in(eh->e_shoff, uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr))) return;
    const auto* sh = reinterpret_cast<const Elf64_Shdr*>(base_ + eh->e_shoff);
    // .symtab (all functions, in unstripped files), else .dynsym (exported ones only).
    for (uint32_t want : {static_cast<uint32_t>(SHT_SYMTAB), static_cast<uint32_t>(SHT_DYNSYM)}) {
      for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum || sh[i].sh_entsize != sizeof(Elf64_Sym)) continue;
        const Elf64_Shdr& strs = sh[sh[i].sh_link];
        if (!in(sh[i].sh_offset, sh[i].sh_size) || !in(strs.sh_offset, strs.sh_size) || strs.sh_size == 0) continue;
        const auto* sym = reinterpret_cast<const Elf64_Sym*>(base_ + sh[i].sh_offset);
        const char* names = reinterpret_cast<const char*>(base_ + strs.sh_offset);
        if (names[strs.sh_size - 1] != '\0') continue;
        size_t count = sh[i].sh_size / sizeof(Elf64_Sym);
        for (size_t k = 0; k < count; k++) {
          int type = ELF64_ST_TYPE(sym[k].st_info);
          if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym[k].st_shndx == SHN_UNDEF || sym[k].st_value == 0) continue;
          if (sym[k].st_name >= strs.sh_size) continue;
          syms_.push_back({sym[k].st_value, sym[k].st_size, names + sym[k].st_name});
        }
      }
      if (!syms_.empty()) break;
    }
    // By address; of several symbols at one address (aliases), the one with a size, then the shortest name.
    std::sort(syms_.begin(), syms_.end(), [](const Sym& a, const Sym& b) {
      if (a.value != b.value) return a.value < b.value;
      if ((a.size != 0) != (b.size != 0)) return a.size != 0;
      return std::strlen(a.name) < std::strlen(b.name);
    });
    syms_.erase(std::unique(syms_.begin(), syms_.end(), [](const Sym& a, const Sym& b) { return a.value == b.value; }), syms_.end());
  }
  void ReadNotes(uint64_t off, uint64_t len) {
    uint64_t p = off, end = off + len;
    while (p + sizeof(Elf64_Nhdr) <= end) {
      const auto* n = reinterpret_cast<const Elf64_Nhdr*>(base_ + p);
      uint64_t name = p + sizeof(Elf64_Nhdr), desc = name + ((n->n_namesz + 3) & ~3u);
      uint64_t next = desc + ((n->n_descsz + 3) & ~3u);
      if (next > end) return;
      if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && std::memcmp(base_ + name, "GNU", 4) == 0) {
        static const char hex[] = "0123456789abcdef";
        build_id_.clear();
        for (uint32_t i = 0; i < n->n_descsz; i++) {
          build_id_.push_back(hex[base_[desc + i] >> 4]);
          build_id_.push_back(hex[base_[desc + i] & 15]);
        }
        return;
      }
      p = next;
    }
  }
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
  std::vector<Sym> syms_;
  std::vector<Segment> loads_;
  std::string build_id_;
};

Symbolizer::Symbolizer(FunctionTable& functions) : functions_(functions) {}
Symbolizer::~Symbolizer() = default;

uint32_t Symbolizer::Unknown() {
  if (unknown_ == 0) {
    FunctionDesc f;
    f.kind = kKindNative;
    f.name = "(unknown native)";
    unknown_ = functions_.Intern(f);
  }
  return unknown_;
}

void Symbolizer::Refresh() {
  unsigned long long adds = 0, subs = 0;
  LoaderCounters(&adds, &subs);
  reread_ = false;
  if (adds == adds_ && subs == subs_) return;
  adds_ = adds;
  subs_ = subs;
  ReadMaps();
}

// Adds the executable file mappings of /proc/self/maps. A mapping that overlaps an older one
// replaces it (the address range was reused); others are kept, loaded or not.
void Symbolizer::ReadMaps() {
  FILE* f = std::fopen("/proc/self/maps", "re");
  if (f == nullptr) return;
  char line[4096 + 128];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long long start, end, offset;
    char perms[8] = {};
    int path_at = 0;
    if (std::sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &offset, &path_at) < 4) continue;
    if (perms[2] != 'x') continue;
    std::string file = path_at > 0 ? line + path_at : "";
    while (!file.empty() && (file.back() == '\n' || file.back() == ' ')) file.pop_back();
    if (file.empty()) continue;  // anonymous executable memory: V8's code space, JIT of others
    auto it = maps_.find(start);
    if (it != maps_.end() && it->second.end == end && it->second.file == file && it->second.offset == offset) continue;
    // Drop what this range covers now.
    for (auto o = maps_.lower_bound(start > 0 ? start : 0); o != maps_.end() && o->first < end;) o = maps_.erase(o);
    auto before = maps_.lower_bound(start);
    if (before != maps_.begin() && std::prev(before)->second.end > start) maps_.erase(std::prev(before));
    NativeMapping m;
    m.start = start;
    m.end = end;
    m.offset = offset;
    m.file = file;
    maps_[start] = m;
    // Addresses of this range may have meant another file before.
    for (auto c = cache_.begin(); c != cache_.end();) c = (c->first >= start && c->first < end) ? cache_.erase(c) : std::next(c);
  }
  std::fclose(f);
}

ElfSymbols* Symbolizer::Elf(const std::string& file) {
  auto it = elves_.find(file);
  if (it != elves_.end()) return it->second.get();
  ElfSymbols* e = file[0] == '/' ? new ElfSymbols(file) : nullptr;
  elves_.emplace(file, std::unique_ptr<ElfSymbols>(e));
  return e;
}

uint32_t Symbolizer::Resolve(uintptr_t pc, bool return_address) {
  uintptr_t at = return_address && pc > 0 ? pc - 1 : pc;
  auto hit = cache_.find(at);
  if (hit != cache_.end()) return hit->second;
  auto it = maps_.upper_bound(at);
  if ((it == maps_.begin() || std::prev(it)->second.end <= at) && !reread_) {
    ReadMaps();  // a file mapped since the last look; once per writer cycle (Refresh)
    reread_ = true;
    it = maps_.upper_bound(at);
  }
  uint32_t function;
  if (it == maps_.begin() || std::prev(it)->second.end <= at) {
    function = Unknown();
    unsymbolized_++;
  } else {
    NativeMapping& m = std::prev(it)->second;
    m.used = true;
    uint64_t offset = at - m.start + m.offset;
    ElfSymbols* elf = Elf(m.file);
    if (elf != nullptr && m.build_id.empty()) m.build_id = elf->build_id();
    FunctionDesc f;
    f.kind = kKindNative;
    f.file = m.file;
    f.name = elf != nullptr ? elf->Lookup(offset) : "";
    if (f.name.empty()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "+0x%llx", static_cast<unsigned long long>(offset));
      size_t slash = m.file.rfind('/');
      f.name = (slash == std::string::npos ? m.file : m.file.substr(slash + 1)) + buf;
      unsymbolized_++;
    } else {
      symbolized_++;
    }
    function = functions_.Intern(f);
  }
  cache_.emplace(at, function);
  return function;
}

std::vector<std::string> Symbolizer::MappingStrings() const {
  std::vector<std::string> out;
  for (const auto& [start, m] : maps_) {
    if (!m.used) continue;
    char buf[80];
    std::snprintf(buf, sizeof buf, "%llx %llx %llx ", static_cast<unsigned long long>(m.start),
                  static_cast<unsigned long long>(m.end), static_cast<unsigned long long>(m.offset));
    out.push_back(buf + (m.build_id.empty() ? std::string("-") : m.build_id) + " " + m.file);
  }
  return out;
}

}  // namespace vmprof
