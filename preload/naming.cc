// Output names: the pure string work behind the naming rule.
#include "preload/naming.h"

#include <cstring>

#include "preload/config.h"

namespace profpre {

namespace {

// Appends the decimal digits of `value` at out[*n].
bool put_number(long value, char* out, size_t size, size_t* n) {
  char digits[24];
  int d = 0;
  do {
    digits[d++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  if (*n + static_cast<size_t>(d) >= size) return false;
  while (d > 0) out[(*n)++] = digits[--d];
  out[*n] = '\0';
  return true;
}

size_t extension_start(const char* path) {
  size_t len = strlen(path);
  const char* base = strrchr(path, '/');
  size_t base_start = base == nullptr ? 0 : static_cast<size_t>(base - path) + 1;
  for (const char* ext : {".pb.gz", ".gz", ".pb"}) {
    size_t ext_len = strlen(ext);
    if (len - base_start > ext_len && strcmp(path + len - ext_len, ext) == 0) {
      return len - ext_len;
    }
  }
  return len;
}

}  // namespace

bool insert_tag(const char* path, const char* tag, char* out, size_t size) {
  size_t len = strlen(path);
  size_t cut = extension_start(path);
  size_t tag_len = strlen(tag);
  if (len + 1 + tag_len + 1 > size) return false;
  // `out` may be `path`: move the extension out of the way first.
  memmove(out + cut + 1 + tag_len, path + cut, len - cut + 1);
  if (out != path) memcpy(out, path, cut);
  out[cut] = '.';
  memcpy(out + cut + 1, tag, tag_len);
  return true;
}

bool sequence_path(const char* path, const char* prefix, int sequence, char* out, size_t size) {
  char tag[32];
  size_t n = strnlen(prefix, 16);
  memcpy(tag, prefix, n);
  tag[n] = '\0';
  for (long zeros = 1000; zeros > 1 && sequence < zeros; zeros /= 10) tag[n++] = '0';
  tag[n] = '\0';
  if (!put_number(sequence, tag, sizeof tag, &n)) return false;
  size_t len = strlen(path);
  if (len + 1 > size) return false;
  if (out != path) memcpy(out, path, len + 1);
  return insert_tag(out, tag, out, size);
}

bool output_path_for(const char* pattern, const ImageIdentity& identity, char* out,
                     size_t size) {
  if (!expand_output_path(pattern, identity.pid, out, size)) return false;
  char tag[24];
  size_t n = 0;
  if (!identity.root && strstr(pattern, "%p") == nullptr) {
    if (!put_number(identity.pid, tag, sizeof tag, &n) || !insert_tag(out, tag, out, size)) {
      return false;
    }
  }
  n = 0;
  if (identity.exec_seq > 0) {
    if (!put_number(identity.exec_seq, tag, sizeof tag, &n) || !insert_tag(out, tag, out, size)) {
      return false;
    }
  }
  return true;
}

bool format_exec_seq(pid_t pid, int seq, char* out, size_t size) {
  size_t n = strlen(kExecSeqVariable);
  if (n + 1 >= size) return false;
  memcpy(out, kExecSeqVariable, n);
  out[n++] = '=';
  out[n] = '\0';
  if (!put_number(pid, out, size, &n) || n + 1 >= size) return false;
  out[n++] = ':';
  return put_number(seq, out, size, &n);
}

int parse_exec_seq(const char* value, pid_t pid) {
  long parsed_pid = 0;
  const char* p = value;
  for (; *p >= '0' && *p <= '9'; ++p) parsed_pid = parsed_pid * 10 + (*p - '0');
  if (*p != ':' || parsed_pid != pid) return 0;
  long seq = 0;
  for (++p; *p >= '0' && *p <= '9'; ++p) seq = seq * 10 + (*p - '0');
  return *p == '\0' && seq < 1000000 ? static_cast<int>(seq) : 0;
}

}  // namespace profpre
