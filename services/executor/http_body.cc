#include "services/executor/http_body.h"

#include <httplib.h>

namespace tasker::services {

absl::StatusOr<Body> Body::Parse(absl::string_view text) {
  Body body;
  if (text.find_first_not_of(" \t\r\n") == absl::string_view::npos) return body;
  auto members = JsonObjectMembers(text, "body", kMaxJsonDepth, kMaxBodyBytes);
  if (!members.ok()) return members.status();
  body.members_ = std::move(*members);
  return body;
}

const absl::string_view* Body::Raw(absl::string_view name) const {
  for (auto it = members_.rbegin(); it != members_.rend(); ++it) {
    if (it->key == name) return &it->raw;
  }
  return nullptr;
}

absl::StatusOr<std::string> Body::String(absl::string_view name, std::string fallback) const {
  const absl::string_view* raw = Raw(name);
  if (raw == nullptr || TypeOfJson(*raw) == JsonType::kNull) return fallback;
  if (TypeOfJson(*raw) != JsonType::kString) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": must be a string, got ", JsonTypeName(TypeOfJson(*raw))));
  }
  return JsonStringValue(*raw);
}

absl::StatusOr<std::string> Body::FirstString(std::initializer_list<absl::string_view> names) const {
  for (absl::string_view name : names) {
    auto value = String(name);
    if (!value.ok() || !value->empty()) return value;
  }
  return std::string();
}

void JsonWriter::Key(absl::string_view key) {
  if (!text_.empty()) text_.push_back(',');
  absl::StrAppend(&text_, JsonQuote(key), ":");
}
JsonWriter& JsonWriter::Raw(absl::string_view key, absl::string_view raw_json) {
  Key(key);
  absl::StrAppend(&text_, raw_json.empty() ? absl::string_view("null") : raw_json);
  return *this;
}
JsonWriter& JsonWriter::String(absl::string_view key, absl::string_view value) {
  Key(key);
  absl::StrAppend(&text_, JsonQuote(value));
  return *this;
}
JsonWriter& JsonWriter::Int(absl::string_view key, int64_t value) {
  Key(key);
  absl::StrAppend(&text_, value);
  return *this;
}
JsonWriter& JsonWriter::Bool(absl::string_view key, bool value) {
  Key(key);
  absl::StrAppend(&text_, value ? "true" : "false");
  return *this;
}
JsonWriter& JsonWriter::Null(absl::string_view key) {
  Key(key);
  absl::StrAppend(&text_, "null");
  return *this;
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kFailedPrecondition: return 412;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

void SendJson(httplib::Response& res, std::string json, int status) {
  res.status = status;
  res.set_content(std::move(json), "application/json");
}

void SendError(httplib::Response& res, const absl::Status& status) {
  SendJson(res,
           absl::StrCat("{\"error\":",
                        JsonWriter()
                            .String("code", absl::StatusCodeToString(status.code()))
                            .String("message", status.message())
                            .Done(),
                        "}"),
           HttpStatusFor(status.code()));
}

void SendOldError(httplib::Response& res, const absl::Status& status) {
  SendJson(res,
           JsonWriter()
               .Bool("success", false)
               .String("error", status.message())
               .String("code", absl::StatusCodeToString(status.code()))
               .Done(),
           HttpStatusFor(status.code()));
}

}  // namespace tasker::services
