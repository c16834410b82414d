#include "runtime/common/status.h"

#include <string>

#include "absl/strings/ascii.h"
#include <optional>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace tasker {
namespace {

// The payload holding a status's google.rpc.Status details.
constexpr char kDetailsUrl[] = "type.googleapis.com/google.rpc.Status";

// "args.table", "calls[0].id", "metadata_json.permissions[2]": what the
// convention "field: description" puts before the colon.
bool LooksLikeField(absl::string_view text) {
  if (text.empty() || text.size() > 200 || !(absl::ascii_isalpha(text[0]) || text[0] == '_')) return false;
  for (char c : text) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '[' || c == ']')) return false;
  }
  return true;
}

// The field an INVALID_ARGUMENT message names, and what it says about it.
std::pair<std::string, std::string> FieldOf(absl::string_view message) {
  const size_t colon = message.find(": ");
  if (colon == absl::string_view::npos || !LooksLikeField(message.substr(0, colon))) return {"", std::string(message)};
  return {std::string(message.substr(0, colon)), std::string(message.substr(colon + 2))};
}

std::string CodeName(absl::StatusCode code) {
  return absl::AsciiStrToUpper(absl::StatusCodeToString(code));
}

std::string DerivedReason(const absl::Status& status) {
  const absl::string_view m = status.message();
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return FieldOf(m).first.empty() ? "INVALID_ARGUMENT" : "INVALID_FIELD";
    case absl::StatusCode::kNotFound:
      if (absl::StrContains(m, "stack run")) return "STACK_RUN_NOT_FOUND";
      if (absl::StrContains(m, "task run") || absl::StartsWith(m, "run ")) return "RUN_NOT_FOUND";
      if (absl::StrContains(m, "task function") || absl::StartsWith(m, "task '")) return "TASK_NOT_FOUND";
      if (absl::StartsWith(m, "key '") || absl::StartsWith(m, "secret ")) return "KEY_NOT_FOUND";
      return "NOT_FOUND";
    case absl::StatusCode::kAlreadyExists:
      return absl::StrContains(m, "idempotency_key") ? "IDEMPOTENCY_KEY_REUSED" : "ALREADY_EXISTS";
    case absl::StatusCode::kAborted:
      return absl::StrContains(m, "fencing_token") ? "LEASE_LOST" : "ABORTED";
    default:
      return CodeName(status.code());
  }
}

// The status's own details, if it has any.
bool OwnDetails(const absl::Status& status, google::rpc::Status* details) {
  auto payload = status.GetPayload(kDetailsUrl);
  return payload.has_value() && details->ParseFromString(std::string(*payload));
}

// Finds (or adds) the detail of type T in `details`.
template <typename T>
bool FindDetail(const google::rpc::Status& details, T* out) {
  for (const auto& any : details.details()) {
    if (any.Is<T>()) return any.UnpackTo(out);
  }
  return false;
}

google::rpc::Status DetailsOf(const absl::Status& status) {
  google::rpc::Status details;
  OwnDetails(status, &details);
  details.set_code(static_cast<int>(status.code()));
  details.set_message(std::string(status.message()));
  auto [field, description] = FieldOf(status.message());
  google::rpc::ErrorInfo info;
  if (!FindDetail(details, &info)) {
    info.set_reason(DerivedReason(status));
    info.set_domain(kErrorDomain);
    if (!field.empty()) (*info.mutable_metadata())["field"] = field;
    if (status.code() == absl::StatusCode::kAlreadyExists && info.reason() == "IDEMPOTENCY_KEY_REUSED") {
      (*info.mutable_metadata())["field"] = "idempotency_key";
    }
    details.add_details()->PackFrom(info);
  }
  google::rpc::BadRequest bad_request;
  if (status.code() == absl::StatusCode::kInvalidArgument && !FindDetail(details, &bad_request)) {
    auto* violation = bad_request.add_field_violations();
    violation->set_field(field);
    violation->set_description(description);
    details.add_details()->PackFrom(bad_request);
  }
  return details;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      DetailsOf(status).SerializeAsString());
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  absl::Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  // Only details that say more than the code and message do are kept, so
  // that a status passed through a service compares equal to the original.
  if (!status.error_details().empty() && status.error_details() != DetailsOf(out).SerializeAsString()) {
    out.SetPayload(kDetailsUrl, absl::Cord(status.error_details()));
  }
  return out;
}

absl::Status WithErrorReason(absl::Status status, absl::string_view reason,
                             std::initializer_list<std::pair<absl::string_view, absl::string_view>> metadata) {
  if (status.ok()) return status;
  google::rpc::Status details;
  OwnDetails(status, &details);
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(kErrorDomain);
  for (const auto& [key, value] : metadata) (*info.mutable_metadata())[std::string(key)] = std::string(value);
  // Replaces an ErrorInfo the status had.
  google::rpc::Status kept;
  for (const auto& any : details.details()) {
    if (!any.Is<google::rpc::ErrorInfo>()) *kept.add_details() = any;
  }
  kept.add_details()->PackFrom(info);
  status.SetPayload(kDetailsUrl, absl::Cord(kept.SerializeAsString()));
  return status;
}

std::string ErrorReasonOf(const absl::Status& status) {
  if (status.ok()) return "";
  google::rpc::ErrorInfo info;
  FindDetail(DetailsOf(status), &info);
  return info.reason();
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(context, ": ", status.message()));
  status.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace tasker
