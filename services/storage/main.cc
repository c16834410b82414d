// storage-service: the only process that talks to the database.
//
//   storage-service --database_url=sqlite:///var/lib/tasker/tasks.db --listen=0.0.0.0:50051
//   TASKER_DATABASE_URL=postgres://tasker:pw@db:5432/tasker storage-service
//   storage-service --migrate_only ...   (apply the schema migrations, exit; deploy/kubernetes's Job)
#include <cstdlib>

#include "absl/flags/flag.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"
#include "services/common/service_main.h"
#include "services/storage/retention.h"
#include "services/storage/storage_service.h"
#include "storage/open_store.h"

ABSL_FLAG(std::string, database_url, "",
          "sqlite:///abs/path.db or postgres://user@host:port/db (default: env "
          "TASKER_DATABASE_URL, else sqlite:///var/lib/tasker/tasks.db). Prefer the "
          "environment for URLs holding a password.");

ABSL_FLAG(int, max_queued, 100000, "Requests waiting for a transaction thread; beyond, RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, threads, 32,
          "Threads running store transactions; concurrent writes on them share one commit (SQLite).");

ABSL_FLAG(absl::Duration, finished_run_retention, absl::ZeroDuration(),
          "Delete runs that finished (completed, failed, cancelled) longer ago than this, with their stack "
          "runs, journal, checkpoints and logs; 0 (the default) keeps them forever.");
ABSL_FLAG(absl::Duration, retention_sweep_interval, absl::Minutes(1),
          "How often the --finished_run_retention sweep runs.");

ABSL_FLAG(int, max_claim_attempts, 10,
          "Fail a run or call (ATTEMPTS_EXHAUSTED) claimed this many times without its holder making progress "
          "(a poison pill: every holder dies or cannot load, parse or perform it); 0 = no limit.");

ABSL_FLAG(bool, migrate_only, false,
          "Apply the database's schema migrations, then exit (0) without serving. Serving applies them too; "
          "running this first (the Kubernetes migrations Job) lets a rollout wait for the schema instead of "
          "every replica racing to migrate.");

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
        const int max_claim_attempts = absl::GetFlag(FLAGS_max_claim_attempts);
        if (max_claim_attempts < 0) return absl::InvalidArgumentError("--max_claim_attempts: must be >= 0");
        tasker::storage::StoreOptions options;
        options.max_claim_attempts = max_claim_attempts;
        // Opening the store applies the migrations it does not find (one migrator at a time).
        ASSIGN_OR_RETURN(auto store, tasker::storage::OpenStore(url, options));
        const char* backend = url.rfind("sqlite", 0) == 0 ? "sqlite" : "postgres";
        if (absl::GetFlag(FLAGS_migrate_only)) {
          tasker::LogInfo("schema migrated; exiting (--migrate_only)", {{"backend", backend}});
          ctx.FinishWithoutServing(0);
          return absl::OkStatus();
        }
        tasker::LogInfo("database open", {{"backend", backend}});
        const absl::Duration retention = absl::GetFlag(FLAGS_finished_run_retention);
        const absl::Duration sweep = absl::GetFlag(FLAGS_retention_sweep_interval);
        if (retention < absl::ZeroDuration()) {
          return absl::InvalidArgumentError("--finished_run_retention: must not be negative");
        }
        if (sweep < absl::Milliseconds(10)) {
          return absl::InvalidArgumentError("--retention_sweep_interval: must be at least 10ms");
        }
        auto* owned = ctx.Own(std::move(store));
        // Readiness: the database answers a one-row read (a run id that
        // does not exist: NOT_FOUND is an answer). Postgres down, SQLite's
        // file unreadable: NOT_SERVING until it answers again.
        ctx.DependsOn("database", [owned]() -> absl::Status {
          tasker::v1::GetTaskRunRequest probe;
          probe.set_id("health-check-probe");
          auto run = owned->GetTaskRun(probe);
          if (run.ok() || absl::IsNotFound(run.status())) return absl::OkStatus();
          return run.status();
        });
        if (retention > absl::ZeroDuration()) {
          ctx.Own(std::make_unique<tasker::storage::RetentionSweeper>(
              owned, tasker::storage::RetentionConfig{.retention = retention, .interval = sweep}));
          tasker::LogInfo("retention of finished runs", {{"keep", absl::FormatDuration(retention)}});
        }
        using tasker::Role;
        // Runs, calls and code: executors and processors. Keystore rows
        // (ciphertext): the keystore only.
        const std::string name = tasker::v1::Storage::service_full_name();
        ctx.AddService(ctx.Own(std::make_unique<tasker::storage::StorageService>(
                           owned, threads, static_cast<size_t>(std::max(1, absl::GetFlag(FLAGS_max_queued))))),
                       name, {Role::kExecutor, Role::kProcessor});
        for (const char* method : {"PutKeystoreEntry", "GetKeystoreEntry", "DeleteKeystoreEntry",
                                   "ListKeystoreEntries"}) {
          ctx.RestrictMethod(name, method, {Role::kKeystore});
        }
        return absl::OkStatus();
      });
}
