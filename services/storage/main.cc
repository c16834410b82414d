// storage-service: the only process that talks to the database.
//
//   storage-service --database_url=sqlite:///var/lib/tasker/tasks.db --listen=0.0.0.0:50051
//   TASKER_DATABASE_URL=postgres://tasker:pw@db:5432/tasker storage-service
#include <cstdlib>

#include "absl/flags/flag.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"
#include "services/common/service_main.h"
#include "services/storage/storage_service.h"
#include "storage/open_store.h"

ABSL_FLAG(std::string, database_url, "",
          "sqlite:///abs/path.db or postgres://user@host:port/db (default: env "
          "TASKER_DATABASE_URL, else sqlite:///var/lib/tasker/tasks.db). Prefer the "
          "environment for URLs holding a password.");

ABSL_FLAG(int, max_queued, 100000, "Requests waiting for a transaction thread; beyond, RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, threads, 32,
          "Threads running store transactions; concurrent writes on them share one commit (SQLite).");

int main(int argc, char** argv) {
  return tasker::services::ServiceMain(
      argc, argv, "storage", [](tasker::services::ServiceContext& ctx) -> absl::Status {
        const int threads = absl::GetFlag(FLAGS_threads);
        if (threads < 1 || threads > 1024) return absl::InvalidArgumentError("--threads: must be 1..1024");
        std::string url = absl::GetFlag(FLAGS_database_url);
        if (url.empty()) {
          const char* env = std::getenv("TASKER_DATABASE_URL");
          url = env ? env : "sqlite:///var/lib/tasker/tasks.db";
        }
        ASSIGN_OR_RETURN(auto store, tasker::storage::OpenStore(url));
        tasker::LogInfo("database open", {{"backend", url.rfind("sqlite", 0) == 0 ? "sqlite" : "postgres"}});
        auto* owned = ctx.Own(std::move(store));
        ctx.AddService(ctx.Own(std::make_unique<tasker::storage::StorageService>(
            owned, threads, static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_max_queued))))));
        return absl::OkStatus();
      });
}
