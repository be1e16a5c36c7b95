// gzip with zlib. Compression writes one gzip member at level 6
// (windowBits 15 + 16 selects gzip framing rather than zlib's). Decompression
// reads members one after another until the input ends, as Go's gzip reader
// does, so concatenated files decode to their concatenated contents; bytes
// after a member that do not start another member are corruption.

#define ZLIB_CONST  // makes z_stream::next_in a pointer to const
#include "encoder/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <limits>
#include <string>

namespace profpre {
namespace {

constexpr int kLevel = 6;
constexpr int kGzipWindowBits = 15 + 16;
constexpr int kMemLevel = 8;  // zlib's default
constexpr size_t kChunk = 64 * 1024;
constexpr size_t kMaxFeed = std::numeric_limits<uInt>::max();  // zlib counts in uInt

// Ends a z_stream on every path out, exceptions included.
class StreamEnd {
 public:
  StreamEnd(z_stream* stream, int (*end)(z_stream*)) : stream_(stream), end_(end) {}
  ~StreamEnd() { end_(stream_); }
  StreamEnd(const StreamEnd&) = delete;
  StreamEnd& operator=(const StreamEnd&) = delete;

 private:
  z_stream* stream_;
  int (*end_)(z_stream*);
};

void feed(z_stream* stream, std::string_view in, size_t pos) {
  stream->next_in = reinterpret_cast<const Bytef*>(in.data() + pos);
  stream->avail_in = static_cast<uInt>(std::min(in.size() - pos, kMaxFeed));
}

// Runs deflate with fresh output space until it leaves some unused.
int drain_deflate(z_stream* stream, int flush, std::string* out) {
  int rc = Z_OK;
  do {
    size_t used = out->size();
    out->resize(used + kChunk);
    stream->next_out = reinterpret_cast<Bytef*>(out->data() + used);
    stream->avail_out = static_cast<uInt>(kChunk);
    rc = deflate(stream, flush);
    out->resize(used + kChunk - stream->avail_out);
    if (rc == Z_BUF_ERROR) rc = Z_OK;  // no progress possible: wants more input
  } while (rc == Z_OK && stream->avail_out == 0);
  return rc;
}

bool compress(std::string_view in, std::string* out, std::string* error) {
  z_stream stream{};
  if (deflateInit2(&stream, kLevel, Z_DEFLATED, kGzipWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) !=
      Z_OK) {
    *error = "cannot start gzip compression";
    return false;
  }
  StreamEnd end(&stream, deflateEnd);

  std::string result;
  result.reserve(deflateBound(&stream, in.size()));
  size_t pos = 0;
  int rc = Z_OK;
  do {
    feed(&stream, in, pos);
    pos += stream.avail_in;
    rc = drain_deflate(&stream, pos == in.size() ? Z_FINISH : Z_NO_FLUSH, &result);
  } while (pos < in.size() && rc == Z_OK);
  if (rc != Z_STREAM_END) {
    *error = "gzip compression failed";
    return false;
  }
  out->swap(result);
  return true;
}

std::string corrupt(const z_stream& stream, size_t member) {
  return "corrupt gzip data in the member at byte " + std::to_string(member) + ": " +
         (stream.msg != nullptr ? stream.msg : "bad data");
}

std::string truncated(size_t member) {
  return "truncated gzip data: the member at byte " + std::to_string(member) + " is incomplete";
}

bool decompress(std::string_view in, std::string* out, std::string* error) {
  if (in.empty()) {
    *error = "truncated gzip data: the input is empty";
    return false;
  }
  z_stream stream{};
  if (inflateInit2(&stream, kGzipWindowBits) != Z_OK) {
    *error = "cannot start gzip decompression";
    return false;
  }
  StreamEnd end(&stream, inflateEnd);

  std::string result;
  size_t pos = 0;
  size_t member = 0;
  for (;;) {
    feed(&stream, in, pos);
    size_t fed = stream.avail_in;
    size_t used = result.size();
    result.resize(used + kChunk);
    stream.next_out = reinterpret_cast<Bytef*>(result.data() + used);
    stream.avail_out = static_cast<uInt>(kChunk);
    int rc = inflate(&stream, Z_NO_FLUSH);
    result.resize(used + kChunk - stream.avail_out);
    pos += fed - stream.avail_in;

    if (rc == Z_STREAM_END) {
      if (pos == in.size()) break;
      inflateReset(&stream);  // another member follows
      member = pos;
      continue;
    }
    if (rc == Z_BUF_ERROR || (rc == Z_OK && pos == in.size() && stream.avail_out != 0)) {
      *error = truncated(member);
      return false;
    }
    if (rc != Z_OK) {
      *error = rc == Z_MEM_ERROR ? "out of memory" : corrupt(stream, member);
      return false;
    }
  }
  out->swap(result);
  return true;
}

}  // namespace

bool gzip_compress(std::string_view in, std::string* out, std::string* error) {
  try {
    return compress(in, out, error);
  } catch (const std::exception&) {  // bad_alloc, or length_error past max_size()
    *error = "out of memory";
    return false;
  }
}

bool gzip_decompress(std::string_view in, std::string* out, std::string* error) {
  try {
    return decompress(in, out, error);
  } catch (const std::exception&) {
    *error = "out of memory";
    return false;
  }
}

}  // namespace profpre
