#include "runtime/js/worker_protocol.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

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

v1::Step StepToProto(const Outcome& o) {
  v1::Step p;
  p.set_kind(static_cast<int>(o.kind));
  p.set_failure(static_cast<int>(o.failure));
  p.set_result_json(o.result_json);
  p.set_error_name(o.error_name);
  p.set_error_message(o.error_message);
  p.set_error_stack(o.error_stack);
  for (const auto& c : o.calls) {
    auto* call = p.add_calls();
    call->set_call_id(c.call_id);
    call->set_service(c.service);
    call->set_method(c.method);
    call->set_args_json(c.args_json);
    call->set_index(c.index);
  }
  for (const auto& l : o.logs) {
    auto* log = p.add_logs();
    log->set_time_ms(l.time_ms);
    log->set_level(l.level);
    log->set_message(l.message);
  }
  p.set_logs_truncated(o.logs_truncated);
  p.set_run_ms(o.stats.run_ms);
  p.set_heap_bytes(static_cast<int64_t>(o.stats.heap_bytes));
  return p;
}

Outcome StepFromProto(const v1::Step& p) {
  Outcome o;
  o.kind = static_cast<Outcome::Kind>(p.kind());
  o.failure = static_cast<FailureKind>(p.failure());
  o.result_json = p.result_json();
  o.error_name = p.error_name();
  o.error_message = p.error_message();
  o.error_stack = p.error_stack();
  for (const auto& c : p.calls()) {
    o.calls.push_back({c.call_id(), c.service(), c.method(), c.args_json(), c.index()});
  }
  for (const auto& l : p.logs()) o.logs.push_back({l.time_ms(), l.level(), l.message()});
  o.logs_truncated = p.logs_truncated();
  o.stats.run_ms = p.run_ms();
  o.stats.heap_bytes = static_cast<size_t>(p.heap_bytes());
  return o;
}

JournalStep JournalStepFromProto(const v1::JournalStep& p) {
  return {p.seq(), p.trigger_call_id(), p.clock_ms(), p.random_seed()};
}

v1::JournalStep JournalStepToProto(const JournalStep& s) {
  v1::JournalStep p;
  p.set_seq(s.seq);
  p.set_trigger_call_id(s.trigger_call_id);
  p.set_clock_ms(s.clock_ms);
  p.set_random_seed(s.random_seed);
  return p;
}

JournalCall JournalCallFromProto(const v1::JournalCall& p) {
  JournalCall c;
  c.index = p.index();
  c.step = p.step();
  c.call_id = p.call_id();
  c.service = p.service();
  c.method = p.method();
  c.args_json = p.args_json();
  c.done = p.done();
  c.result = CallResultFromProto(p.result());
  c.result.call_id = c.call_id;
  return c;
}

v1::JournalCall JournalCallToProto(const JournalCall& c) {
  v1::JournalCall p;
  p.set_index(c.index);
  p.set_step(c.step);
  p.set_call_id(c.call_id);
  p.set_service(c.service);
  p.set_method(c.method);
  p.set_args_json(c.args_json);
  p.set_done(c.done);
  *p.mutable_result() = CallResultToProto(c.result);
  return p;
}

namespace {
absl::Status WriteAll(int fd, const char* data, size_t size, absl::Time deadline) {
  while (size > 0) {
    if (deadline != absl::InfiniteFuture()) {
      // Wait until the pipe has room, at most until the deadline.
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("the worker read nothing in time");
      pollfd p{fd, POLLOUT, 0};
      const int ready = poll(&p, 1, static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000)));
      if (ready < 0 && errno != EINTR) return absl::UnavailableError("worker pipe closed");
      if (ready <= 0) continue;  // EINTR or not yet: look at the deadline again
      if (p.revents & (POLLERR | POLLNVAL)) return absl::UnavailableError("worker pipe closed");
    }
    // A pipe with room takes at least PIPE_BUF bytes without blocking.
    const size_t chunk = deadline == absl::InfiniteFuture() ? size : std::min<size_t>(size, PIPE_BUF);
    ssize_t n = write(fd, data, chunk);
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

absl::Status WriteFrame(int fd, const google::protobuf::Message& message, absl::Time deadline) {
  std::string bytes;
  message.SerializeToString(&bytes);
  const uint32_t size = static_cast<uint32_t>(bytes.size());
  char header[4] = {static_cast<char>(size & 0xff), static_cast<char>((size >> 8) & 0xff),
                    static_cast<char>((size >> 16) & 0xff), static_cast<char>(size >> 24)};
  absl::Status status = WriteAll(fd, header, 4, deadline);
  if (!status.ok()) return status;
  return WriteAll(fd, bytes.data(), bytes.size(), deadline);
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
