// Formatting values and percentages.

#include "scripts/profpre/format.h"

#include <cstdio>
#include <cstdlib>

namespace profpre {

std::string format_value(int64_t value, const ValueType& type) {
  char text[64];
  if (type.unit != "nanoseconds") {
    std::snprintf(text, sizeof text, "%lld %s", static_cast<long long>(value), type.unit.c_str());
    return text;
  }
  double ns = static_cast<double>(value);
  double magnitude = std::abs(ns);
  if (magnitude >= 1e9) {
    std::snprintf(text, sizeof text, "%.2fs", ns / 1e9);
  } else if (magnitude >= 1e6) {
    std::snprintf(text, sizeof text, "%.1fms", ns / 1e6);
  } else if (magnitude >= 1e3) {
    std::snprintf(text, sizeof text, "%.0fus", ns / 1e3);
  } else {
    std::snprintf(text, sizeof text, "%lldns", static_cast<long long>(value));
  }
  return text;
}

std::string format_percent(int64_t part, int64_t total) {
  if (total == 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%",
                100.0 * static_cast<double>(part) / static_cast<double>(total));
  return text;
}

std::string format_total(int64_t value, const ValueType& type) {
  if (type.unit != "nanoseconds") return format_value(value, type);
  char text[32];
  std::snprintf(text, sizeof text, "%.2f s", static_cast<double>(value) / 1e9);
  return text;
}

}  // namespace profpre
