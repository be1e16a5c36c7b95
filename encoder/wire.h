// The protobuf wire format, both ways: a Writer that appends fields to a
// buffer and a Reader that walks the fields of a buffer. Only what
// profile.proto needs: varints, length-delimited fields, packed varints;
// fixed-width fields are read (to skip them) but never written.
// Runs only on the background thread or in tools: may allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace profpre::wire {

enum class WireType : uint8_t {
  kVarint = 0,
  kFixed64 = 1,
  kLen = 2,
  kFixed32 = 5,
};

constexpr size_t kMaxVarintBytes = 10;
constexpr uint64_t kMaxFieldNumber = (uint64_t{1} << 29) - 1;

// Writes `value` as LEB128 into `buf`, which must hold kMaxVarintBytes;
// returns the number of bytes written. An int64 is passed as its uint64 bit
// pattern (no zigzag), so a negative one takes ten bytes.
size_t put_varint(uint64_t value, char* buf) noexcept;

// Appends fields to a buffer it owns. Nested messages are written in place:
// begin_message() marks where the body starts and end_message() slides the
// tag and length in front of it. Names follow Go's runtime/pprof writer:
// "_opt" omits a zero value, the plural forms write repeated scalars.
// No method throws: a failed allocation is sticky, every later call does
// nothing and failed() says so.
// Runs only on the background thread or in tools: may allocate.
class Writer {
 public:
  void varint(uint64_t value) noexcept;
  void tag(int field, WireType type) noexcept;

  void varint_field(int field, uint64_t value) noexcept;
  void uint64_opt(int field, uint64_t value) noexcept;
  void int64_opt(int field, int64_t value) noexcept;
  void bool_opt(int field, bool value) noexcept;

  // Always written, even when empty: a string_table entry of "" counts.
  void bytes_field(int field, std::string_view bytes) noexcept;

  // Packed (one length-delimited field) when there are more than two
  // values, otherwise one varint field per value, as Go writes them.
  void uint64s(int field, std::span<const uint64_t> values) noexcept;
  void int64s(int field, std::span<const int64_t> values) noexcept;
  // Always packed; nothing at all when `values` is empty.
  void packed_uint64s(int field, std::span<const uint64_t> values) noexcept;

  // Appends bytes that are already in wire format.
  void raw(std::string_view bytes) noexcept { append(bytes.data(), bytes.size()); }

  size_t begin_message() const noexcept { return out_.size(); }
  // Prefixes everything written since `mark` with the tag and length.
  void end_message(int field, size_t mark) noexcept;

  const std::string& bytes() const noexcept { return out_; }
  std::string take() noexcept { return std::move(out_); }
  bool failed() const noexcept { return failed_; }

 private:
  void append(const char* data, size_t size) noexcept;

  std::string out_;
  bool failed_ = false;
};

enum class ReadError : uint8_t {
  kNone,
  kTruncated,
  kLengthPastEnd,
  kVarintTooLong,
  kVarintOverflow,
  kBadWireType,
  kBadFieldNumber,
};

// A short lowercase phrase for `error`, e.g. "varint longer than 10 bytes".
const char* describe(ReadError error) noexcept;

struct Field {
  int number = 0;
  WireType type = WireType::kVarint;
  uint64_t value = 0;       // the payload of a varint or fixed-width field
  std::string_view bytes;   // the payload of a length-delimited field
  size_t offset = 0;        // of the tag, from the start of the whole input
  size_t bytes_offset = 0;  // of `bytes`, from the start of the whole input
};

// Walks the fields of one message (or the varints of one packed payload)
// without copying. Offsets are reported from the start of the whole input:
// `base` is where `data` begins in it. Accepts wire types 0, 1, 2 and 5.
// Runs only on the background thread or in tools: never allocates.
class Reader {
 public:
  explicit Reader(std::string_view data, size_t base = 0) noexcept : data_(data), base_(base) {}

  bool at_end() const noexcept { return pos_ == data_.size(); }
  // Each returns false on malformed input, leaving error() and
  // error_offset() set.
  bool read_field(Field* field) noexcept;
  bool read_varint(uint64_t* value) noexcept;

  ReadError error() const noexcept { return error_; }
  size_t error_offset() const noexcept { return error_offset_; }

 private:
  bool read_fixed(size_t size, uint64_t* value) noexcept;
  bool read_length_delimited(Field* field) noexcept;
  bool fail(ReadError error, size_t pos) noexcept;

  std::string_view data_;
  size_t base_;
  size_t pos_ = 0;
  ReadError error_ = ReadError::kNone;
  size_t error_offset_ = 0;
};

}  // namespace profpre::wire
