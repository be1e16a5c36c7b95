#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "preload/config.h"

using profpre::absolute_path;
using profpre::expand_output_path;
using profpre::parse_hz;
using profpre::parse_signal;

TEST_CASE("a rate is a whole number from 1 to 10000", "[config]") {
  CHECK(parse_hz("1") == 1);
  CHECK(parse_hz("100") == 100);
  CHECK(parse_hz("10000") == 10000);
  SECTION("out of range") {
    CHECK(parse_hz("0") == -1);
    CHECK(parse_hz("10001") == -1);
    CHECK(parse_hz("99999999999999999999") == -1);
  }
  SECTION("not a number") {
    CHECK(parse_hz("") == -1);
    CHECK(parse_hz("abc") == -1);
    CHECK(parse_hz("100hz") == -1);
    CHECK(parse_hz(" 100") == -1);
    CHECK(parse_hz("-5") == -1);
    CHECK(parse_hz("1e3") == -1);
  }
}

TEST_CASE("a signal is named with or without SIG, or numbered", "[config]") {
  CHECK(parse_signal("PROF") == SIGPROF);
  CHECK(parse_signal("SIGPROF") == SIGPROF);
  CHECK(parse_signal("VTALRM") == SIGVTALRM);
  CHECK(parse_signal("27") == 27);
  CHECK(parse_signal("SIGRTMIN") == SIGRTMIN);
  CHECK(parse_signal("RTMIN+3") == SIGRTMIN + 3);
  CHECK(parse_signal("RTMIN+99") == -1);
  CHECK(parse_signal("NOPE") == -1);
  CHECK(parse_signal("0") == -1);
  CHECK(parse_signal("") == -1);
}

TEST_CASE("an interval is seconds with an optional fraction, 0.1 to 86400", "[config]") {
  using profpre::parse_interval;
  CHECK(parse_interval("60") == 60000000000LL);
  CHECK(parse_interval("0.5") == 500000000LL);
  CHECK(parse_interval(".25") == 250000000LL);
  CHECK(parse_interval("0.1") == 100000000LL);
  CHECK(parse_interval("86400") == 86400000000000LL);
  CHECK(parse_interval("0.05") == -1);
  CHECK(parse_interval("86401") == -1);
  CHECK(parse_interval("0") == -1);
  CHECK(parse_interval("1.") == -1);
  CHECK(parse_interval("1s") == -1);
  CHECK(parse_interval("-1") == -1);
  CHECK(parse_interval("") == -1);
}

TEST_CASE("the dump signal is any catchable signal but ours and the faults", "[config]") {
  using profpre::usable_dump_signal;
  CHECK(usable_dump_signal(SIGUSR2, SIGPROF));
  CHECK(usable_dump_signal(SIGHUP, SIGPROF));
  CHECK(usable_dump_signal(SIGRTMIN + 1, SIGPROF));
  CHECK(parse_signal("USR2") == SIGUSR2);
  CHECK(parse_signal("SIGHUP") == SIGHUP);
  CHECK_FALSE(usable_dump_signal(SIGPROF, SIGPROF));
  CHECK_FALSE(usable_dump_signal(SIGKILL, SIGPROF));
  CHECK_FALSE(usable_dump_signal(SIGSTOP, SIGPROF));
  CHECK_FALSE(usable_dump_signal(SIGSEGV, SIGPROF));
  CHECK_FALSE(usable_dump_signal(SIGABRT, SIGPROF));
  CHECK_FALSE(usable_dump_signal(-1, SIGPROF));
}

TEST_CASE("%p becomes the pid and %% a percent sign", "[config]") {
  char out[64];
  REQUIRE(expand_output_path("/t/prof-%p.pb.gz", 4321, out, sizeof out));
  CHECK(std::string(out) == "/t/prof-4321.pb.gz");
  REQUIRE(expand_output_path("/t/100%%-%p-%p", 7, out, sizeof out));
  CHECK(std::string(out) == "/t/100%-7-7");
  SECTION("another escape is kept as written") {
    REQUIRE(expand_output_path("/t/%x%", 7, out, sizeof out));
    CHECK(std::string(out) == "/t/%x%");
  }
  SECTION("a result that does not fit fails") {
    char small[8];
    CHECK_FALSE(expand_output_path("/t/%p.pb.gz", 123456, small, sizeof small));
    CHECK(expand_output_path("/t/%p", 12, small, sizeof small));
    CHECK(std::string(small) == "/t/12");
  }
}

TEST_CASE("a relative output path is taken from the starting directory", "[config]") {
  char out[64];
  REQUIRE(absolute_path("p.pb.gz", "/home/u", out, sizeof out));
  CHECK(std::string(out) == "/home/u/p.pb.gz");
  REQUIRE(absolute_path("p.pb.gz", "/", out, sizeof out));
  CHECK(std::string(out) == "/p.pb.gz");
  REQUIRE(absolute_path("/abs/p", "/home/u", out, sizeof out));
  CHECK(std::string(out) == "/abs/p");
  char small[10];
  CHECK_FALSE(absolute_path("p.pb.gz", "/home/u", small, sizeof small));
}

TEST_CASE("the environment decides whether and how we profile", "[config]") {
  profpre::Config config;
  unsetenv("PROF_HZ");
  unsetenv("PROF_SIGNAL");

  SECTION("no PROF_OUT: inactive") {
    unsetenv("PROF_OUT");
    profpre::config_load(&config);
    CHECK_FALSE(config.active);
  }
  SECTION("an empty PROF_OUT: inactive") {
    setenv("PROF_OUT", "", 1);
    profpre::config_load(&config);
    CHECK_FALSE(config.active);
  }
  SECTION("a bad rate keeps the default") {
    setenv("PROF_OUT", "/tmp/x.pb.gz", 1);
    setenv("PROF_HZ", "fast", 1);
    profpre::config_load(&config);
    CHECK(config.active);
    CHECK(config.hz == 100);
    CHECK(config.period_ns == 10000000);
  }
  SECTION("a good rate sets the period") {
    setenv("PROF_OUT", "rel/x.pb.gz", 1);
    setenv("PROF_HZ", "250", 1);
    profpre::config_load(&config);
    CHECK(config.hz == 250);
    CHECK(config.period_ns == 4000000);
    CHECK(config.out_pattern[0] == '/');
    CHECK(std::string(config.out_pattern).ends_with("/rel/x.pb.gz"));
  }
  SECTION("a fatal signal is refused for the timers") {
    setenv("PROF_OUT", "/tmp/x.pb.gz", 1);
    setenv("PROF_SIGNAL", "SEGV", 1);
    profpre::config_load(&config);
    CHECK(config.signo == SIGPROF);
  }
  unsetenv("PROF_OUT");
  unsetenv("PROF_HZ");
  unsetenv("PROF_SIGNAL");
}
