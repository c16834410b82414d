// Client side of Tasker's gRPC: channels from a target string with the
// bearer token attached to every call, and contexts with deadlines.
//
//   ClientConfig config{.target = "127.0.0.1:50051", .auth_token = token};
//   ASSIGN_OR_RETURN(auto channel, MakeChannel(config));
//   auto stub = tasker::v1::Storage::NewStub(channel);
//   auto ctx = MakeContext(absl::Seconds(5));
#ifndef TASKER_RUNTIME_CLIENT_CHANNEL_H_
#define TASKER_RUNTIME_CLIENT_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace tasker {

// TLS toward a server (PEM contents, not paths). Enabled by a CA.
struct ClientTls {
  // Verifies the server's certificate.
  std::string ca;
  // Presented when the server asks (mutual TLS); both or neither.
  std::string cert_chain;
  std::string private_key;
  // Expected name in the server's certificate when it differs from the
  // target's host (e.g. dialing an IP).
  std::string server_name;
  bool enabled() const { return !ca.empty(); }
};

struct ClientConfig {
  // "host:port", "dns:///host:port", "ipv4:127.0.0.1:5000", "unix:/path".
  std::string target;
  // Sent as "authorization: Bearer <token>" on every call when non-empty.
  std::string auth_token;
  ClientTls tls;
  int max_message_bytes = 128 * 1024 * 1024;
};

// Errors: INVALID_ARGUMENT for an empty or malformed target.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ClientConfig& config);

// A context whose deadline is `timeout` from now, carrying the calling
// thread's log context (runtime/common/log.h) as gRPC metadata: the W3C
// `traceparent` header, when it has a trace.
std::unique_ptr<grpc::ClientContext> MakeContext(absl::Duration timeout);

// The same, for calls that should wait out a peer's restart: the call waits
// (until its deadline) for the channel to connect instead of failing at once
// with UNAVAILABLE while the peer is down or the channel is backing off
// (gRPC's wait_for_ready). A call in flight when the peer dies still fails.
std::unique_ptr<grpc::ClientContext> MakeWaitingContext(absl::Duration timeout);

// Whether a failed call may succeed when tried again (the peer was down,
// restarting or slow): UNAVAILABLE, DEADLINE_EXCEEDED.
bool Transient(const absl::Status& status);

// Waits until the channel is connected or the timeout passes.
bool WaitForReady(const std::shared_ptr<grpc::Channel>& channel,
                  absl::Duration timeout);

}  // namespace tasker


namespace tasker {

enum class HealthStatus { kUnknown = 0, kServing = 1, kNotServing = 2 };

// Calls grpc.health.v1.Health/Check for `service` ("" = the whole server).
absl::StatusOr<HealthStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& service,
                                         absl::Duration timeout);

}  // namespace tasker

#endif  // TASKER_RUNTIME_CLIENT_CHANNEL_H_
