// Walking blocked threads of our own process (see blocked_walk.h).
//
// libunwind's remote API unwinds an address space described by accessors.
// Ours describes this very process, but reads it the way a debugger reads
// another one: memory through process_vm_readv, the two registers the kernel
// gave us (plus a guessed RBP), and unwind tables found with _dl_find_object.
// libunwind.h is included without UNW_LOCAL_ONLY here, and only here:
// core/unwinder.h defines it for the handler's local unwinder.
#include "core/blocked_walk.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <libunwind.h>
#include <link.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "core/private_files.h"
#include "core/thread_slots.h"

namespace profpre {

namespace {

// libunwind's generic (remote-capable) entry points, through pointers.
struct RemoteUnwinder {
  unw_addr_space_t (*create_addr_space)(unw_accessors_t*, int);
  int (*set_caching_policy)(unw_addr_space_t, unw_caching_policy_t);
  int (*init_remote)(unw_cursor_t*, unw_addr_space_t, void*);
  int (*step)(unw_cursor_t*);
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*);
  int (*is_signal_frame)(unw_cursor_t*);
  // Exported but not declared by libunwind.h: looks `ip` up in one
  // object's .eh_frame_hdr table, reading it through the accessors.
  int (*search_unwind_table)(unw_addr_space_t, unw_word_t, unw_dyn_info_t*, unw_proc_info_t*, int,
                             void*);
  unw_addr_space_t space;
};

constinit RemoteUnwinder g_remote{};

// libunwind-x86_64.so.8's mapped range, from _dl_find_object at load time.
constinit std::atomic<uintptr_t> g_walker_start{0};
constinit std::atomic<uintptr_t> g_walker_end{0};

// Fault-free reads of our own memory, page by page.
//
// Every page is copied with one process_vm_readv, which fails where memory
// is unmapped or unreadable instead of faulting. A page of stack (or of
// anything else outside the loaded objects) is trusted for one walk only:
// the thread runs again between walks. A page inside a loaded object (code,
// unwind tables) is kept across walks while _dl_find_object still finds the
// same object there, so that once libunwind's cache holds a thread's rules a
// walk reads little more than the stack. A word that may change while the
// object stays (a GOT slot) is read with read_uncached.
class MemoryReader {
 public:
  // Starts a walk: pages outside objects are forgotten, the others are
  // checked again on first use. `pid` is ours (it changes in a forked child).
  void begin_walk(pid_t pid) {
    if (pid != pid_) used_ = 0;
    pid_ = pid;
    ++walk_;
    last_ = -1;
  }

  // Copies [address, address + length) into out; false when any byte of it
  // is unreadable.
  bool read(uint64_t address, void* out, size_t length) {
    auto* to = static_cast<unsigned char*>(out);
    while (length > 0) {
      uint64_t base = address & ~(kPageBytes - 1);
      const unsigned char* page = find(base);
      if (page == nullptr) return false;
      size_t offset = address - base;
      size_t n = std::min(length, kPageBytes - offset);
      memcpy(to, page + offset, n);
      to += n;
      address += n;
      length -= n;
    }
    return true;
  }

  bool read_word(uint64_t address, uint64_t* out) { return read(address, out, sizeof *out); }

  bool read_uncached(uint64_t address, void* out, size_t length) const {
    iovec local{out, length};
    iovec remote{reinterpret_cast<void*>(address), length};
    return process_vm_readv(pid_, &local, 1, &remote, 1, 0) == static_cast<ssize_t>(length);
  }

 private:
  static constexpr size_t kPageBytes = 4096;
  static constexpr int kPages = 48;  // a deep stack plus the code it runs

  struct Page {
    uint64_t base = 0;
    uint64_t walk = 0;             // the walk that last checked it
    const void* object = nullptr;  // dlfo_link_map; null outside objects
    const void* object_start = nullptr;
    bool readable = false;
    unsigned char bytes[kPageBytes]{};
  };

  // The page at `base`, copied on first use; null when unreadable (which is
  // remembered for the walk, so a scan that runs off the stack asks once).
  const unsigned char* find(uint64_t base) {
    if (last_ >= 0 && pages_[last_].base == base) return bytes_of(last_);
    for (int i = 0; i < used_; ++i) {
      if (pages_[i].base != base) continue;
      if (pages_[i].walk == walk_) return bytes_of(i);
      if (!still_same_object(pages_[i])) return fill(i, base);
      pages_[i].walk = walk_;
      return bytes_of(i);
    }
    int slot = used_ < kPages ? used_++ : static_cast<int>(next_++ % kPages);
    return fill(slot, base);
  }

  // Whether a page copied in an earlier walk may serve this one.
  static bool still_same_object(const Page& page) {
    if (page.object == nullptr) return false;
    dl_find_object found{};
    return _dl_find_object(reinterpret_cast<void*>(page.base), &found) == 0 &&
           found.dlfo_link_map == page.object && found.dlfo_map_start == page.object_start;
  }

  const unsigned char* fill(int slot, uint64_t base) {
    Page& page = pages_[slot];
    dl_find_object found{};
    bool in_object = _dl_find_object(reinterpret_cast<void*>(base), &found) == 0;
    page.base = base;
    page.walk = walk_;
    page.object = in_object ? found.dlfo_link_map : nullptr;
    page.object_start = in_object ? found.dlfo_map_start : nullptr;
    page.readable = read_uncached(base, page.bytes, kPageBytes);
    if (!page.readable) page.object = nullptr;  // asked again next walk
    return bytes_of(slot);
  }

  const unsigned char* bytes_of(int slot) {
    last_ = slot;
    return pages_[slot].readable ? pages_[slot].bytes : nullptr;
  }

  pid_t pid_ = 0;
  uint64_t walk_ = 0;
  int used_ = 0;
  uint64_t next_ = 0;
  int last_ = -1;
  Page pages_[kPages];
};

// One reader for the one walker thread: 192 KiB, in .bss until first used.
constinit MemoryReader g_memory;

// What the accessors know about the walk in progress; libunwind passes it
// back to every accessor as `arg`.
struct WalkContext {
  uint64_t pc = 0;
  uint64_t sp = 0;
  // The frame being stepped: its SP and the address its unwind rules are
  // looked up by. Set before each step, read by the RBP guess.
  uint64_t frame_sp = 0;
  uint64_t frame_lookup_pc = 0;
  // The guessed RBP of the blocked point, computed at most once per walk so
  // that every frame that asks sees the same value.
  bool rbp_guessed = false;
  uint64_t rbp = 0;
};

// --- Unwind tables ---------------------------------------------------------

// DWARF pointer encodings (DW_EH_PE_*) that .eh_frame_hdr uses.
constexpr uint8_t kEncAbsolute = 0x00;
constexpr uint8_t kEncUdata4 = 0x03;
constexpr uint8_t kEncUdata8 = 0x04;
constexpr uint8_t kEncSdata4 = 0x0b;
constexpr uint8_t kEncSdata8 = 0x0c;
constexpr uint8_t kEncDatarel = 0x30;
constexpr uint8_t kEncOmit = 0xff;

// Bytes of a fixed-size encoded value; 0 for encodings of other sizes.
size_t encoded_size(uint8_t encoding) {
  switch (encoding & 0x0f) {
    case kEncAbsolute:
    case kEncUdata8:
    case kEncSdata8:
      return 8;
    case kEncUdata4:
    case kEncSdata4:
      return 4;
    default:
      return 0;
  }
}

// Describes the .eh_frame_hdr search table of the object holding `ip`, in
// the form dwarf_search_unwind_table takes (UNW_INFO_FORMAT_REMOTE_TABLE:
// entries relative to segbase, the header's own address). The header is
// version, three encodings, eh_frame_ptr, fde_count, then the table, which
// linkers write as pairs of 4-byte data-relative offsets.
bool find_unwind_table(uint64_t ip, unw_dyn_info_t* out) {
  dl_find_object found{};
  if (_dl_find_object(reinterpret_cast<void*>(ip), &found) != 0) return false;
  auto header = reinterpret_cast<uint64_t>(found.dlfo_eh_frame);
  uint8_t head[4];
  if (header == 0 || !g_memory.read(header, head, sizeof head) || head[0] != 1) return false;
  uint8_t pointer_encoding = head[1];
  uint8_t count_encoding = head[2];
  uint8_t table_encoding = head[3];
  if (table_encoding != (kEncDatarel | kEncSdata4)) return false;
  if (count_encoding == kEncOmit || (count_encoding & 0x70) != 0) return false;

  size_t pointer_size = pointer_encoding == kEncOmit ? 0 : encoded_size(pointer_encoding);
  size_t count_size = encoded_size(count_encoding);
  if ((pointer_size == 0 && pointer_encoding != kEncOmit) || count_size == 0) return false;
  uint64_t count_at = header + sizeof head + pointer_size;
  uint64_t count = 0;  // little-endian: the low bytes of the word
  if (!g_memory.read(count_at, &count, count_size)) return false;
  if (count_size == 4 && (count_encoding & 0x08) != 0 && (count & 0x80000000u) != 0) return false;

  memset(out, 0, sizeof *out);
  out->start_ip = reinterpret_cast<uint64_t>(found.dlfo_map_start);
  out->end_ip = reinterpret_cast<uint64_t>(found.dlfo_map_end);
  out->format = UNW_INFO_FORMAT_REMOTE_TABLE;
  out->u.rti.segbase = header;
  out->u.rti.table_data = count_at + count_size;
  // In words: each entry is two 4-byte offsets.
  out->u.rti.table_len = count * 8 / sizeof(unw_word_t);
  return true;
}

// Start of the function whose unwind rules cover `lookup_pc`; 0 if unknown.
uint64_t function_start(uint64_t lookup_pc, void* arg) {
  unw_dyn_info_t table;
  unw_proc_info_t info{};
  if (!find_unwind_table(lookup_pc, &table)) return 0;
  if (g_remote.search_unwind_table(g_remote.space, lookup_pc, &table, &info, 0, arg) < 0) {
    return 0;
  }
  return info.start_ip;
}

// --- Guessing RBP ----------------------------------------------------------

// How the bytes before a candidate return address read, best last.
enum class CallShape { kNone, kDirectElsewhere, kPlausible, kDirectToFunction };

bool in_loaded_object(uint64_t address) {
  if (address < 4096) return false;
  dl_find_object found{};
  return _dl_find_object(reinterpret_cast<void*>(address), &found) == 0;
}

// Whether `target` is a PLT stub (jmp *GOT(%rip), maybe after endbr64 and a
// bnd prefix) whose GOT slot holds `function`, or any such stub when
// `function` is unknown.
bool is_plt_stub_to(uint64_t target, uint64_t function) {
  uint8_t code[11];
  if (!g_memory.read(target, code, sizeof code)) return false;
  size_t at = 0;
  if (code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa) at = 4;
  if (code[at] == 0xf2) ++at;
  if (at + 6 > sizeof code || code[at] != 0xff || code[at + 1] != 0x25) return false;
  if (function == 0) return true;
  int32_t displacement;
  memcpy(&displacement, code + at + 2, sizeof displacement);
  uint64_t slot = target + at + 6 + static_cast<int64_t>(displacement);
  uint64_t resolved = 0;
  return g_memory.read_uncached(slot, &resolved, sizeof resolved) && resolved == function;
}

// Length of an `ff /2` (call r/m64) instruction from its ModRM and SIB bytes.
size_t indirect_call_length(uint8_t modrm, uint8_t sib) {
  uint8_t mod = modrm >> 6;
  uint8_t rm = modrm & 7;
  if (mod == 3) return 2;
  size_t sib_bytes = rm == 4 ? 1 : 0;
  size_t displacement = mod == 1 ? 1 : mod == 2 ? 4 : 0;
  // With mod 0, rm 5 is RIP-relative and a SIB base of 5 means "no base":
  // both take a 4-byte displacement.
  if (mod == 0 && (rm == 5 || (rm == 4 && (sib & 7) == 5))) displacement = 4;
  return 2 + sib_bytes + displacement;
}

// Whether a call instruction ends right before `ra`, and where it goes.
CallShape call_before(uint64_t ra, uint64_t function) {
  uint8_t code[7];
  if (!g_memory.read(ra - sizeof code, code, sizeof code)) return CallShape::kNone;
  CallShape best = CallShape::kNone;
  if (code[2] == 0xe8) {  // call rel32
    int32_t displacement;
    memcpy(&displacement, code + 3, sizeof displacement);
    uint64_t target = ra + static_cast<int64_t>(displacement);
    bool to_function = function != 0 && (target == function || is_plt_stub_to(target, function));
    bool unknown_via_plt = function == 0 && is_plt_stub_to(target, 0);
    if (to_function) return CallShape::kDirectToFunction;
    best = unknown_via_plt ? CallShape::kPlausible : CallShape::kDirectElsewhere;
  }
  for (size_t length : {2, 3, 4, 6, 7}) {
    const uint8_t* call = code + sizeof code - length;
    uint8_t sib = length > 2 ? call[2] : 0;
    bool is_call = call[0] == 0xff && ((call[1] >> 3) & 7) == 2 &&
                   indirect_call_length(call[1], sib) == length;
    if (is_call) return CallShape::kPlausible;
  }
  return best;
}

// The frame record of the frame being stepped (see walk_blocked_thread in
// the header): scanned upward from its SP. Its own record is the lowest one;
// what lies below it is that frame's locals and saved registers.
uint64_t guess_frame_record(WalkContext* context) {
  // A frame with more locals than this is not searched to its end.
  constexpr uint64_t kScanBytes = 64 * 1024;
  uint64_t function = function_start(context->frame_lookup_pc, context);
  uint64_t fallback = 0;
  uint64_t from = (context->frame_sp + 7) & ~uint64_t{7};
  for (uint64_t w = from; w < from + kScanBytes; w += 8) {
    uint64_t ra = 0;
    if (!g_memory.read_word(w + 8, &ra)) break;  // the end of the stack
    if (!in_loaded_object(ra)) continue;
    CallShape shape = call_before(ra, function);
    if (shape == CallShape::kDirectToFunction || shape == CallShape::kPlausible) return w;
    if (shape == CallShape::kDirectElsewhere && fallback == 0) fallback = w;
  }
  return fallback;
}

// --- Accessors -------------------------------------------------------------

int find_proc_info(unw_addr_space_t space, unw_word_t ip, unw_proc_info_t* info,
                   int need_unwind_info, void* arg) {
  unw_dyn_info_t table;
  if (!find_unwind_table(ip, &table)) return -UNW_ENOINFO;
  return g_remote.search_unwind_table(space, ip, &table, info, need_unwind_info, arg);
}

// libunwind frees what search_unwind_table allocated itself.
void put_unwind_info(unw_addr_space_t, unw_proc_info_t*, void*) {}

// No dynamically registered unwind info (JIT) is looked for.
int get_dyn_info_list_addr(unw_addr_space_t, unw_word_t*, void*) { return -UNW_ENOINFO; }

int access_mem(unw_addr_space_t, unw_word_t address, unw_word_t* value, int write, void*) {
  if (write != 0) return -UNW_EINVAL;
  return g_memory.read_word(address, value) ? 0 : -UNW_EINVAL;
}

int access_reg(unw_addr_space_t, unw_regnum_t reg, unw_word_t* value, int write, void* arg) {
  auto* context = static_cast<WalkContext*>(arg);
  if (write != 0) return -UNW_EREADONLYREG;
  switch (reg) {
    case UNW_X86_64_RIP:
      *value = context->pc;
      return 0;
    case UNW_X86_64_RSP:
      *value = context->sp;
      return 0;
    case UNW_X86_64_RBP:
      if (!context->rbp_guessed) {
        context->rbp = guess_frame_record(context);
        context->rbp_guessed = true;
      }
      *value = context->rbp;
      return context->rbp != 0 ? 0 : -UNW_EBADREG;
    default:
      // Unknown: a rule that needs another register fails the walk.
      return -UNW_EBADREG;
  }
}

int access_fpreg(unw_addr_space_t, unw_regnum_t, unw_fpreg_t*, int, void*) { return -UNW_EBADREG; }

int resume(unw_addr_space_t, unw_cursor_t*, void*) { return -UNW_EINVAL; }

int get_proc_name(unw_addr_space_t, unw_word_t, char*, size_t, unw_word_t*, void*) {
  return -UNW_ENOINFO;
}

constinit unw_accessors_t g_accessors = {
    .find_proc_info = find_proc_info,
    .put_unwind_info = put_unwind_info,
    .get_dyn_info_list_addr = get_dyn_info_list_addr,
    .access_mem = access_mem,
    .access_reg = access_reg,
    .access_fpreg = access_fpreg,
    .resume = resume,
    .get_proc_name = get_proc_name,
};

template <typename Fn>
bool resolve(void* library, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(library, name));
  return *out != nullptr;
}

// Whether process_vm_readv may read our own memory here.
bool can_read_own_memory() {
  uint64_t probe = 0x0123456789abcdef;
  uint64_t copy = 0;
  iovec local{&copy, sizeof copy};
  iovec remote{&probe, sizeof probe};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == sizeof copy && copy == probe;
}

// --- /proc -----------------------------------------------------------------

constinit std::atomic<int> g_held_task_files{0};

int open_task_file(pid_t tid, TaskFile file) {
  static constexpr const char* kNames[kTaskFileKinds] = {"stat", "schedstat", "syscall"};
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/%s", static_cast<int>(tid),
           kNames[static_cast<int>(file)]);
  return open(path, O_RDONLY | O_CLOEXEC);
}

// Descriptors from this number up are not held: half the table stays free
// for the reads that open and close, whatever RLIMIT_NOFILE the program set.
int hold_below() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1024;
  return static_cast<int>(std::min<rlim_t>(limit.rlim_cur / 2, 1 << 20));
}

ssize_t read_once(int fd, char* buffer, size_t size) {
  ssize_t n = pread(fd, buffer, size - 1, 0);
  if (n < 0) return -1;
  buffer[n] = '\0';
  return n;
}

// Parses one number of /proc text: decimal (may be negative) or 0x-hex.
template <typename T>
bool parse_number(std::string_view token, T* out) {
  int base = 10;
  if (token.size() > 2 && token[0] == '0' && (token[1] == 'x' || token[1] == 'X')) {
    token.remove_prefix(2);
    base = 16;
  }
  auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), *out, base);
  return error == std::errc() && end == token.data() + token.size();
}

// One walk at a time, and none across fork(): a child forked while the
// collector is inside libunwind would inherit libunwind's cache mutex
// locked, with no thread left to unlock it, and its own walks would hang.
// fork() waits for the walk in progress (microseconds) instead.
constinit pthread_mutex_t g_walk_mutex = PTHREAD_MUTEX_INITIALIZER;

void lock_walks() { pthread_mutex_lock(&g_walk_mutex); }
void unlock_walks() { pthread_mutex_unlock(&g_walk_mutex); }
void reset_walks_in_child() { pthread_mutex_init(&g_walk_mutex, nullptr); }

class WalkGuard {
 public:
  WalkGuard() { lock_walks(); }
  ~WalkGuard() { unlock_walks(); }
  WalkGuard(const WalkGuard&) = delete;
  WalkGuard& operator=(const WalkGuard&) = delete;
};

}  // namespace

// --- Interface ---------------------------------------------------------------

ssize_t read_task_file(pid_t tid, TaskFile file, TaskFiles* held, char* buffer, size_t size) {
  int* slot = held != nullptr ? &held->fd[static_cast<int>(file)] : nullptr;
  if (slot != nullptr && *slot >= 0) {
    ssize_t n = read_once(*slot, buffer, size);
    if (n > 0) return n;
    close(*slot);
    *slot = -1;
    g_held_task_files.fetch_sub(1, std::memory_order_relaxed);
  }
  int fd = open_task_file(tid, file);
  if (fd < 0) return -1;
  ssize_t n = read_once(fd, buffer, size);
  // The budget first: past it, no getrlimit on every read.
  if (slot != nullptr && n > 0 && has_private_descriptor_table()) {
    if (g_held_task_files.fetch_add(1, std::memory_order_relaxed) < kMaxHeldTaskFiles &&
        fd < hold_below()) {
      *slot = fd;
      return n;
    }
    g_held_task_files.fetch_sub(1, std::memory_order_relaxed);
  }
  close(fd);
  return n;
}

void release_task_files(TaskFiles* held) {
  for (int& fd : held->fd) {
    if (fd < 0) continue;
    close(fd);
    fd = -1;
    g_held_task_files.fetch_sub(1, std::memory_order_relaxed);
  }
}

int held_task_files() { return g_held_task_files.load(std::memory_order_relaxed); }

void forget_held_task_files() { g_held_task_files.store(0, std::memory_order_relaxed); }

ThreadState read_thread_state(pid_t tid, TaskFiles* held) {
  // "pid (comm) S ...": comm may hold spaces and parentheses, nothing after
  // it does, so the state follows the last ')'. comm is at most 15 bytes.
  char text[256];
  ssize_t n = read_task_file(tid, TaskFile::kStat, held, text, sizeof text);
  if (n <= 0) return ThreadState::kUnknown;
  const char* close_paren = strrchr(text, ')');
  if (close_paren == nullptr || close_paren[1] != ' ') return ThreadState::kUnknown;
  switch (close_paren[2]) {
    case 'R':
      return ThreadState::kRunning;
    case 'S':
      return ThreadState::kSleeping;
    case 'D':
      return ThreadState::kDiskWait;
    case 'T':
    case 't':
      return ThreadState::kStopped;
    case 'Z':
    case 'X':
      return ThreadState::kZombie;
    default:
      return ThreadState::kUnknown;
  }
}

bool parse_blocked_point(std::string_view text, BlockedPoint* out) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);

  // Split on single spaces, as the kernel writes it.
  constexpr size_t kMaxFields = 9;
  std::string_view fields[kMaxFields];
  size_t count = 0;
  while (!text.empty()) {
    if (count == kMaxFields) return false;
    size_t space = text.find(' ');
    fields[count++] = text.substr(0, space);
    text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
  }
  if (count == 0) return false;  // also "running" fails just below

  long number = 0;
  if (!parse_number(fields[0], &number)) return false;
  bool in_syscall = number >= 0;
  if (number < -1 || count != (in_syscall ? 9u : 3u)) return false;
  for (size_t i = 1; i < count; ++i) {
    if (!fields[i].starts_with("0x")) return false;
  }
  BlockedPoint point;
  point.syscall = number;
  if (!parse_number(fields[count - 2], &point.sp) || !parse_number(fields[count - 1], &point.pc)) {
    return false;
  }
  if (point.sp == 0 || point.pc == 0) return false;
  *out = point;
  return true;
}

bool read_blocked_point(pid_t tid, BlockedPoint* out, TaskFiles* held) {
  char text[256];
  ssize_t n = read_task_file(tid, TaskFile::kSyscall, held, text, sizeof text);
  if (n <= 0) return false;
  return parse_blocked_point(std::string_view(text, static_cast<size_t>(n)), out);
}

bool blocked_walk_load() {
  if (g_remote.space != nullptr) return true;
  if (!can_read_own_memory()) return false;
  // The generic (_Ux86_64_) build, which unwinds any address space; the
  // local-only libunwind.so.8 refuses unw_init_remote. It needs
  // libunwind.so.8, which also comes in RTLD_LOCAL (see unwinder.h for why
  // neither may be linked).
  void* library = dlopen("libunwind-x86_64.so.8", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) return false;
  RemoteUnwinder u{};
  bool ok = resolve(library, "_Ux86_64_create_addr_space", &u.create_addr_space) &&
            resolve(library, "_Ux86_64_set_caching_policy", &u.set_caching_policy) &&
            resolve(library, "_Ux86_64_init_remote", &u.init_remote) &&
            resolve(library, "_Ux86_64_step", &u.step) &&
            resolve(library, "_Ux86_64_get_reg", &u.get_reg) &&
            resolve(library, "_Ux86_64_is_signal_frame", &u.is_signal_frame) &&
            resolve(library, "_Ux86_64_dwarf_search_unwind_table", &u.search_unwind_table);
  if (!ok) return false;
  // The range first: libunwind's first call below initializes it, opening a
  // pipe and blocking signals, and the interposed pipe2 and sigprocmask must
  // know it is libunwind asking.
  dl_find_object found{};
  if (_dl_find_object(reinterpret_cast<void*>(u.step), &found) == 0) {
    g_walker_start.store(reinterpret_cast<uintptr_t>(found.dlfo_map_start),
                         std::memory_order_relaxed);
    g_walker_end.store(reinterpret_cast<uintptr_t>(found.dlfo_map_end), std::memory_order_relaxed);
  }
  u.space = u.create_addr_space(&g_accessors, 0);
  if (u.space == nullptr) return false;
  // Debian's build has no per-thread cache (it turns UNW_CACHE_PER_THREAD
  // into this): one cache behind a mutex, taken with every signal blocked,
  // which costs two sigprocmask calls per step.
  u.set_caching_policy(u.space, UNW_CACHE_GLOBAL);
  g_remote = u;
  pthread_atfork(lock_walks, unlock_walks, reset_walks_in_child);
  return true;
}

bool in_blocked_walker(const void* address) {
  auto a = reinterpret_cast<uintptr_t>(address);
  return a >= g_walker_start.load(std::memory_order_relaxed) &&
         a < g_walker_end.load(std::memory_order_relaxed);
}

namespace {

// Steps `cursor` out to the outermost frame, writing PCs as the header says.
// Requires max >= 2, so that a marker always has room after a PC.
uint32_t walk_frames(unw_cursor_t* cursor, WalkContext* context, uint64_t* pcs, uint32_t max) {
  uint32_t depth = 0;
  bool exact = true;  // the blocked frame's PC is where it stopped
  for (;;) {
    unw_word_t ip = 0;
    unw_word_t sp = 0;
    if (g_remote.get_reg(cursor, UNW_REG_IP, &ip) < 0 ||
        g_remote.get_reg(cursor, UNW_REG_SP, &sp) < 0) {
      pcs[depth++] = kPcUnwindFailed;
      break;
    }
    if (ip == 0) break;
    // A caller's IP is a return address; the call is the byte before it,
    // and its unwind rules are looked up there.
    uint64_t pc = exact ? ip : ip - 1;
    pcs[depth++] = pc;
    context->frame_sp = sp;
    context->frame_lookup_pc = pc;
    // Past a signal frame the next IP is again an interrupted, exact one.
    exact = g_remote.is_signal_frame(cursor) > 0;

    int step = g_remote.step(cursor);
    // libunwind also ends a walk, without an error, at code that belongs to
    // no loaded object: say so, as the handler does.
    if (step == 0) {
      if (!in_loaded_object(ip)) pcs[depth++] = kPcUnwindFailed;
      break;
    }
    if (step < 0) {
      pcs[depth++] = kPcUnwindFailed;
      break;
    }
    if (depth == max - 1) {
      pcs[depth++] = kPcTruncated;
      break;
    }
  }
  return depth;
}

}  // namespace

uint32_t walk_blocked_thread(const BlockedPoint& at, uint64_t* pcs, uint32_t max) {
  if (max == 0) return 0;
  if (max == 1) {
    pcs[0] = kPcTruncated;
    return 1;
  }
  if (g_remote.space == nullptr) {
    pcs[0] = at.pc;
    pcs[1] = kPcUnwindFailed;
    return 2;
  }

  WalkGuard guard;
  g_memory.begin_walk(getpid());
  WalkContext context;
  context.pc = at.pc;
  context.sp = at.sp;
  unw_cursor_t cursor;
  if (g_remote.init_remote(&cursor, g_remote.space, &context) < 0) {
    pcs[0] = at.pc;
    pcs[1] = kPcUnwindFailed;
    return 2;
  }
  return walk_frames(&cursor, &context, pcs, max);
}

}  // namespace profpre
