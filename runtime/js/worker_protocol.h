// Conversions between the engine's types and the worker protocol, and the
// framing used on the worker's pipes.
#ifndef TASKER_RUNTIME_JS_WORKER_PROTOCOL_H_
#define TASKER_RUNTIME_JS_WORKER_PROTOCOL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/js/engine.h"
#include "runtime/js/replay.h"
#include "runtime/js/worker.pb.h"

namespace tasker::js {

v1::Limits LimitsToProto(const Limits& limits);
Limits LimitsFromProto(const v1::Limits& proto);
v1::Step StepToProto(const Outcome& outcome);
Outcome StepFromProto(const v1::Step& proto);
CallResult CallResultFromProto(const v1::CallResult& proto);
v1::CallResult CallResultToProto(const CallResult& result);
JournalStep JournalStepFromProto(const v1::JournalStep& proto);
v1::JournalStep JournalStepToProto(const JournalStep& step);
JournalCall JournalCallFromProto(const v1::JournalCall& proto);
v1::JournalCall JournalCallToProto(const JournalCall& call);

// Blocking framed I/O on a file descriptor (EINTR is retried). ReadFrame
// returns UNAVAILABLE on EOF (the peer exited). WriteFrame with a deadline
// gives up with DEADLINE_EXCEEDED when the peer reads none of it in time (a
// hung peer whose pipe is full would otherwise block the writer forever).
absl::Status WriteFrame(int fd, const google::protobuf::Message& message,
                        absl::Time deadline = absl::InfiniteFuture());
absl::Status ReadFrame(int fd, google::protobuf::Message* message);

}  // namespace tasker::js

#endif  // TASKER_RUNTIME_JS_WORKER_PROTOCOL_H_
