// The tasker CLI's version. The git commit is stamped at build time
// (build_info.h, generated from Bazel's workspace status: see BUILD.bazel);
// "unknown" when the build was not stamped.
#ifndef TASKER_SERVICES_CLI_VERSION_H_
#define TASKER_SERVICES_CLI_VERSION_H_

namespace tasker::cli {

inline constexpr char kVersion[] = "0.15.0";

// The git commit of the build, or "unknown".
const char* GitCommit();

}  // namespace tasker::cli

#endif  // TASKER_SERVICES_CLI_VERSION_H_
