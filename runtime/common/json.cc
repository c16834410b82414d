#include "runtime/common/json.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace tasker {

std::string ProtoToJson(const google::protobuf::Message& message, JsonStyle style) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = style.pretty;
  options.preserve_proto_field_names = style.proto_field_names;
  std::string out;
  // Printing a valid message cannot fail, but for a Value holding a
  // non-finite number, which JSON cannot carry: that prints as null.
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

nlohmann::json ValueToNlohmann(const google::protobuf::Value& value) {
  nlohmann::json parsed = nlohmann::json::parse(ProtoToJson(value), nullptr, false);
  return parsed.is_discarded() ? nlohmann::json() : parsed;
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
