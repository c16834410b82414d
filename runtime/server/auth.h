// Bearer-token authentication for Tasker servers, enforced by gRPC core
// before any handler runs (an AuthMetadataProcessor on insecure transport).
#ifndef TASKER_RUNTIME_SERVER_AUTH_H_
#define TASKER_RUNTIME_SERVER_AUTH_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/security/server_credentials.h"

namespace tasker {

// Plain-text transport credentials. With a non-empty `token`, every call
// except /grpc.health.v1.Health/* must carry "authorization: Bearer <token>";
// others fail with UNAUTHENTICATED before reaching the service.
std::shared_ptr<grpc::ServerCredentials> TokenServerCredentials(
    std::string token);

// Constant-time comparison of the presented header against "Bearer <token>".
bool BearerTokenMatches(absl::string_view header, absl::string_view token);

}  // namespace tasker

#endif  // TASKER_RUNTIME_SERVER_AUTH_H_
