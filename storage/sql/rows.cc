#include <openssl/rand.h>
#include <openssl/sha.h>

#include <regex>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/common/status.h"
#include "storage/sql/sql_store_internal.h"

namespace tasker::storage {

google::protobuf::Timestamp Ts(int64_t micros) {
  return TimeUtil::MicrosecondsToTimestamp(micros);
}

// Parses a stored JSON value; NULL/empty -> unset.
void ParsePayloadInto(const Row& row, size_t i, std::string* out) {
  if (row.IsNull(i)) {
    out->clear();
  } else {
    *out = row.Str(i);
  }
}

std::string ErrorToJson(const v1::ErrorInfo& error) {
  std::string out = absl::StrCat("{\"message\":", JsonQuote(error.message()));
  if (!error.stack().empty()) absl::StrAppend(&out, ",\"stack\":", JsonQuote(error.stack()));
  if (!error.code().empty()) absl::StrAppend(&out, ",\"code\":", JsonQuote(error.code()));
  if (error.retryable()) absl::StrAppend(&out, ",\"retryable\":true");
  if (!error.details_json().empty()) absl::StrAppend(&out, ",\"details\":", error.details_json());
  out += "}";
  return out;
}

absl::Status ValidError(const v1::ErrorInfo& error, absl::string_view field, int64_t max_bytes) {
  return ValidPayload(error.details_json(), absl::StrCat(field, ".details_json"), max_bytes);
}

absl::Status ParseErrorInto(const Row& row, size_t i, v1::ErrorInfo* out) {
  if (row.IsNull(i)) return absl::OkStatus();
  const std::string text = row.Str(i);
  auto members = JsonObjectMembers(text, "error");
  if (!members.ok()) {
    return absl::DataLossError(absl::StrCat("stored error is not valid JSON (", members.status().message(), ")"));
  }
  for (const JsonMember& m : *members) {
    const JsonType type = TypeOfJson(m.raw);
    if (m.key == "message" && type == JsonType::kString) {
      out->set_message(JsonStringValue(m.raw));
    } else if (m.key == "stack" && type == JsonType::kString) {
      out->set_stack(JsonStringValue(m.raw));
    } else if (m.key == "code" && type == JsonType::kString) {
      out->set_code(JsonStringValue(m.raw));
    } else if (m.key == "retryable" && type == JsonType::kBool) {
      out->set_retryable(m.raw == "true");
    } else if (m.key == "details" && type != JsonType::kNull) {
      out->set_details_json(std::string(m.raw));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::StackRunRecord> ParseStackRun(const Row& r) {
  v1::StackRunRecord s;
  s.set_id(r.Str(0));
  s.set_task_run_id(r.Str(1));
  s.set_parent_id(r.Str(2));
  s.set_kind(static_cast<v1::StackRunKind>(r.Int(3)));
  s.set_status(static_cast<v1::StackRunStatus>(r.Int(4)));
  s.set_service(r.Str(5));
  s.set_method(r.Str(6));
  ParsePayloadInto(r, 7, s.mutable_args_json());
  s.set_call_index(static_cast<int32_t>(r.Int(8)));
  s.set_call_id(r.Str(9));
  ParsePayloadInto(r, 10, s.mutable_result_json());
  RETURN_IF_ERROR(ParseErrorInto(r, 11, s.mutable_error()));
  if (r.IsNull(11)) s.clear_error();
  s.set_attempt(static_cast<int32_t>(r.Int(12)));
  *s.mutable_next_attempt_at() = Ts(r.Int(13));
  s.set_lease_owner(r.Str(14));
  if (!r.IsNull(15)) *s.mutable_lease_expires_at() = Ts(r.Int(15));
  s.set_fencing_token(r.Int(16));
  s.set_waiting(static_cast<int32_t>(r.Int(17)));
  s.set_suspension(static_cast<int32_t>(r.Int(18)));
  *s.mutable_created_at() = Ts(r.Int(19));
  *s.mutable_updated_at() = Ts(r.Int(20));
  if (!r.IsNull(21)) *s.mutable_completed_at() = Ts(r.Int(21));
  s.set_step(static_cast<int32_t>(r.Int(22)));
  s.set_reply_to(r.Str(23));
  if (!r.IsNull(24)) s.set_number(r.Int(24));
  return s;
}

absl::StatusOr<v1::TaskRunRecord> ParseTaskRun(const Row& r) {
  v1::TaskRunRecord t;
  t.set_id(r.Str(0));
  t.set_task_identifier(r.Str(1));
  t.set_task_version(r.Int(2));
  t.set_status(static_cast<v1::RunStatus>(r.Int(3)));
  ParsePayloadInto(r, 4, t.mutable_input_json());
  ParsePayloadInto(r, 5, t.mutable_result_json());
  RETURN_IF_ERROR(ParseErrorInto(r, 6, t.mutable_error()));
  if (r.IsNull(6)) t.clear_error();
  t.set_idempotency_key(r.Str(7));
  t.set_root_stack_run_id(r.Str(8));
  t.set_suspend_count(static_cast<int32_t>(r.Int(9)));
  *t.mutable_created_at() = Ts(r.Int(10));
  *t.mutable_updated_at() = Ts(r.Int(11));
  if (!r.IsNull(12)) *t.mutable_suspended_at() = Ts(r.Int(12));
  if (!r.IsNull(13)) *t.mutable_completed_at() = Ts(r.Int(13));
  if (!r.IsNull(14)) t.set_number(r.Int(14));
  return t;
}

absl::StatusOr<v1::TaskFunction> ParseFunction(const Row& r, bool with_code) {
  v1::TaskFunction f;
  f.set_identifier(r.Str(0));
  f.set_version(r.Int(1));
  if (with_code) f.set_code(r.Str(2));
  ParsePayloadInto(r, 3, f.mutable_metadata_json());
  if (f.metadata_json() == "{}") f.clear_metadata_json();
  f.set_code_sha256(r.Str(4));
  *f.mutable_created_at() = Ts(r.Int(5));
  for (absl::string_view p : absl::StrSplit(r.Str(6), '\n', absl::SkipEmpty())) f.add_permissions(std::string(p));
  return f;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string NewId(absl::string_view prefix) {
  unsigned char bytes[12];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // RAND_bytes failing means the process cannot be trusted to make ids.
    std::abort();
  }
  return absl::StrCat(prefix, absl::BytesToHexString(absl::string_view(
                                  reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

bool ValidName(const std::string& s, size_t max) {
  static const std::regex kName("^[A-Za-z0-9_.-]+$");
  return !s.empty() && s.size() <= max && std::regex_match(s, kName);
}

absl::Status RequireId(const std::string& value, absl::string_view field) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  if (value.size() > 128) return absl::InvalidArgumentError(absl::StrCat(field, ": too long"));
  return absl::OkStatus();
}

absl::Status RequireOwner(const std::string& owner) {
  if (owner.empty() || owner.size() > 256) {
    return absl::InvalidArgumentError("owner: must be 1..256 characters");
  }
  return absl::OkStatus();
}

int PageLimit(const v1::PageRequest& page, absl::Status* status) {
  if (page.limit() < 0 || page.limit() > kMaxPageSize) {
    *status = absl::InvalidArgumentError("page.limit: must be within 0..1000");
    return 0;
  }
  return page.limit() == 0 ? kDefaultPageSize : page.limit();
}

// Page tokens: base64 of "<int>\x1f<string>" keyset positions.
std::string EncodeToken(int64_t number, const std::string& text) {
  return absl::WebSafeBase64Escape(absl::StrCat(number, "\x1f", text));
}

absl::Status DecodeToken(const std::string& token, int64_t* number, std::string* text) {
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, '\x1f');
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], number)) {
    return absl::InvalidArgumentError("page.page_token: malformed");
  }
  *text = parts[1];
  return absl::OkStatus();
}

bool IsTerminalRun(v1::RunStatus s) {
  return s == v1::RUN_STATUS_COMPLETED || s == v1::RUN_STATUS_FAILED ||
         s == v1::RUN_STATUS_CANCELLED;
}

absl::Status ValidateJournalSteps(const google::protobuf::RepeatedPtrField<v1::JournalStep>& steps) {
  for (int i = 0; i < steps.size(); ++i) {
    const v1::JournalStep& step = steps[i];
    if (step.seq() < 0) {
      return absl::InvalidArgumentError(absl::StrCat("steps[", i, "].seq: must be >= 0"));
    }
    if (i > 0 && step.seq() != steps[i - 1].seq() + 1) {
      return absl::InvalidArgumentError(absl::StrCat("steps[", i, "].seq: ", step.seq(),
                                                     " does not follow steps[", i - 1, "].seq ",
                                                     steps[i - 1].seq()));
    }
    if (step.trigger_call_id().size() > 128) {
      return absl::InvalidArgumentError(
          absl::StrCat("steps[", i, "].trigger_call_id: at most 128 characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status RequireLeaseMs(int64_t lease_ms, absl::string_view field) {
  if (lease_ms < 100 || lease_ms > 3600000) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be within 100..3600000"));
  }
  return absl::OkStatus();
}

std::string StatusList(const std::vector<int>& statuses) {
  return absl::StrJoin(statuses, ",");
}

const std::string& TerminalStackStatuses() {
  static const std::string s = StatusList(
      {v1::STACK_RUN_STATUS_COMPLETED, v1::STACK_RUN_STATUS_FAILED, v1::STACK_RUN_STATUS_CANCELLED});
  return s;
}

}  // namespace tasker::storage
