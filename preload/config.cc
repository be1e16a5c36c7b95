// Reading and checking the environment variables.
#include "preload/config.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "preload/log.h"

namespace profpre {

namespace {

bool flag_set(const char* value) {
  return value != nullptr && value[0] != '\0' && strcmp(value, "0") != 0;
}

// Parses a decimal number with no sign, no spaces and no trailing text.
bool parse_decimal(std::string_view text, int64_t limit, int64_t* out) {
  if (text.empty() || text.size() > 18) return false;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value > limit) return false;
  *out = value;
  return true;
}

struct SignalName {
  const char* name;
  int number;
};

constexpr SignalName kSignalNames[] = {
    {"PROF", SIGPROF}, {"VTALRM", SIGVTALRM}, {"ALRM", SIGALRM}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"STKFLT", SIGSTKFLT}, {"PWR", SIGPWR},   {"URG", SIGURG},
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"TERM", SIGTERM},
    {"WINCH", SIGWINCH}, {"TTIN", SIGTTIN},   {"TTOU", SIGTTOU}, {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"IO", SIGIO},         {"CHLD", SIGCHLD}, {"CONT", SIGCONT},
    {"PIPE", SIGPIPE}, {"SEGV", SIGSEGV},     {"BUS", SIGBUS},   {"ILL", SIGILL},
    {"FPE", SIGFPE},   {"ABRT", SIGABRT},     {"TRAP", SIGTRAP}, {"SYS", SIGSYS},
    {"KILL", SIGKILL}, {"STOP", SIGSTOP},     {"TSTP", SIGTSTP},
};

}  // namespace

int parse_hz(std::string_view text) {
  int64_t value = 0;
  if (!parse_decimal(text, kMaxHz, &value) || value < 1) return -1;
  return static_cast<int>(value);
}

int parse_signal(std::string_view text) {
  if (text.substr(0, 3) == "SIG") text.remove_prefix(3);
  int64_t number = 0;
  if (parse_decimal(text, 64, &number)) return number >= 1 ? static_cast<int>(number) : -1;
  for (const SignalName& s : kSignalNames) {
    if (text == s.name) return s.number;
  }
  if (text.substr(0, 5) == "RTMIN") {
    std::string_view rest = text.substr(5);
    if (rest.empty()) return SIGRTMIN;
    if (rest[0] == '+' && parse_decimal(rest.substr(1), 64, &number) &&
        SIGRTMIN + number <= SIGRTMAX) {
      return SIGRTMIN + static_cast<int>(number);
    }
  }
  return -1;
}

int64_t parse_interval(std::string_view text) {
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (dot != std::string_view::npos && fraction.empty()) return -1;
  if (fraction.size() > 9) return -1;
  int64_t seconds = 0;
  int64_t part = 0;
  if (whole.empty() && fraction.empty()) return -1;
  if (!whole.empty() && !parse_decimal(whole, 86400, &seconds)) return -1;
  if (!fraction.empty() && !parse_decimal(fraction, 999999999, &part)) return -1;
  for (size_t i = fraction.size(); i < 9; ++i) part *= 10;
  int64_t ns = seconds * 1000000000 + part;
  return ns >= kMinInterval_ns && ns <= kMaxInterval_ns ? ns : -1;
}

bool usable_dump_signal(int signo, int sampling_signo) {
  if (signo <= 0 || signo >= NSIG || signo == sampling_signo) return false;
  for (int s : {SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS}) {
    if (signo == s) return false;
  }
  return true;
}

bool expand_output_path(const char* pattern, pid_t pid, char* out, size_t size) {
  size_t n = 0;
  auto put = [&](char c) {
    if (n + 1 >= size) return false;
    out[n++] = c;
    return true;
  };
  for (const char* p = pattern; *p != '\0'; ++p) {
    if (p[0] == '%' && p[1] == '%') {
      if (!put('%')) return false;
      ++p;
    } else if (p[0] == '%' && p[1] == 'p') {
      char digits[16];
      int d = 0;
      for (unsigned v = static_cast<unsigned>(pid); d == 0 || v != 0; v /= 10) {
        digits[d++] = static_cast<char>('0' + v % 10);
      }
      while (d > 0) {
        if (!put(digits[--d])) return false;
      }
      ++p;
    } else if (!put(*p)) {
      return false;
    }
  }
  out[n] = '\0';
  return true;
}

bool absolute_path(const char* path, const char* cwd, char* out, size_t size) {
  size_t len = strlen(path);
  if (path[0] == '/') {
    if (len + 1 > size) return false;
    memcpy(out, path, len + 1);
    return true;
  }
  size_t cwd_len = strlen(cwd);
  bool slash = cwd_len > 0 && cwd[cwd_len - 1] == '/';
  size_t total = cwd_len + (slash ? 0 : 1) + len;
  if (total + 1 > size) return false;
  memcpy(out, cwd, cwd_len);
  if (!slash) out[cwd_len++] = '/';
  memcpy(out + cwd_len, path, len + 1);
  return true;
}

void config_load(Config* config) {
  *config = Config{};
  config->signo = SIGPROF;
  config->verbose = flag_set(getenv("PROF_VERBOSE"));
  config->stats = flag_set(getenv("PROF_STATS"));

  const char* out = getenv("PROF_OUT");
  if (out == nullptr) {
    if (config->verbose) LogLine().add("PROF_OUT is not set; not profiling").emit();
    return;
  }
  if (out[0] == '\0') {
    LogLine().add("PROF_OUT is empty; not profiling").emit();
    return;
  }

  if (const char* hz = getenv("PROF_HZ"); hz != nullptr) {
    int rate = parse_hz(hz);
    if (rate < 0) {
      LogLine().add("PROF_HZ=").add(hz).add(" is not a whole number from 1 to ")
          .add_int(kMaxHz).add("; using ").add_int(kDefaultHz).emit();
    } else {
      config->hz = rate;
    }
  }
  config->period_ns = 1000000000 / config->hz;

  if (const char* sig = getenv("PROF_SIGNAL"); sig != nullptr && sig[0] != '\0') {
    int signo = parse_signal(sig);
    if (signo < 0 || signo == SIGKILL || signo == SIGSTOP || signo == SIGSEGV ||
        signo == SIGBUS || signo == SIGILL || signo == SIGFPE || signo == SIGABRT) {
      LogLine().add("PROF_SIGNAL=").add(sig).add(" is not a usable signal; using SIGPROF").emit();
    } else {
      config->signo = signo;
    }
  }

  if (const char* interval = getenv("PROF_INTERVAL"); interval != nullptr && interval[0] != '\0') {
    int64_t ns = parse_interval(interval);
    if (ns < 0) {
      LogLine().add("PROF_INTERVAL=").add(interval)
          .add(" is not a number of seconds from 0.1 to 86400; one profile at exit").emit();
    } else {
      config->interval_ns = ns;
    }
  }

  if (const char* sig = getenv("PROF_DUMP_SIGNAL"); sig != nullptr && sig[0] != '\0') {
    int signo = parse_signal(sig);
    if (!usable_dump_signal(signo, config->signo)) {
      LogLine().add("PROF_DUMP_SIGNAL=").add(sig)
          .add(" is not a usable signal (not a fault signal, SIGKILL, SIGSTOP or the sampling "
               "signal); no dumps on demand").emit();
    } else {
      config->dump_signo = signo;
      size_t n = strnlen(sig, sizeof config->dump_signal_text - 1);
      memcpy(config->dump_signal_text, sig, n);
      config->dump_signal_text[n] = '\0';
    }
  }

  if (const char* mode = getenv("PROF_MODE"); mode != nullptr && mode[0] != '\0') {
    if (strcmp(mode, "wall") == 0) {
      config->wall = true;
    } else if (strcmp(mode, "cpu") != 0) {
      LogLine().add("PROF_MODE=").add(mode).add(" is neither cpu nor wall; using cpu").emit();
    }
  }

  char cwd[PATH_MAX];
  if (out[0] != '/' && getcwd(cwd, sizeof cwd) == nullptr) {
    LogLine().add("PROF_OUT: cannot resolve ").add(out).add(" against the working directory: ")
        .add_errno(errno).emit();
    return;
  }
  if (!absolute_path(out, cwd, config->out_pattern, sizeof config->out_pattern)) {
    LogLine().add("PROF_OUT: path too long; not profiling").emit();
    return;
  }
  config->active = true;
}

}  // namespace profpre
