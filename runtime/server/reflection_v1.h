// grpc.reflection.v1.ServerReflection, which gRPC 1.51's C++ library lacks
// (it serves only grpc.reflection.v1alpha, through
// grpc::reflection::InitProtoReflectionServerBuilderPlugin).
//
// Current clients (grpcurl, buf curl --reflect-protocol grpc-v1, Postman)
// ask v1 first. The v1 messages are wire-identical to v1alpha's; this is the
// same protocol answered the way gRPC's v1alpha service answers it, from the
// same descriptors (the generated pool), so both protocols give the same
// bytes for the same request (runtime/server/server_test.cc checks it).
// gRPC's v1alpha implementation cannot be reused directly: libgrpc++-dev
// installs neither its class nor its message headers, and compiling the
// v1alpha proto here would define its messages a second time in the pool.
#ifndef TASKER_RUNTIME_SERVER_REFLECTION_V1_H_
#define TASKER_RUNTIME_SERVER_REFLECTION_V1_H_

#include <string>
#include <vector>

#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace tasker {

class ReflectionV1Service final : public grpc::reflection::v1::ServerReflection::Service {
 public:
  // `services`: the full names list_services answers (every service the
  // server serves, health and reflection included).
  explicit ReflectionV1Service(std::vector<std::string> services) : services_(std::move(services)) {}

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<grpc::reflection::v1::ServerReflectionResponse,
                               grpc::reflection::v1::ServerReflectionRequest>* stream) override;

  // One answer (exposed for tests).
  grpc::reflection::v1::ServerReflectionResponse Answer(
      const grpc::reflection::v1::ServerReflectionRequest& request) const;

 private:
  std::vector<std::string> services_;
};

// The full name of the v1 service ("grpc.reflection.v1.ServerReflection").
inline constexpr char kReflectionV1Service[] = "grpc.reflection.v1.ServerReflection";
inline constexpr char kReflectionV1AlphaService[] = "grpc.reflection.v1alpha.ServerReflection";
inline constexpr char kHealthService[] = "grpc.health.v1.Health";

}  // namespace tasker

#endif  // TASKER_RUNTIME_SERVER_REFLECTION_V1_H_
