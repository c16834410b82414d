#include "runtime/common/json.h"


#include <memory>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/match.h"
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

namespace {

// Replaces every non-empty `*_json` string field of `message` (recursively)
// with a placeholder, remembering the payload it stood for.
void TakePayloads(google::protobuf::Message* message, const std::string& nonce,
                  std::vector<std::pair<std::string, std::string>>* taken) {
  const auto* reflection = message->GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_map()) continue;
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(*message, field); ++i) {
          TakePayloads(reflection->MutableRepeatedMessage(message, field, i), nonce, taken);
        }
      } else {
        TakePayloads(reflection->MutableMessage(message, field), nonce, taken);
      }
    } else if (field->type() == google::protobuf::FieldDescriptor::TYPE_STRING && !field->is_repeated() &&
               absl::EndsWith(field->name(), "_json")) {
      std::string placeholder = absl::StrCat("tasker-payload-", nonce, "-", taken->size());
      taken->emplace_back(placeholder, reflection->GetString(*message, field));
      reflection->SetString(message, field, placeholder);
    }
  }
}

}  // namespace

std::string ProtoToJsonWithPayloads(const google::protobuf::Message& message, JsonStyle style) {
  std::unique_ptr<google::protobuf::Message> copy(message.New());
  copy->CopyFrom(message);
  const std::string nonce = absl::StrCat(absl::Hex(absl::Uniform<uint64_t>(absl::BitGen())));
  std::vector<std::pair<std::string, std::string>> taken;
  TakePayloads(copy.get(), nonce, &taken);
  std::string text = ProtoToJson(*copy, style);
  for (const auto& [placeholder, payload] : taken) {
    const std::string quoted = absl::StrCat("\"", placeholder, "\"");
    const size_t at = text.find(quoted);
    if (at == std::string::npos) continue;
    // The key before it: "inputJson" (or "input_json") loses its suffix.
    size_t key_end = at;
    while (key_end > 0 && (text[key_end - 1] == ' ' || text[key_end - 1] == ':')) --key_end;
    const absl::string_view suffix = style.proto_field_names ? "_json\"" : "Json\"";
    const bool renamed = absl::string_view(text).substr(0, key_end).size() >= suffix.size() &&
                         absl::EndsWith(absl::string_view(text).substr(0, key_end), suffix);
    text.replace(at, quoted.size(), payload);
    if (renamed) text.erase(key_end - suffix.size(), suffix.size() - 1);
  }
  return text;
}

nlohmann::json ProtoToNlohmann(const google::protobuf::Message& message, JsonStyle style) {
  style.pretty = false;
  nlohmann::json parsed = nlohmann::json::parse(ProtoToJson(message, style), nullptr, false);
  return parsed.is_discarded() ? nlohmann::json() : parsed;
}

}  // namespace tasker
