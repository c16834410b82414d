#include "runtime/js/continuation.h"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace tasker::js {
namespace {

constexpr char kMagic[4] = {'T', 'S', 'K', 'C'};
constexpr uint32_t kMaxRawSize = 1u << 30;

void PutU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}
void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t GetU32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

const std::array<uint32_t, 256>& CrcTable() {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0x82F63B78u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
}

}  // namespace

uint32_t Crc32c(absl::string_view data) {
  const auto& table = CrcTable();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) crc = table[(crc ^ c) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::string EncodeContinuation(absl::string_view blob, uint16_t external_references_version,
                               absl::string_view v8_version, int zstd_level) {
  std::string body(ZSTD_compressBound(blob.size()), '\0');
  size_t n = ZSTD_compress(body.data(), body.size(), blob.data(), blob.size(), zstd_level);
  body.resize(ZSTD_isError(n) ? 0 : n);
  std::string out(kMagic, 4);
  PutU16(&out, kFormatVersion);
  PutU16(&out, external_references_version);
  out.push_back(static_cast<char>(std::min<size_t>(v8_version.size(), 255)));
  out.append(v8_version.data(), std::min<size_t>(v8_version.size(), 255));
  PutU32(&out, static_cast<uint32_t>(blob.size()));
  PutU32(&out, Crc32c(body));
  PutU32(&out, static_cast<uint32_t>(body.size()));
  out += body;
  return out;
}

absl::StatusOr<ContinuationHeader> ReadContinuationHeader(absl::string_view data) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  if (data.size() < 9 || std::memcmp(data.data(), kMagic, 4) != 0) {
    return absl::DataLossError("bad continuation: not a Tasker continuation (magic mismatch)");
  }
  ContinuationHeader h;
  h.format_version = static_cast<uint16_t>(p[4] | p[5] << 8);
  h.external_references_version = static_cast<uint16_t>(p[6] | p[7] << 8);
  const size_t v8_len = p[8];
  if (data.size() < 21 + v8_len) return absl::DataLossError("bad continuation: truncated header");
  h.v8_version = std::string(data.substr(9, v8_len));
  h.raw_size = GetU32(p + 9 + v8_len);
  h.checksum = GetU32(p + 13 + v8_len);
  const uint32_t body_size = GetU32(p + 17 + v8_len);
  if (data.size() - (21 + v8_len) != body_size) {
    return absl::DataLossError(absl::StrCat("bad continuation: body is ", data.size() - (21 + v8_len),
                                            " bytes, header says ", body_size, " (truncated?)"));
  }
  return h;
}

absl::StatusOr<std::string> DecodeContinuation(absl::string_view data,
                                               uint16_t external_references_version,
                                               absl::string_view v8_version) {
  auto header = ReadContinuationHeader(data);
  if (!header.ok()) return header.status();
  if (header->format_version != kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat("version mismatch: continuation format ",
                                                      header->format_version, ", this runtime reads ",
                                                      kFormatVersion));
  }
  if (header->external_references_version != external_references_version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "version mismatch: continuation written with native table version ",
        header->external_references_version, ", this runtime has ", external_references_version));
  }
  if (header->v8_version != v8_version) {
    return absl::FailedPreconditionError(absl::StrCat("version mismatch: continuation written by V8 ",
                                                      header->v8_version, ", this runtime is V8 ",
                                                      v8_version));
  }
  absl::string_view body = data.substr(21 + header->v8_version.size());
  if (Crc32c(body) != header->checksum) {
    return absl::DataLossError("bad continuation: checksum mismatch (corrupt data)");
  }
  if (header->raw_size == 0 || header->raw_size > kMaxRawSize) {
    return absl::DataLossError("bad continuation: implausible raw size");
  }
  std::string raw(header->raw_size, '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), body.data(), body.size());
  if (ZSTD_isError(n) || n != header->raw_size) {
    return absl::DataLossError("bad continuation: body does not decompress to the recorded size");
  }
  return raw;
}

}  // namespace tasker::js
