// Pieces the HTTP gateway's route files share: request bodies read as JSON
// members (raw text kept), JSON answers built around raw payload text, the
// two error shapes.
#ifndef TASKER_SERVICES_EXECUTOR_HTTP_BODY_H_
#define TASKER_SERVICES_EXECUTOR_HTTP_BODY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "runtime/common/json_text.h"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace tasker::services {

// A request body: a JSON object's members, their values as raw text (so an
// input keeps its key order and number formatting), parsed iteratively with
// the documented depth limit.
class Body {
 public:
  static absl::StatusOr<Body> Parse(absl::string_view text);

  // The raw JSON of member `name` (the last one, as JSON.parse keeps), or
  // nullptr when absent.
  const absl::string_view* Raw(absl::string_view name) const;
  // Member `name` as a string: `fallback` when absent or null;
  // INVALID_ARGUMENT naming it when it is another type.
  absl::StatusOr<std::string> String(absl::string_view name, std::string fallback = "") const;
  // The first of `names` present (aliases: "task_identifier", "name", ...).
  absl::StatusOr<std::string> FirstString(std::initializer_list<absl::string_view> names) const;

  static constexpr size_t kMaxBodyBytes = kMaxPayloadBytes + (size_t{1} << 20);

 private:
  std::vector<JsonMember> members_;
};

// A JSON object written in order, with members that are raw JSON text
// (payloads, exactly as stored) beside ordinary values.
class JsonWriter {
 public:
  JsonWriter& Raw(absl::string_view key, absl::string_view raw_json);
  JsonWriter& String(absl::string_view key, absl::string_view value);
  JsonWriter& Int(absl::string_view key, int64_t value);
  JsonWriter& Bool(absl::string_view key, bool value);
  JsonWriter& Null(absl::string_view key);
  std::string Done() const { return absl::StrCat("{", text_, "}"); }

 private:
  void Key(absl::string_view key);
  std::string text_;
};

// {"error":{"code":"INVALID_ARGUMENT","message":...}} with the HTTP status
// matching the code: the current API's shape.
void SendError(httplib::Response& res, const absl::Status& status);
// {"success":false,"error":"<message>","code":"NOT_FOUND"}: the shape the
// earlier JavaScript platform's routes answered errors in.
void SendOldError(httplib::Response& res, const absl::Status& status);
void SendJson(httplib::Response& res, std::string json, int status = 200);

// HTTP status for an absl status code.
int HttpStatusFor(absl::StatusCode code);

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_HTTP_BODY_H_
