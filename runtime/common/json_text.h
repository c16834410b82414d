// JSON text as Tasker carries payloads: run input and result, call args and
// result, error details and function metadata travel and are stored as the
// exact text JSON.stringify produced (or the client sent), never re-encoded.
// So key order, number formatting (-0, 1e400, 12345678901234567890) and
// lone-surrogate escapes ("\ud83d") come back byte for byte.
//
// Everything here is iterative: no input, however deep, can exhaust the stack.
#ifndef TASKER_RUNTIME_COMMON_JSON_TEXT_H_
#define TASKER_RUNTIME_COMMON_JSON_TEXT_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tasker {

// The documented limits every entry point enforces (README, "Limits").
// Arrays and objects nested deeper than this are refused.
inline constexpr int kMaxJsonDepth = 1000;
// One payload: a run's input or result, a call's args or result, error
// details, function metadata.
inline constexpr size_t kMaxPayloadBytes = size_t{16} << 20;

// OK when `text` is exactly one JSON value (RFC 8259) at most `max_depth`
// deep and at most `max_bytes` long. String escapes may encode lone
// surrogates, as JSON.stringify writes them; raw bytes must be valid UTF-8.
// Otherwise INVALID_ARGUMENT naming `field`, the cause and the byte offset.
absl::Status ValidateJson(absl::string_view text, absl::string_view field, int max_depth = kMaxJsonDepth,
                          size_t max_bytes = kMaxPayloadBytes);

// The type of a JSON value, from its first byte.
enum class JsonType { kNull, kBool, kNumber, kString, kArray, kObject };
JsonType TypeOfJson(absl::string_view valid_json);
const char* JsonTypeName(JsonType type);

// One member of a JSON object: its decoded key and the raw text of its value.
struct JsonMember {
  std::string key;
  absl::string_view raw;  // points into the text given to JsonObjectMembers
};

// The members of the JSON object `text`, in order (duplicates kept), each
// value validated as ValidateJson does (depth counted from the object).
// INVALID_ARGUMENT naming `field` when `text` is not a JSON object.
absl::StatusOr<std::vector<JsonMember>> JsonObjectMembers(absl::string_view text, absl::string_view field,
                                                          int max_depth = kMaxJsonDepth,
                                                          size_t max_bytes = kMaxPayloadBytes);

// The UTF-8 value of a valid JSON string literal (quotes included in `raw`).
// A lone surrogate escape becomes U+FFFD.
std::string JsonStringValue(absl::string_view raw);

// `json` (JSON text) with every escape of a lone surrogate ("\ud83d", as
// JSON.stringify writes one) rewritten, for parsers that refuse them
// (nlohmann::json): as \ufffd (U+FFFD, what a provider receives), or as the
// six characters of the escape themselves ("\\ud83d": distinct surrogates
// stay distinct, for comparing). Pairs and all else are left as they are.
enum class LoneSurrogates { kReplacementCharacter, kAsText };
std::string RewriteLoneSurrogateEscapes(absl::string_view json, LoneSurrogates how);

// `utf8` as a JSON string literal (quotes included). Bytes that are not valid
// UTF-8 become U+FFFD.
std::string JsonQuote(absl::string_view utf8);

}  // namespace tasker

#endif  // TASKER_RUNTIME_COMMON_JSON_TEXT_H_
