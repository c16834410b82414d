// Test binary: the shared server runner hosting the Echo service.
#include <thread>

#include "absl/flags/parse.h"
#include "runtime/common/log.h"
#include "runtime/server/server_flags.h"
#include "runtime/server/testing/echo.grpc.pb.h"

namespace {

class EchoService final : public tasker::testing::v1::Echo::Service {
  grpc::Status Echo(grpc::ServerContext*, const tasker::testing::v1::EchoRequest* request,
                    tasker::testing::v1::EchoResponse* response) override {
    if (request->delay_ms() < 0 || request->delay_ms() > 60000) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "delay_ms: must be within 0..60000");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(request->delay_ms()));
    response->set_message(request->message());
    return grpc::Status::OK;
  }
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto config = tasker::ServerConfigFromFlags("echo");
  if (!config.ok()) {
    tasker::LogError("bad flags", {{"error", config.status().ToString()}});
    return 2;
  }
  EchoService service;
  tasker::ServerRunner runner(*config);
  runner.AddService(&service, tasker::testing::v1::Echo::service_full_name(), {tasker::Role::kClient});
  if (auto status = runner.Serve(); !status.ok()) {
    tasker::LogError("start failed", {{"error", status.ToString()}});
    return 1;
  }
  return 0;
}
