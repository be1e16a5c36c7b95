// Running the command, forwarding signals, summarising the profiles and
// passing on the command's end.
//
// Signals: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to us (a CI runner's
// timeout, `kill`) are sent on to the child, whose library then still writes
// its profile. Those the terminal sends (si_code SI_KERNEL) already went to
// the whole foreground process group, the child included, and are not sent
// a second time. A signal that was ignored when we started stays ignored,
// for us and for the command (as `nohup` expects).

#include "scripts/profpre/record.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "preload/config.h"
#include "scripts/profpre/cli.h"
#include "scripts/profpre/format.h"
#include "scripts/profpre/library_path.h"
#include "scripts/profpre/profile_set.h"
#include "scripts/profpre/record_output.h"

extern char** environ;

namespace profpre {
namespace {

constexpr const char* kDefaultOutput = "profpre-out/";
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

volatile sig_atomic_t g_child = 0;  // written before the signals are unblocked

// Handler: only kill(2), which is async-signal-safe; errno is kept for the
// waitpid it interrupts.
void forward_signal(int signal, siginfo_t* info, void*) {
  if (info != nullptr && info->si_code == SI_KERNEL) return;  // the terminal's, the child has it
  int saved_errno = errno;
  if (g_child > 0) kill(static_cast<pid_t>(g_child), signal);
  errno = saved_errno;
}

constexpr const char* kHelp = R"(Usage: profpre record [-o DIR/|PATTERN] [--hz N] [--wall] [--interval SECONDS]
                      [--] CMD [ARGS...]

Runs CMD with libprofpre.so preloaded. Every process of its tree (make, sh,
gcc, cc1, as, ld, ...) writes its own gzip'd pprof profile. Then prints on
stderr how many profiles were written, where, and the time they hold,
and ends as CMD ended: with its exit status, or killed by the same signal.
SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to profpre are passed on to CMD.

Options:
  -o, --output DIR/    write DIR/prof.<pid>.pb.gz per process (default
                       profpre-out/); a name ending in / or an existing
                       directory is a directory, created when missing
  -o, --output PATTERN the library's PROF_OUT pattern itself (%p: the pid)
  --hz N               samples per second of CPU time, 1 to 10000 (default:
                       PROF_HZ if set, else the library's 100)
  --wall               wall-clock time instead of CPU time: every thread,
                       running or waiting (PROF_MODE=wall)
  --interval SECONDS   a profile per window of SECONDS (0.1 to 86400) instead
                       of one at exit: prof.<pid>.w0001.pb.gz, w0002, ...
                       (PROF_INTERVAL); a process's windows add up to its run
  -h, --help           this text

Then: profpre report DIR/, profpre flame DIR/, profpre merge -o all.pb.gz DIR/

Exit status: CMD's own (or death by CMD's signal); 2 on a usage error;
125 when profpre itself fails before running CMD (no libprofpre.so, cannot
create DIR); 126 when CMD cannot be executed; 127 when CMD is not found.
)";

constexpr cli::OptionDef kOptions[] = {
    {"-o", "--output", true},
    {"", "--hz", true},
    {"", "--wall", false},
    {"", "--interval", true},
};

struct Settings {
  OutputPlan plan;
  std::string library;
  std::string hz;  // empty: leave PROF_HZ as it is
  bool wall = false;     // else PROF_MODE as it is
  std::string interval;  // empty: leave PROF_INTERVAL as it is
  std::vector<std::string> command;
};

std::string current_directory() {
  std::vector<char> buffer(4096);
  while (getcwd(buffer.data(), buffer.size()) == nullptr && errno == ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  return buffer.data();
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The dynamic loader splits LD_PRELOAD at spaces and colons.
bool preloadable(const std::string& library, std::string* error) {
  if (library.find_first_of(": ") == std::string::npos) return true;
  *error = "the library's path " + library +
           " holds a space or a colon, which LD_PRELOAD cannot; install profpre elsewhere";
  return false;
}

// Our library first, then whatever LD_PRELOAD held (without a second copy of ours).
std::string preload_value(const std::string& library) {
  const char* existing = std::getenv("LD_PRELOAD");
  if (existing == nullptr || *existing == '\0') return library;
  std::string rest = existing;
  if (rest == library || rest.starts_with(library + ":") || rest.starts_with(library + " ")) {
    return rest;
  }
  return library + ":" + rest;
}

std::vector<std::string> child_environment(const Settings& settings) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string_view text = *entry;
    if (text.starts_with("LD_PRELOAD=") || text.starts_with("PROF_OUT=") ||
        (!settings.hz.empty() && text.starts_with("PROF_HZ=")) ||
        (settings.wall && text.starts_with("PROF_MODE=")) ||
        (!settings.interval.empty() && text.starts_with("PROF_INTERVAL="))) {
      continue;
    }
    env.emplace_back(text);
  }
  env.push_back("LD_PRELOAD=" + preload_value(settings.library));
  env.push_back("PROF_OUT=" + settings.plan.pattern);
  if (!settings.hz.empty()) env.push_back("PROF_HZ=" + settings.hz);
  if (settings.wall) env.push_back("PROF_MODE=wall");
  if (!settings.interval.empty()) env.push_back("PROF_INTERVAL=" + settings.interval);
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

void install_forwarding(sigset_t* forwarded) {
  sigemptyset(forwarded);
  for (int signal : kForwarded) {
    struct sigaction old {};
    sigaction(signal, nullptr, &old);
    if (old.sa_handler == SIG_IGN) continue;  // nohup: stays ignored, for the child too
    struct sigaction action {};
    action.sa_sigaction = forward_signal;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(signal, &action, nullptr);
    sigaddset(forwarded, signal);
  }
}

// In the child, between fork and exec: undo our handlers and mask, exec, and
// on failure report errno through the close-on-exec pipe.
[[noreturn]] void exec_child(char** argv, char** envp, const sigset_t& forwarded,
                             const sigset_t& old_mask, int report_fd) {
  for (int signal : kForwarded) {
    if (sigismember(&forwarded, signal)) ::signal(signal, SIG_DFL);
  }
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  execvpe(argv[0], argv, envp);
  int error = errno;
  ssize_t written = write(report_fd, &error, sizeof error);
  (void)written;  // nothing more to do if even this fails
  _exit(cli::kExitNotFound);
}

// Starts the command. Returns its pid, or -1 with *exec_errno set when it
// could not be executed (the child is reaped), or -2 with *exec_errno set
// when no process could be started.
pid_t start_child(const Settings& settings, int* exec_errno) {
  std::vector<std::string> argv_strings = settings.command;
  std::vector<std::string> env_strings = child_environment(settings);
  std::vector<char*> argv = pointers(argv_strings);
  std::vector<char*> envp = pointers(env_strings);

  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    *exec_errno = errno;
    return -2;
  }
  sigset_t forwarded, old_mask;
  install_forwarding(&forwarded);
  sigprocmask(SIG_BLOCK, &forwarded, &old_mask);  // no forwarding until g_child is set
  pid_t pid = fork();
  if (pid == 0) exec_child(argv.data(), envp.data(), forwarded, old_mask, report[1]);
  close(report[1]);
  if (pid > 0) g_child = pid;
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  if (pid < 0) {
    *exec_errno = errno;
    close(report[0]);
    return -2;
  }

  ssize_t n;
  do {
    n = read(report[0], exec_errno, sizeof *exec_errno);
  } while (n < 0 && errno == EINTR);
  close(report[0]);
  if (n != sizeof *exec_errno) return pid;  // closed by a successful exec
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  return -1;
}

bool wait_child(pid_t pid, int* status) {
  while (waitpid(pid, status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

// "profpre: 7 profiles in out/, 3.42 s CPU" (or "s wall"), and a note
// about older files.
void summarise(const OutputPlan& plan, const DirectorySnapshot& before) {
  DirectorySnapshot after = snapshot_outputs(plan);
  std::vector<std::string> files = new_outputs(plan, before, after);
  int64_t cpu = 0;
  bool wall = false;
  size_t unreadable = 0;
  for (const std::string& file : files) {
    LoadedProfile loaded;
    std::string error;
    if (!load_profile(file, &loaded, &error)) {
      cli::print_error("record", error);
      unreadable++;
      continue;
    }
    cpu += loaded.total;
    const std::vector<ValueType>& types = loaded.profile.sample_types;
    if (loaded.value_index < types.size() && types[loaded.value_index].type == "wall") wall = true;
  }
  std::fprintf(stderr, "profpre: %zu profile%s in %s, %s %s%s\n", files.size(),
               files.size() == 1 ? "" : "s", plan.shown.c_str(),
               format_total(cpu, {"cpu", "nanoseconds"}).c_str(), wall ? "wall" : "CPU",
               unreadable == 0 ? "" : (" (" + std::to_string(unreadable) + " unreadable)").c_str());
  if (files.empty()) {
    std::fprintf(stderr,
                 "profpre: no process wrote a profile (statically linked and setuid "
                 "programs cannot be profiled)\n");
  }
  size_t older = after.size() - files.size();
  if (older > 0) {
    std::fprintf(stderr,
                 "profpre: %s also holds %zu older profile%s, which report, flame and "
                 "merge of the directory will read too\n",
                 plan.shown.c_str(), older, older == 1 ? "" : "s");
  }
}

// Ends this process as the child ended.
int pass_on(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (!WIFSIGNALED(status)) return cli::kExitFailure;
  int signal = WTERMSIG(status);
  std::fflush(nullptr);
  struct rlimit no_core {};
  setrlimit(RLIMIT_CORE, &no_core);  // the child's core, if any, is the one that matters
  ::signal(signal, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signal);
  sigprocmask(SIG_UNBLOCK, &only, nullptr);
  kill(getpid(), signal);
  return 128 + signal;  // reached only when the signal does not kill, e.g. SIGCHLD
}

// Fills *settings from the arguments. Returns a status to exit with at once
// (help, usage error), or -1 to go on.
int parse(std::span<const std::string> args, Settings* settings) {
  cli::ParsedArgs parsed;
  std::string error;
  if (!cli::parse_args(args, kOptions, true, &parsed, &error)) {
    return cli::usage_error("record", error);
  }
  if (parsed.help) {
    std::fputs(kHelp, stdout);
    return cli::kExitOk;
  }
  long hz = 0;
  if (const std::string* value = parsed.find("--hz"); value != nullptr) {
    if (!cli::parse_int(*value, 1, 10000, &hz)) {
      return cli::usage_error("record",
                              "--hz takes a whole number from 1 to 10000, not '" + *value + "'");
    }
    settings->hz = std::to_string(hz);
  }
  settings->wall = parsed.find("--wall") != nullptr;
  if (const std::string* value = parsed.find("--interval"); value != nullptr) {
    // The library's own parser: what it would refuse is refused here.
    if (parse_interval(*value) < 0) {
      return cli::usage_error("record", "--interval takes seconds from 0.1 to 86400, not '" +
                                            *value + "'");
    }
    settings->interval = *value;
  }
  if (parsed.positional.empty()) {
    return cli::usage_error("record",
                            "no command given: profpre record [OPTIONS] -- CMD [ARGS...]");
  }
  settings->command = parsed.positional;
  const std::string* output = parsed.find("--output");
  std::string option = output != nullptr ? *output : kDefaultOutput;
  if (!plan_output(option, current_directory(), is_directory(option), &settings->plan, &error)) {
    return cli::usage_error("record", error);
  }
  return -1;
}

}  // namespace

int run_record(std::span<const std::string> args) {
  Settings settings;
  if (int status = parse(args, &settings); status >= 0) return status;
  std::string error;
  if (!find_library(&settings.library, &error) || !preloadable(settings.library, &error) ||
      !make_directories(settings.plan.directory, &error)) {
    cli::print_error("record", error);
    return cli::kExitOwnFailure;
  }

  DirectorySnapshot before = snapshot_outputs(settings.plan);
  int exec_errno = 0;
  pid_t pid = start_child(settings, &exec_errno);
  if (pid == -2) {
    cli::print_error("record", std::string("cannot start a process: ") + std::strerror(exec_errno));
    return cli::kExitOwnFailure;
  }
  if (pid == -1) {
    cli::print_error("record",
                     "cannot run " + settings.command.front() + ": " + std::strerror(exec_errno));
    return exec_errno == ENOENT ? cli::kExitNotFound : cli::kExitCannotRun;
  }
  int status = 0;
  if (!wait_child(pid, &status)) {
    cli::print_error("record", std::string("cannot wait for the command: ") + std::strerror(errno));
    return cli::kExitOwnFailure;
  }
  summarise(settings.plan, before);
  return pass_on(status);
}

}  // namespace profpre
