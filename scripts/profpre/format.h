// Numbers for people: CPU time in the unit that suits it, and shares.
#pragma once

#include <cstdint>
#include <string>

#include "encoder/profile.h"

namespace profpre {

// A value of the given type: nanoseconds as "1.23s", "45.6ms", "789us" or
// "12ns"; any other unit as the number and the unit, "1234 count".
std::string format_value(int64_t value, const ValueType& type);

// "12.3%"; "-" when the total is zero.
std::string format_percent(int64_t part, int64_t total);

// Seconds with two decimals, "3.42 s", for nanoseconds; else as format_value.
std::string format_total(int64_t value, const ValueType& type);

}  // namespace profpre
