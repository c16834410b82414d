// The tasker CLI's RPC layer: every call the CLI makes to TaskService and the
// Keystore goes through here, so a change of the proto contract (request
// fields, paging, resource names) is adapted in this one file (and
// client.cc). Errors are absl::Status carrying the gRPC code.
#ifndef TASKER_SERVICES_CLI_CLIENT_H_
#define TASKER_SERVICES_CLI_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "tasker/v1/common.pb.h"
#include "tasker/v1/keystore.grpc.pb.h"
#include "tasker/v1/task_service.grpc.pb.h"
#include "runtime/client/channel.h"

namespace tasker::cli {

struct Connection {
  std::string address;
  std::string keystore_address;
  std::string token;
  ClientTls tls;
  // Deadline of every unary call (never of a watch stream).
  absl::Duration timeout = absl::Seconds(30);
};

struct RunQuery {
  std::vector<tasker::v1::RunStatus> statuses;  // any of these; empty: all
  std::string task;
  absl::Time created_after = absl::InfinitePast();
};

struct RunPage {
  std::vector<tasker::v1::TaskRun> runs;
  std::string next_page_token;
};

struct FunctionPage {
  std::vector<tasker::v1::TaskFunction> functions;
  std::string next_page_token;
};

struct Published {
  tasker::v1::TaskFunction function;  // without its code
  std::vector<std::string> warnings;  // the server's "tasker-warning" trailers
};

// One WatchRun stream. Read blocks; Cancel (from any thread) ends it.
class RunStream {
 public:
  virtual ~RunStream() = default;
  // False when the stream ended: then Finish() says why.
  virtual bool Read(tasker::v1::RunEvent* event) = 0;
  virtual absl::Status Finish() = 0;
  virtual void Cancel() = 0;
};

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const Connection& connection);

  const Connection& connection() const { return connection_; }

  absl::StatusOr<Published> Publish(const std::string& task, const std::string& code,
                                    const std::string& metadata_json);
  absl::StatusOr<tasker::v1::SubmitRunResponse> Submit(const std::string& task, int64_t version,
                                                       const std::string& input_json,
                                                       const std::string& idempotency_key);
  // `run`: an id or a run number. wait_for_ready: waits (until the timeout)
  // for a server that is down or restarting instead of failing at once.
  absl::StatusOr<tasker::v1::GetRunResponse> GetRun(const std::string& run, bool wait_for_ready = false);
  absl::StatusOr<RunPage> ListRuns(const RunQuery& query, int page_size, const std::string& page_token);
  absl::StatusOr<tasker::v1::TaskRun> CancelRun(const std::string& run, const std::string& reason);
  // No deadline: the stream lasts as long as the run.
  std::unique_ptr<RunStream> WatchRun(const std::string& run);
  // Empty task: the latest version of every function; else every version of it.
  absl::StatusOr<FunctionPage> ListFunctions(const std::string& task, int page_size, const std::string& page_token);

  absl::StatusOr<tasker::v1::SetKeyResponse> SetKey(const std::string& ns, const std::string& key,
                                                    const std::string& value);
  absl::StatusOr<tasker::v1::GetKeyResponse> GetKey(const std::string& ns, const std::string& key);
  absl::StatusOr<bool> DeleteKey(const std::string& ns, const std::string& key);
  absl::StatusOr<std::vector<std::string>> ListKeys(const std::string& ns);
  absl::StatusOr<std::vector<tasker::v1::NamespacePolicy>> ListNamespaces();

 private:
  Client(Connection connection, std::shared_ptr<grpc::Channel> channel)
      : connection_(std::move(connection)), channel_(std::move(channel)) {}
  absl::StatusOr<tasker::v1::Keystore::Stub*> keystore();

  Connection connection_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tasker::v1::TaskService::Stub> tasks_;
  std::unique_ptr<tasker::v1::Keystore::Stub> keystore_;
};

}  // namespace tasker::cli

#endif  // TASKER_SERVICES_CLI_CLIENT_H_
