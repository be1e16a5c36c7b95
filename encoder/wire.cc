// Protobuf wire format helpers. Writing: LEB128 varints, tags, optional
// scalars that vanish when zero, length-delimited fields, and repeated
// varints packed the way Go packs them. Reading: a bounds-checked walk over
// the fields of one buffer. The reader is stricter than pprof's in two
// places: a tenth varint byte may carry only bit 63, and field number 0 is
// rejected.

#include "encoder/wire.h"

#include <exception>

namespace profpre::wire {
namespace {

uint64_t make_tag(int field, WireType type) {
  return (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(type);
}

template <typename T>
void write_packed(Writer* writer, int field, std::span<const T> values) {
  if (values.empty()) return;
  size_t mark = writer->begin_message();
  for (T value : values) writer->varint(static_cast<uint64_t>(value));
  writer->end_message(field, mark);
}

template <typename T>
void write_repeated(Writer* writer, int field, std::span<const T> values) {
  if (values.size() > 2) {
    write_packed(writer, field, values);
    return;
  }
  for (T value : values) writer->varint_field(field, static_cast<uint64_t>(value));
}

}  // namespace

size_t put_varint(uint64_t value, char* buf) noexcept {
  size_t n = 0;
  while (value >= 0x80) {
    buf[n++] = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  buf[n++] = static_cast<char>(value);
  return n;
}

void Writer::append(const char* data, size_t size) noexcept {
  if (failed_) return;
  try {
    out_.append(data, size);
  } catch (const std::exception&) {  // bad_alloc, or length_error past max_size()
    failed_ = true;
  }
}

void Writer::varint(uint64_t value) noexcept {
  char buf[kMaxVarintBytes];
  append(buf, put_varint(value, buf));
}

void Writer::tag(int field, WireType type) noexcept { varint(make_tag(field, type)); }

void Writer::varint_field(int field, uint64_t value) noexcept {
  tag(field, WireType::kVarint);
  varint(value);
}

void Writer::uint64_opt(int field, uint64_t value) noexcept {
  if (value != 0) varint_field(field, value);
}

void Writer::int64_opt(int field, int64_t value) noexcept {
  if (value != 0) varint_field(field, static_cast<uint64_t>(value));
}

void Writer::bool_opt(int field, bool value) noexcept {
  if (value) varint_field(field, 1);
}

void Writer::bytes_field(int field, std::string_view bytes) noexcept {
  tag(field, WireType::kLen);
  varint(bytes.size());
  append(bytes.data(), bytes.size());
}

void Writer::uint64s(int field, std::span<const uint64_t> values) noexcept {
  write_repeated(this, field, values);
}

void Writer::int64s(int field, std::span<const int64_t> values) noexcept {
  write_repeated(this, field, values);
}

void Writer::packed_uint64s(int field, std::span<const uint64_t> values) noexcept {
  write_packed(this, field, values);
}

void Writer::end_message(int field, size_t mark) noexcept {
  if (failed_) return;
  char head[2 * kMaxVarintBytes];
  size_t n = put_varint(make_tag(field, WireType::kLen), head);
  n += put_varint(out_.size() - mark, head + n);
  try {
    out_.insert(mark, head, n);
  } catch (const std::exception&) {
    failed_ = true;
  }
}

const char* describe(ReadError error) noexcept {
  switch (error) {
    case ReadError::kNone:
      return "no error";
    case ReadError::kTruncated:
      return "truncated input";
    case ReadError::kLengthPastEnd:
      return "length runs past the end of the input";
    case ReadError::kVarintTooLong:
      return "varint longer than 10 bytes";
    case ReadError::kVarintOverflow:
      return "varint overflows 64 bits";
    case ReadError::kBadWireType:
      return "unsupported wire type (groups are not accepted)";
    case ReadError::kBadFieldNumber:
      return "field number out of range";
  }
  return "unknown error";
}

bool Reader::fail(ReadError error, size_t pos) noexcept {
  error_ = error;
  error_offset_ = base_ + pos;
  return false;
}

bool Reader::read_varint(uint64_t* value) noexcept {
  size_t start = pos_;
  uint64_t result = 0;
  for (size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (pos_ == data_.size()) return fail(ReadError::kTruncated, start);
    auto byte = static_cast<uint8_t>(data_[pos_++]);
    result |= uint64_t{byte & 0x7fu} << (7 * i);
    if ((byte & 0x80) != 0) continue;

    // The tenth byte has room for bit 63 only.
    if (i == kMaxVarintBytes - 1 && byte > 1) return fail(ReadError::kVarintOverflow, start);
    *value = result;
    return true;
  }
  return fail(ReadError::kVarintTooLong, start);
}

bool Reader::read_fixed(size_t size, uint64_t* value) noexcept {
  if (data_.size() - pos_ < size) return fail(ReadError::kTruncated, pos_);
  uint64_t result = 0;
  for (size_t i = 0; i < size; ++i) {
    result |= uint64_t{static_cast<uint8_t>(data_[pos_ + i])} << (8 * i);
  }
  pos_ += size;
  *value = result;
  return true;
}

bool Reader::read_length_delimited(Field* field) noexcept {
  size_t start = pos_;
  uint64_t length = 0;
  if (!read_varint(&length)) return false;
  if (length > data_.size() - pos_) return fail(ReadError::kLengthPastEnd, start);
  field->bytes = data_.substr(pos_, length);
  field->bytes_offset = base_ + pos_;
  pos_ += length;
  return true;
}

bool Reader::read_field(Field* field) noexcept {
  size_t start = pos_;
  uint64_t key = 0;
  if (!read_varint(&key)) return false;
  uint64_t number = key >> 3;
  if (number == 0 || number > kMaxFieldNumber) return fail(ReadError::kBadFieldNumber, start);

  *field = Field{};
  field->number = static_cast<int>(number);
  field->offset = base_ + start;
  switch (key & 7) {
    case 0:
      field->type = WireType::kVarint;
      return read_varint(&field->value);
    case 1:
      field->type = WireType::kFixed64;
      return read_fixed(8, &field->value);
    case 2:
      field->type = WireType::kLen;
      return read_length_delimited(field);
    case 5:
      field->type = WireType::kFixed32;
      return read_fixed(4, &field->value);
    default:
      return fail(ReadError::kBadWireType, start);
  }
}

}  // namespace profpre::wire
