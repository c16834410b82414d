// The one place that converts between protobuf messages and JSON text (and
// nlohmann::json). Every service, the CLI and the tests use these.
#ifndef TASKER_RUNTIME_COMMON_JSON_H_
#define TASKER_RUNTIME_COMMON_JSON_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "nlohmann/json.hpp"

namespace tasker {

struct JsonStyle {
  bool pretty = false;             // indented, for people
  bool proto_field_names = false;  // snake_case names instead of lowerCamelCase
};

// The canonical JSON mapping of `message`. A google.protobuf.Value that is
// unset prints as "null".
std::string ProtoToJson(const google::protobuf::Message& message, JsonStyle style = {});

// The same, for people and HTTP clients: every `*_json` string field (a JSON
// payload, see common.proto) appears under its name without the suffix as
// the JSON value itself (`"input": {"b":1}`), spliced in byte for byte.
std::string ProtoToJsonWithPayloads(const google::protobuf::Message& message, JsonStyle style = {});

// Any message as nlohmann::json (lowerCamelCase names unless asked).
nlohmann::json ProtoToNlohmann(const google::protobuf::Message& message, JsonStyle style = {});

}  // namespace tasker

#endif  // TASKER_RUNTIME_COMMON_JSON_H_
