// Output names for every process image of a process tree.
//
// Let P be PROF_OUT with %p and %% expanded. The root process (the one the
// user started: its parent is not being profiled) writes P. Any other
// process inserts ".<pid>" before P's extension unless the pattern already
// holds %p. A process image that follows an exec of a process that already
// wrote a profile inserts ".<n>", n counting the profiles written before it
// in that process. So with PROF_OUT=prof.pb.gz, `make` writes prof.pb.gz,
// a compiler it runs writes prof.4242.pb.gz, and a shell that execs into a
// program writes prof.4243.pb.gz then prof.4243.1.pb.gz.
//
// Windows (PROF_INTERVAL) and dumps (PROF_DUMP_SIGNAL) of one image insert
// one more tag, "w<n>" or "dump<n>", n from 1 with at least four digits:
// prof.w0001.pb.gz, prof.w0002.pb.gz, ..., prof.dump0001.pb.gz.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace profpre {

struct ImageIdentity {
  pid_t pid = 0;
  bool root = true;  // not a descendant of a profiled process
  int exec_seq = 0;  // profiles written by earlier images of this process
};

// Inserts ".<tag>" before the extension .pb.gz, .gz or .pb of `path`'s last
// component, or appends it. Handler-safe: pure.
bool insert_tag(const char* path, const char* tag, char* out, size_t size);

// `path` with the tag <prefix><sequence, four digits at least> inserted.
// Handler-safe: pure.
bool sequence_path(const char* path, const char* prefix, int sequence, char* out, size_t size);

// The output path for `identity`. Handler-safe: pure.
bool output_path_for(const char* pattern, const ImageIdentity& identity, char* out,
                     size_t size);

// The environment entry that carries exec_seq across an exec:
// PROFPRE_EXEC_SEQ=<pid>:<n>. Handler-safe: pure.
inline constexpr char kExecSeqVariable[] = "PROFPRE_EXEC_SEQ";
bool format_exec_seq(pid_t pid, int seq, char* out, size_t size);
// The sequence number in `value` when it names `pid`, else 0.
int parse_exec_seq(const char* value, pid_t pid);

}  // namespace profpre
