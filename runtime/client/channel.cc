#include "runtime/client/channel.h"

#include <chrono>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/support/client_interceptor.h"
#include "runtime/common/log.h"
#include "runtime/common/trace.h"

namespace tasker {
namespace {

// Adds the authorization header to every outgoing call.
class BearerInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *header_});
    }
    methods->Proceed();
  }

 private:
  const std::string* header_;
};

class BearerInterceptorFactory
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerInterceptorFactory(const std::string& token)
      : header_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new BearerInterceptor(&header_);
  }

 private:
  std::string header_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(
    const ClientConfig& config) {
  if (config.target.empty()) {
    return absl::InvalidArgumentError("target: must not be empty");
  }
  if (!absl::StrContains(config.target, ':')) {
    return absl::InvalidArgumentError(
        "target: expected host:port or a gRPC URI, got '" + config.target + "'");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(config.max_message_bytes);
  args.SetMaxSendMessageSize(config.max_message_bytes);
  // Reconnect quickly after a peer restarts (crash recovery paths).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (config.tls.enabled()) {
    if (config.tls.cert_chain.empty() != config.tls.private_key.empty()) {
      return absl::InvalidArgumentError("tls: a client certificate needs its key, and a key its certificate");
    }
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = config.tls.ca;
    options.pem_cert_chain = config.tls.cert_chain;
    options.pem_private_key = config.tls.private_key;
    credentials = grpc::SslCredentials(options);
    if (!config.tls.server_name.empty()) args.SetSslTargetNameOverride(config.tls.server_name);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  if (config.auth_token.empty()) {
    return grpc::CreateCustomChannel(config.target, credentials, args);
  }
  // The channel owns the factory, and each interceptor reads its header.
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(std::make_unique<BearerInterceptorFactory>(config.auth_token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      config.target, credentials, args, std::move(interceptors));
}

std::unique_ptr<grpc::ClientContext> MakeContext(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
  // The calling thread's run and trace travel with the call: the server's
  // log lines and its own calls carry them (docs/observability.md).
  const LogContext& log_context = CurrentLogContext();
  if (!log_context.traceparent.empty()) {
    context->AddMetadata(kTraceParentHeader, log_context.traceparent);
  } else if (!log_context.trace_id.empty()) {
    context->AddMetadata(kTraceParentHeader, FormatTraceParent(log_context.trace_id, NewSpanId()));
  }
  return context;
}

std::unique_ptr<grpc::ClientContext> MakeWaitingContext(absl::Duration timeout) {
  auto context = MakeContext(timeout);
  context->set_wait_for_ready(true);
  return context;
}

bool Transient(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable || status.code() == absl::StatusCode::kDeadlineExceeded;
}

bool WaitForReady(const std::shared_ptr<grpc::Channel>& channel,
                  absl::Duration timeout) {
  return channel->WaitForConnected(
      std::chrono::system_clock::now() +
      std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
}

}  // namespace tasker

#include <future>

#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "runtime/common/status.h"

namespace tasker {

absl::StatusOr<HealthStatus> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                         const std::string& service,
                                         absl::Duration timeout) {
  if (service.size() > 127) return absl::InvalidArgumentError("service: too long");
  // HealthCheckRequest { string service = 1; } encoded by hand: the health
  // proto's generated code is not part of the system libraries.
  std::string request_bytes;
  if (!service.empty()) {
    request_bytes.push_back(0x0a);
    request_bytes.push_back(static_cast<char>(service.size()));
    request_bytes += service;
  }
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::GenericStub stub(channel);
  auto context = MakeContext(timeout);
  std::promise<grpc::Status> done;
  stub.UnaryCall(context.get(), "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                 &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  grpc::Status status = done.get_future().get();
  if (!status.ok()) return FromGrpcStatus(status);
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("bad health response");
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse { ServingStatus status = 1; }: 0x08 <varint>.
  if (bytes.empty()) return HealthStatus::kUnknown;
  if (bytes.size() != 2 || bytes[0] != 0x08) {
    return absl::InternalError("unexpected health response encoding");
  }
  return static_cast<HealthStatus>(bytes[1]);
}

}  // namespace tasker
