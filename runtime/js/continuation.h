// The stored form of a suspended task: a fixed header, then the V8 snapshot
// blob compressed with zstd. The header is checked before V8 sees the blob
// (V8 aborts the process on a corrupt one).
//
//   offset size  field
//   0      4     magic "TSKC"
//   4      2     format version (kFormatVersion), little endian
//   6      2     external-references version (the native callback table)
//   8      1     length L of the V8 version string
//   9      L     V8 version string, e.g. "10.2.154.26-node.37"
//   9+L    4     raw (uncompressed) blob size
//   13+L   4     CRC-32C of the compressed body
//   17+L   4     compressed body size
//   21+L   ...   zstd-compressed V8 snapshot blob
#ifndef TASKER_RUNTIME_JS_CONTINUATION_H_
#define TASKER_RUNTIME_JS_CONTINUATION_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tasker::js {

inline constexpr uint16_t kFormatVersion = 1;

struct ContinuationHeader {
  uint16_t format_version = 0;
  uint16_t external_references_version = 0;
  std::string v8_version;
  uint32_t raw_size = 0;
  uint32_t checksum = 0;
};

// Compresses `blob` and prepends the header.
std::string EncodeContinuation(absl::string_view blob, uint16_t external_references_version,
                               absl::string_view v8_version, int zstd_level = 3);

// Parses and checks the header only. DATA_LOSS for corrupt or truncated
// data, FAILED_PRECONDITION for a foreign format, V8 or table version.
absl::StatusOr<ContinuationHeader> ReadContinuationHeader(absl::string_view data);

// Checks everything and returns the raw V8 blob.
absl::StatusOr<std::string> DecodeContinuation(absl::string_view data,
                                               uint16_t external_references_version,
                                               absl::string_view v8_version);

uint32_t Crc32c(absl::string_view data);

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_CONTINUATION_H_
