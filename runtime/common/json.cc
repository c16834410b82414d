#include "runtime/common/json.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace tasker {

std::string ProtoToJson(const google::protobuf::Message& message, JsonStyle style) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = style.pretty;
  options.preserve_proto_field_names = style.proto_field_names;
  std::string out;
  // Printing fails only for malformed messages (e.g. an invalid enum in a
  // Value); those print as null.
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "null";
  return out.empty() ? "null" : out;
}

absl::Status JsonToProto(absl::string_view json, google::protobuf::Message* out,
                         absl::string_view field) {
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), out);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not valid JSON (", status.message().ToString(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<google::protobuf::Value> ParseJsonValue(absl::string_view json,
                                                       absl::string_view field) {
  google::protobuf::Value value;
  if (auto status = JsonToProto(json, &value, field); !status.ok()) return status;
  return value;
}

namespace {

// protobuf prints a NaN or infinite number as the string "NaN" / "Infinity":
// JSON has no such numbers, so they are refused instead of changing type.
bool AllNumbersFinite(const google::protobuf::Value& value) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      return std::isfinite(value.number_value());
    case google::protobuf::Value::kListValue:
      for (const auto& v : value.list_value().values()) {
        if (!AllNumbersFinite(v)) return false;
      }
      return true;
    case google::protobuf::Value::kStructValue:
      for (const auto& [k, v] : value.struct_value().fields()) {
        if (!AllNumbersFinite(v)) return false;
      }
      return true;
    default:
      return true;
  }
}

}  // namespace

absl::StatusOr<nlohmann::json> ValueToNlohmann(const google::protobuf::Value& value,
                                               absl::string_view field) {
  if (!AllNumbersFinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not representable as JSON (NaN or Infinity)"));
  }
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(value, &text).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not representable as JSON"));
  }
  if (text.empty()) return nlohmann::json();
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(field, ": not valid JSON"));
  return parsed;
}

absl::StatusOr<google::protobuf::Value> NlohmannToValue(const nlohmann::json& json,
                                                        absl::string_view field) {
  std::string text;
  try {
    text = json.dump();
  } catch (const nlohmann::json::exception&) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": not valid UTF-8"));
  }
  return ParseJsonValue(text, field);
}

nlohmann::json ProtoToNlohmann(const google::protobuf::Message& message, JsonStyle style) {
  style.pretty = false;
  nlohmann::json parsed = nlohmann::json::parse(ProtoToJson(message, style), nullptr, false);
  return parsed.is_discarded() ? nlohmann::json() : parsed;
}

}  // namespace tasker
