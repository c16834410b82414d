#include "runtime/js/worker_protocol.h"

#include <errno.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace tasker::js {

v1::Limits LimitsToProto(const Limits& l) {
  v1::Limits p;
  p.set_step_cpu_ms(absl::ToInt64Milliseconds(l.step_cpu));
  p.set_max_calls_per_suspension(l.max_calls_per_suspension);
  p.set_max_continuation_bytes(l.max_continuation_bytes);
  p.set_max_result_bytes(l.max_result_bytes);
  p.set_max_log_bytes(l.max_log_bytes);
  p.set_max_log_lines(l.max_log_lines);
  return p;
}

Limits LimitsFromProto(const v1::Limits& p) {
  Limits l;
  if (p.step_cpu_ms() > 0) l.step_cpu = absl::Milliseconds(p.step_cpu_ms());
  if (p.max_calls_per_suspension() > 0) l.max_calls_per_suspension = p.max_calls_per_suspension();
  if (p.max_continuation_bytes() > 0) l.max_continuation_bytes = p.max_continuation_bytes();
  if (p.max_result_bytes() > 0) l.max_result_bytes = p.max_result_bytes();
  if (p.max_log_bytes() > 0) l.max_log_bytes = p.max_log_bytes();
  if (p.max_log_lines() > 0) l.max_log_lines = p.max_log_lines();
  return l;
}

CallResult CallResultFromProto(const v1::CallResult& p) {
  CallResult r;
  r.call_id = p.call_id();
  r.ok = p.ok();
  r.result_json = p.result_json().empty() ? "null" : p.result_json();
  r.error_message = p.error_message();
  r.error_code = p.error_code();
  r.error_details_json = p.error_details_json();
  return r;
}

v1::CallResult CallResultToProto(const CallResult& r) {
  v1::CallResult p;
  p.set_call_id(r.call_id);
  p.set_ok(r.ok);
  p.set_result_json(r.result_json);
  p.set_error_message(r.error_message);
  p.set_error_code(r.error_code);
  p.set_error_details_json(r.error_details_json);
  return p;
}

v1::StepResponse OutcomeToProto(const absl::StatusOr<Outcome>& outcome) {
  v1::StepResponse p;
  if (!outcome.ok()) {
    p.set_status_code(static_cast<int>(outcome.status().code()));
    p.set_status_message(std::string(outcome.status().message()));
    return p;
  }
  const Outcome& o = *outcome;
  p.set_kind(static_cast<int>(o.kind));
  p.set_failure(static_cast<int>(o.failure));
  p.set_result_json(o.result_json);
  p.set_error_name(o.error_name);
  p.set_error_message(o.error_message);
  p.set_error_stack(o.error_stack);
  p.set_continuation(o.continuation);
  for (const auto& c : o.calls) {
    auto* call = p.add_calls();
    call->set_call_id(c.call_id);
    call->set_service(c.service);
    call->set_method(c.method);
    call->set_args_json(c.args_json);
  }
  for (const auto& l : o.logs) {
    auto* log = p.add_logs();
    log->set_time_ms(l.time_ms);
    log->set_level(l.level);
    log->set_message(l.message);
  }
  p.set_logs_truncated(o.logs_truncated);
  p.set_restore_ms(o.stats.restore_ms);
  p.set_run_ms(o.stats.run_ms);
  p.set_snapshot_ms(o.stats.snapshot_ms);
  p.set_raw_bytes(o.stats.raw_bytes);
  p.set_stored_bytes(o.stats.stored_bytes);
  return p;
}

absl::StatusOr<Outcome> OutcomeFromProto(const v1::StepResponse& p) {
  if (p.status_code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(p.status_code()), p.status_message());
  }
  Outcome o;
  o.kind = static_cast<Outcome::Kind>(p.kind());
  o.failure = static_cast<FailureKind>(p.failure());
  o.result_json = p.result_json();
  o.error_name = p.error_name();
  o.error_message = p.error_message();
  o.error_stack = p.error_stack();
  o.continuation = p.continuation();
  for (const auto& c : p.calls()) o.calls.push_back({c.call_id(), c.service(), c.method(), c.args_json()});
  for (const auto& l : p.logs()) o.logs.push_back({l.time_ms(), l.level(), l.message()});
  o.logs_truncated = p.logs_truncated();
  o.stats.restore_ms = p.restore_ms();
  o.stats.run_ms = p.run_ms();
  o.stats.snapshot_ms = p.snapshot_ms();
  o.stats.raw_bytes = p.raw_bytes();
  o.stats.stored_bytes = p.stored_bytes();
  return o;
}

namespace {
absl::Status WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError("worker pipe closed");
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}
absl::Status ReadAll(int fd, char* data, size_t size) {
  while (size > 0) {
    ssize_t n = read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError("worker pipe closed");
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}
constexpr uint32_t kMaxFrame = 512u << 20;
}  // namespace

absl::Status WriteFrame(int fd, const google::protobuf::Message& message) {
  std::string bytes;
  message.SerializeToString(&bytes);
  const uint32_t size = static_cast<uint32_t>(bytes.size());
  char header[4] = {static_cast<char>(size & 0xff), static_cast<char>((size >> 8) & 0xff),
                    static_cast<char>((size >> 16) & 0xff), static_cast<char>(size >> 24)};
  absl::Status status = WriteAll(fd, header, 4);
  if (!status.ok()) return status;
  return WriteAll(fd, bytes.data(), bytes.size());
}

absl::Status ReadFrame(int fd, google::protobuf::Message* message) {
  unsigned char header[4];
  absl::Status status = ReadAll(fd, reinterpret_cast<char*>(header), 4);
  if (!status.ok()) return status;
  const uint32_t size = uint32_t{header[0]} | uint32_t{header[1]} << 8 | uint32_t{header[2]} << 16 |
                        uint32_t{header[3]} << 24;
  if (size > kMaxFrame) return absl::DataLossError("worker frame too large");
  std::string bytes(size, '\0');
  status = ReadAll(fd, bytes.data(), size);
  if (!status.ok()) return status;
  if (!message->ParseFromString(bytes)) return absl::DataLossError("malformed worker frame");
  return absl::OkStatus();
}

}  // namespace tasker::js
