// `tasker dev`: the development server. One command runs the whole platform
// on this machine, every service its own process as tools/run-example starts
// them (storage on SQLite, keystore, wrapped-service proxy, stack processor,
// task-executor with the HTTP API and the web UI), publishes every task of a
// folder and republishes a task within a second of its file changing.
//
//   tasker dev [--port=3000] [--host=127.0.0.1] [--tasks=./tasks] [--verbose]
//
// What it reads (docs/dev-server.md has the whole table): PORT,
// SQLITE_DB_PATH (default ./.tasker/tasker.db), TASKER_DATABASE_URL
// (Postgres instead), TASKER_APP_DATABASE_URL, TASKER_BIN_DIR (where the
// service binaries are; default: the Bazel output this binary came from).
// State lives in ./.tasker/ (the database, the keystore's development master
// key, the services' logs in .tasker/logs/).
//
// Children are stopped with SIGTERM, then SIGKILL after --grace, on Ctrl-C or
// SIGTERM; each dies with tasker dev even when it is killed
// (PR_SET_PDEATHSIG). A service that fails to start or dies stops the rest:
// the exit code is 1 and the message names it.
#ifndef TASKER_SERVICES_CLI_DEV_H_
#define TASKER_SERVICES_CLI_DEV_H_

namespace tasker::cli {

// Runs until Ctrl-C/SIGTERM or a service dies; returns the exit code.
// `argv0` locates the service binaries next to this one.
int RunDev(const char* argv0);

}  // namespace tasker::cli

#endif  // TASKER_SERVICES_CLI_DEV_H_
