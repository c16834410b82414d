// storage-service: the only process that talks to the database.
//
//   storage-service --database_url=sqlite:///var/lib/tasker/tasks.db --listen=0.0.0.0:50051
//   TASKER_DATABASE_URL=postgres://tasker:pw@db:5432/tasker storage-service
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "runtime/common/log.h"
#include "runtime/server/server_flags.h"
#include "storage/service/storage_service.h"
#include "storage/sql_store.h"

ABSL_FLAG(std::string, database_url, "",
          "sqlite:///abs/path.db or postgres://user@host:port/db (default: env "
          "TASKER_DATABASE_URL, else sqlite:///var/lib/tasker/tasks.db). Prefer the "
          "environment for URLs holding a password.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto config = tasker::ServerConfigFromFlags("storage");
  if (!config.ok()) {
    tasker::LogError("bad flags", {{"error", config.status().ToString()}});
    return 2;
  }
  std::string url = absl::GetFlag(FLAGS_database_url);
  if (url.empty()) {
    const char* env = std::getenv("TASKER_DATABASE_URL");
    url = env ? env : "sqlite:///var/lib/tasker/tasks.db";
  }
  auto store = tasker::storage::OpenStore(url);
  if (!store.ok()) {
    tasker::LogError("cannot open database", {{"error", store.status().ToString()}});
    return 1;
  }
  tasker::LogInfo("database open",
                  {{"backend", url.rfind("sqlite", 0) == 0 ? "sqlite" : "postgres"}});
  tasker::storage::StorageService service(store->get());
  tasker::ServerRunner runner(*config);
  runner.AddService(&service);
  if (auto status = runner.Serve(); !status.ok()) {
    tasker::LogError("start failed", {{"error", status.ToString()}});
    return 1;
  }
  return 0;
}
