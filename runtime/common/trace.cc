#include "runtime/common/trace.h"

#include <openssl/sha.h>

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tasker {
namespace {

bool LowerHex(absl::string_view text, size_t size) {
  if (text.size() != size) return false;
  bool nonzero = false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    nonzero = nonzero || c != '0';
  }
  return nonzero;
}

std::string RandomHex(int bytes) {
  thread_local absl::BitGen gen;
  std::string out;
  while (true) {
    out.clear();
    for (int i = 0; i < bytes; i += 8) {
      absl::StrAppend(&out, absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
    }
    out.resize(static_cast<size_t>(bytes) * 2);
    if (out.find_first_not_of('0') != std::string::npos) return out;
  }
}

}  // namespace

std::optional<TraceParent> ParseTraceParent(absl::string_view header) {
  // version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 = 55.
  if (header.size() < 55) return std::nullopt;
  absl::string_view version = header.substr(0, 2);
  if (version == "ff" || !((version[0] >= '0' && version[0] <= '9') || (version[0] >= 'a' && version[0] <= 'f')) ||
      !((version[1] >= '0' && version[1] <= '9') || (version[1] >= 'a' && version[1] <= 'f'))) {
    return std::nullopt;
  }
  // Version 00 is exactly 55 characters; later versions may append "-...".
  if (version == "00" && header.size() != 55) return std::nullopt;
  if (header.size() > 55 && header[55] != '-') return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  TraceParent out;
  absl::string_view trace_id = header.substr(3, 32);
  absl::string_view span_id = header.substr(36, 16);
  absl::string_view flags = header.substr(53, 2);
  if (!LowerHex(trace_id, 32) || !LowerHex(span_id, 16)) return std::nullopt;
  auto hex_digit = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  if (!hex_digit(flags[0]) || !hex_digit(flags[1])) return std::nullopt;
  out.trace_id = std::string(trace_id);
  out.span_id = std::string(span_id);
  const int flag_bits = std::stoi(std::string(flags), nullptr, 16);
  out.sampled = (flag_bits & 1) != 0;
  return out;
}

std::string FormatTraceParent(absl::string_view trace_id, absl::string_view span_id, bool sampled) {
  return absl::StrCat("00-", trace_id, "-", span_id, sampled ? "-01" : "-00");
}

namespace {

// Hex of SHA-256("tasker-run:" + run_id): 32 digits of trace id, then 16 of span id.
std::string RunDigestHex(absl::string_view run_id) {
  const std::string input = absl::StrCat("tasker-run:", run_id);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  std::string hex = absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), 24));
  // All zero is invalid in W3C; a 2^-128 chance, but cheap to rule out.
  if (hex.find_first_not_of('0') == 32) hex[31] = '1';
  if (hex.find_first_not_of('0', 32) == std::string::npos) hex[47] = '1';
  return hex;
}

}  // namespace

std::string TraceIdForRun(absl::string_view run_id) {
  if (run_id.empty()) return "";
  return RunDigestHex(run_id).substr(0, 32);
}

std::string NewTraceId() { return RandomHex(16); }
std::string NewSpanId() { return RandomHex(8); }

LogContext RunLogContext(absl::string_view run_id, absl::string_view stack_run_id) {
  LogContext context;
  context.run_id = std::string(run_id);
  context.stack_run_id = std::string(stack_run_id);
  if (run_id.empty()) return context;
  const std::string hex = RunDigestHex(run_id);
  context.trace_id = hex.substr(0, 32);
  context.traceparent = FormatTraceParent(context.trace_id, absl::string_view(hex).substr(32, 16));
  return context;
}

}  // namespace tasker
