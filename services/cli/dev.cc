#include "services/cli/dev.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/sha.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "tasker/v1/keystore.grpc.pb.h"
#include "tasker/v1/task_service.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/status.h"
#include "services/cli/jsdoc.h"

ABSL_FLAG(int, port, -1, "dev: port of the HTTP API and web UI (default: env PORT, else 3000; 0: any free port).");
ABSL_FLAG(std::string, host, "127.0.0.1", "dev: address the HTTP API and web UI listen on.");
ABSL_FLAG(std::string, tasks, "",
          "dev: the tasks folder, NAME.js or NAME/index.js being task NAME (default ./tasks, or "
          "$TASKS_DIRECTORY/endpoints as the old platform's publish script read it).");
ABSL_FLAG(bool, verbose, false,
          "dev: stream every service's log lines, not only warnings and errors (also: env DEBUG set).");
ABSL_FLAG(int, grpc_port, 50052,
          "dev: port of the executor's gRPC API (TaskService; the CLI's default --target); any free port when taken.");
ABSL_FLAG(std::string, services_config, "",
          "dev: HTTP services for tasks, declared without C++ (the proxy's --services_config; services/README.md). "
          "Default: $TASKER_SERVICES_CONFIG, else services.json in the tasks folder when present.");
ABSL_FLAG(absl::Duration, grace, absl::Seconds(10), "dev: how long services get to stop after SIGTERM before SIGKILL.");

namespace tasker::cli {
namespace {

namespace v1 = ::tasker::v1;
using Json = nlohmann::json;

constexpr char kStateDir[] = ".tasker";
// How long a file must be quiet before its task is republished: an editor's
// save is several events (truncate, write, rename) within a few ms.
constexpr absl::Duration kDebounce = absl::Milliseconds(100);
constexpr absl::Duration kStartTimeout = absl::Seconds(60);

struct Binary {
  const char* service;
  const char* path;  // under the bin dir
  const char* target;
};
const Binary kBinaries[] = {
    {"storage", "services/storage/storage-service", "//services/storage:storage-service"},
    {"keystore", "services/keystore/keystore", "//services/keystore"},
    {"proxy", "services/proxy/wrapped-service-proxy", "//services/proxy:wrapped-service-proxy"},
    {"processor", "services/processor/stack-processor", "//services/processor:stack-processor"},
    {"executor", "services/executor/task-executor", "//services/executor:task-executor"},
    {"js-worker", "runtime/js/tasker-js-worker", "//runtime/js:tasker-js-worker"},
};

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "" : value;
}

bool IsExecutable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

std::string Dirname(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  std::string p = path;
  while (absl::StartsWith(p, "./")) p = p.substr(2);
  return absl::StrCat(cwd, "/", p);
}

// The service binaries' root: TASKER_BIN_DIR, else the Bazel output this
// binary lives in (bazel-bin/services/cli/tasker -> bazel-bin, through the
// symlink or its target), else its runfiles. The error names what is
// missing where.
absl::StatusOr<std::string> FindBinDir(const char* argv0) {
  std::vector<std::string> candidates;
  const std::string from_env = Env("TASKER_BIN_DIR");
  if (!from_env.empty()) {
    candidates.push_back(from_env);
  } else {
    const std::string self = argv0;
    if (self.find('/') != std::string::npos) {
      candidates.push_back(Dirname(Dirname(Dirname(self))));
      candidates.push_back(self + ".runfiles/tasker");
    }
    char exe[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
      const std::string real(exe, n);
      candidates.push_back(Dirname(Dirname(Dirname(real))));
      candidates.push_back(real + ".runfiles/tasker");
    }
  }
  std::string missing_report;
  for (const std::string& dir : candidates) {
    std::vector<std::string> missing;
    for (const Binary& b : kBinaries) {
      if (!IsExecutable(absl::StrCat(dir, "/", b.path))) missing.push_back(b.path);
    }
    if (missing.empty()) return dir;
    if (missing_report.empty()) {
      missing_report = absl::StrCat("missing in ", dir, ": ", absl::StrJoin(missing, ", "));
    }
  }
  std::vector<std::string> targets;
  for (const Binary& b : kBinaries) targets.push_back(b.target);
  return absl::NotFoundError(absl::StrCat(
      "cannot find the service binaries (", missing_report.empty() ? "run tasker by its path" : missing_report,
      "). Build them: bazel build ", absl::StrJoin(targets, " "),
      " (tools/tasker dev does), or set TASKER_BIN_DIR to the folder holding services/ and runtime/"));
}

// A port the kernel says is free now (bound and released at once; the
// service binds it a few ms later).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Whether something listens on host:port now. The gateway binds with
// SO_REUSEPORT (httplib), which would share the port with another server of
// this user instead of failing: so ask by connecting. A refused connection
// means free (connections of an earlier run in TIME_WAIT do not count).
bool InUse(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (host.empty() || host == "0.0.0.0" || host == "localhost" ||
      inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool connected = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return connected;
}

// Whether host:port can be bound now with the options the server sets (an
// outgoing connection's local port in TIME_WAIT blocks it though nothing
// listens: ports in the ephemeral range, like 50052, can be).
bool CanBind(const std::string& host, int port, bool reuse_addr) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (host.empty() || host == "0.0.0.0") {
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (host == "localhost" || inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (reuse_addr) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

std::string ReadFile(const std::string& path, bool* exists = nullptr) {
  std::ifstream in(path, std::ios::binary);
  if (exists != nullptr) *exists = static_cast<bool>(in);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string hex;
  for (unsigned char c : digest) absl::StrAppendFormat(&hex, "%02x", c);
  return hex;
}

std::string HumanSize(size_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  if (bytes < 1024 * 1024) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  return absl::StrFormat("%.1f MiB", bytes / (1024.0 * 1024.0));
}

// postgres://user:secret@host/db -> postgres://user:***@host/db
std::string RedactUrl(const std::string& url) {
  static const std::regex password(R"(^([a-z]+://[^:/@]*:)[^@]*@)");
  return std::regex_replace(url, password, "$1***@");
}

// Everything tasker dev says goes to stdout, one line at a time (a test or
// a pipe sees lines as they happen).
void Say(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------
// The services as child processes.

struct Child {
  std::string name;
  pid_t pid = -1;
  int out = -1;  // read end of its stdout and stderr
  std::string partial;
  FILE* log = nullptr;
  std::string log_path;
  std::string port_file;
  // Its last lines not shown yet, for a failure's message (formatted).
  std::deque<std::string> tail;
  bool running = false;
  int wait_status = 0;
};

std::string DescribeExit(int status) {
  if (WIFEXITED(status)) return absl::StrCat("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return absl::StrCat("killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)), ")");
  return "stopped";
}

// One log line of a service, for people: "[storage] warning: msg (k=v, ...)".
// Lines are JSON objects (runtime/common/log.h); others are shown as they are.
std::optional<std::string> Displayed(const std::string& service, const std::string& line, bool verbose) {
  Json entry = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!entry.is_object() || !entry.contains("level")) {
    if (!verbose) return std::nullopt;
    return absl::StrCat("[", service, "] ", line);
  }
  const std::string level = entry.value("level", "");
  const bool important = level == "warning" || level == "error";
  if (!important && !verbose) return std::nullopt;
  const std::string msg = entry.value("msg", "");
  // Every service says it runs without credentials, and the executor that a
  // task declaring no permissions gets them all (tasker dev's default): said
  // once at the start instead.
  if (!verbose && (absl::StrContains(msg, "insecure") || absl::StrContains(msg, "declares no permissions"))) {
    return std::nullopt;
  }
  std::vector<std::string> fields;
  for (const auto& [key, value] : entry.items()) {
    if (key == "ts" || key == "level" || key == "service" || key == "msg") continue;
    fields.push_back(absl::StrCat(key, "=", value.is_string() ? value.get<std::string>() : value.dump()));
  }
  return absl::StrCat("[", service, "] ", level, ": ", msg, fields.empty() ? "" : " (", absl::StrJoin(fields, ", "),
                      fields.empty() ? "" : ")");
}

// ---------------------------------------------------------------------------
// The tasks folder.

bool ValidTaskName(absl::string_view name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// "x.js" -> "x" (a task file's name), else empty.
std::string TaskOfFile(absl::string_view file) {
  if (!absl::EndsWith(file, ".js")) return "";
  absl::string_view name = file.substr(0, file.size() - 3);
  return ValidTaskName(name) ? std::string(name) : "";
}

class TaskFolder {
 public:
  explicit TaskFolder(std::string dir) : dir_(std::move(dir)) {}
  ~TaskFolder() {
    if (fd_ >= 0) close(fd_);
  }

  const std::string& dir() const { return dir_; }
  int fd() const { return fd_; }

  absl::Status Watch() {
    fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) return absl::InternalError(absl::StrCat("inotify_init1: ", strerror(errno)));
    RETURN_IF_ERROR(Add(""));
    for (const std::string& name : Names()) {
      struct stat st;
      if (stat(absl::StrCat(dir_, "/", name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) (void)Add(name);
    }
    return absl::OkStatus();
  }

  // Every task the folder holds now.
  std::set<std::string> Names() const {
    std::set<std::string> names;
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir_.c_str()), closedir);
    if (!d) return names;
    while (dirent* e = readdir(d.get())) {
      const std::string file = e->d_name;
      if (file == "." || file == "..") continue;
      const std::string path = absl::StrCat(dir_, "/", file);
      struct stat st;
      if (stat(path.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        if (ValidTaskName(file) && IsFile(absl::StrCat(path, "/index.js"))) names.insert(file);
      } else if (std::string task = TaskOfFile(file); !task.empty()) {
        names.insert(task);
      }
    }
    return names;
  }

  // The file task `name` comes from now: NAME.js, else NAME/index.js; empty
  // when neither exists. `both` is set when both do (NAME.js wins).
  std::string SourceOf(const std::string& name, bool* both) const {
    const std::string file = absl::StrCat(dir_, "/", name, ".js");
    const std::string index = absl::StrCat(dir_, "/", name, "/index.js");
    const bool has_file = IsFile(file), has_index = IsFile(index);
    *both = has_file && has_index;
    if (has_file) return file;
    if (has_index) return index;
    return "";
  }

  // Tasks touched by the events read now; `rescan` when events were lost.
  std::set<std::string> ReadEvents(bool* rescan) {
    std::set<std::string> touched;
    alignas(inotify_event) char buffer[64 * 1024];
    while (true) {
      const ssize_t n = read(fd_, buffer, sizeof(buffer));
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(buffer + off);
        off += sizeof(inotify_event) + e->len;
        if (e->mask & IN_Q_OVERFLOW) {
          *rescan = true;
          continue;
        }
        auto where = watches_.find(e->wd);
        if (where == watches_.end()) continue;
        if (e->mask & IN_IGNORED) {
          watches_.erase(where);
          continue;
        }
        const std::string name = e->len > 0 ? std::string(e->name) : "";
        if (where->second.empty()) {  // the folder itself
          if (e->mask & IN_ISDIR) {
            if (!ValidTaskName(name)) continue;
            if (e->mask & (IN_CREATE | IN_MOVED_TO)) (void)Add(name);
            touched.insert(name);
          } else if (std::string task = TaskOfFile(name); !task.empty()) {
            touched.insert(task);
          }
        } else {  // a task's own folder: any change may be its index.js
          touched.insert(where->second);
        }
      }
    }
    return touched;
  }

 private:
  static bool IsFile(const std::string& path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }

  absl::Status Add(const std::string& sub) {
    const std::string path = sub.empty() ? dir_ : absl::StrCat(dir_, "/", sub);
    const int wd = inotify_add_watch(fd_, path.c_str(),
                                     IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                         IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_ONLYDIR);
    if (wd < 0) return absl::InternalError(absl::StrCat("cannot watch ", path, ": ", strerror(errno)));
    watches_[wd] = sub;
    return absl::OkStatus();
  }

  std::string dir_;
  int fd_ = -1;
  std::map<int, std::string> watches_;  // watch -> "" (the folder) or a task's folder
};

// The old platform's variables that mean nothing here, said once so that a
// migrated .env does not silently do nothing: its service clients (its
// services were Supabase edge functions reached over HTTP; here every service
// runs inside tasker dev) and its tuning (here: the services' flags).
void NoteOldVariables() {
  auto set = [](std::initializer_list<const char*> names) {
    std::vector<std::string> found;
    for (const char* name : names) {
      if (!Env(name).empty()) found.push_back(name);
    }
    return found;
  };
  const std::vector<std::string> clients =
      set({"SUPABASE_URL", "SUPABASE_SERVICE_KEY", "SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_ANON_KEY",
           "EXT_SUPABASE_URL", "EXT_SUPABASE_ANON_KEY", "EXT_SUPABASE_SERVICE_ROLE_KEY", "SERVICE_BASE_URL",
           "SERVICE_CLIENT_TYPE", "SERVICE_CLIENT_BASE_URL", "SERVICE_CLIENT_AUTH_TOKEN", "SUPABASE_DB_HOST",
           "SUPABASE_DB_PORT"});
  if (!clients.empty()) {
    Say(absl::StrCat("tasker dev: ignoring ", absl::StrJoin(clients, ", "),
                     " (the old platform's service clients: every service runs inside tasker dev)"));
  }
  const std::vector<std::string> tuning =
      set({"MAX_CONCURRENT_TASKS", "TASK_TIMEOUT", "TASK_RETRY_ATTEMPTS", "TASK_RETRY_DELAY", "HTTP_TIMEOUT",
           "HTTP_RETRIES", "HTTP_RETRY_DELAY", "GAPI_CUSTOMER_ID", "GAPI_MAX_USERS_PER_DOMAIN",
           "GAPI_MAX_RESULTS_PER_USER", "LOG_FORMAT", "LOG_CONSOLE"});
  if (!tuning.empty()) {
    Say(absl::StrCat("tasker dev: ignoring ", absl::StrJoin(tuning, ", "),
                     " (the old platform's tuning; docs/dev-server.md names what replaces each)"));
  }
}

// ---------------------------------------------------------------------------
// The development server.

class DevServer {
 public:
  DevServer(std::string bin_dir, bool verbose) : bin_(std::move(bin_dir)), verbose_(verbose) {}

  int Run();

 private:
  // Setup and life of the services.
  absl::Status Prepare();
  absl::Status Spawn(Child& child, const std::string& binary, std::vector<std::string> args);
  absl::StatusOr<int> StartService(const std::string& name, const std::string& binary,
                                   std::vector<std::string> args);
  void Pump(absl::Duration max_wait);
  void ReadOutput(Child& child);
  void Reap();
  void StopAll();
  std::string FailureOf(const Child& child, const std::string& what) const;
  Child* Died();

  // Tasks.
  absl::Status SyncExisting();
  void Publish(const std::string& name);
  void SeedKeystore(int keystore_port);

  std::string bin_;
  bool verbose_;
  std::string state_;  // absolute .tasker
  std::string logs_;
  std::vector<std::string> common_args_;  // every service's: --insecure_dev, --log_level
  int signal_fd_ = -1;
  bool stop_requested_ = false;
  bool force_ = false;
  std::deque<Child> children_;  // in start order (stopped in reverse)
  std::unique_ptr<TaskFolder> folder_;
  std::map<std::string, absl::Time> due_;  // task -> when to look at it again

  struct Known {
    int64_t version = 0;       // latest published version (0: none)
    std::string sha256;        // of its code
    std::string metadata_json;
    std::string attempted;     // sha256 + metadata of the last attempt, failed or not
    std::string source;        // the file it came from last
    bool deleted_reported = false;
    bool failed = false;       // the last attempt failed
  };
  std::map<std::string, Known> known_;
  std::unique_ptr<v1::TaskService::Stub> tasks_;
};

absl::Status DevServer::Prepare() {
  state_ = Absolute(kStateDir);
  logs_ = state_ + "/logs";
  for (const std::string& dir : {state_, logs_, state_ + "/run"}) {
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat("cannot create ", dir, ": ", strerror(errno)));
    }
  }
  // Ctrl-C, SIGTERM and a child's exit arrive on one descriptor, read by the
  // same loop that reads the services' output and the folder's changes.
  // Blocked before any thread exists (gRPC's inherit the mask).
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&mask, s);
  if (sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return absl::InternalError("sigprocmask failed");
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) return absl::InternalError(absl::StrCat("signalfd: ", strerror(errno)));
  signal(SIGPIPE, SIG_IGN);
  return absl::OkStatus();
}

absl::Status DevServer::Spawn(Child& child, const std::string& binary, std::vector<std::string> args) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  child.log_path = absl::StrCat(logs_, "/", child.name, ".log");
  child.log = std::fopen(child.log_path.c_str(), "we");  // close-on-exec: not the next child's
  if (child.log == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("cannot write ", child.log_path, ": ", strerror(errno)));
  }
  args.insert(args.begin(), binary);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    // Dies with tasker dev, however it ends (even SIGKILL): no orphans. The
    // forking thread is the main one, which lives as long as the process.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // tasker dev died before the prctl
    // Its own process group: Ctrl-C reaches tasker dev only, which stops the
    // services in order (the executor drains before storage goes away).
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    // Only async-signal-safe calls from here to exec (gRPC may have threads).
    const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    execv(argv[0], argv.data());
    static const char kCannot[] = "cannot execute ";
    (void)!write(2, kCannot, sizeof(kCannot) - 1);
    (void)!write(2, argv[0], strlen(argv[0]));
    (void)!write(2, "\n", 1);
    _exit(127);
  }
  close(pipe_fds[1]);
  fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  child.pid = pid;
  child.out = pipe_fds[0];
  child.running = true;
  return absl::OkStatus();
}

std::string DevServer::FailureOf(const Child& child, const std::string& what) const {
  std::string message = absl::StrCat(child.name, " ", what, " (", DescribeExit(child.wait_status), ")");
  absl::StrAppend(&message, "; its log: ", child.log_path);
  if (!child.tail.empty()) {
    absl::StrAppend(&message, ", ending with:");
    for (const std::string& line : child.tail) absl::StrAppend(&message, "\n  ", line);
  }
  return message;
}

absl::StatusOr<int> DevServer::StartService(const std::string& name, const std::string& binary,
                                            std::vector<std::string> args) {
  Child& child = children_.emplace_back();
  child.name = name;
  child.port_file = absl::StrCat(state_, "/run/", name, ".port");
  unlink(child.port_file.c_str());
  args.push_back("--port_file=" + child.port_file);
  args.insert(args.end(), common_args_.begin(), common_args_.end());
  RETURN_IF_ERROR(Spawn(child, binary, std::move(args)));
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (true) {
    std::string text = ReadFile(child.port_file);
    int port = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) && port > 0) return port;
    if (stop_requested_) return absl::CancelledError("interrupted");
    if (!child.running) return absl::UnavailableError(FailureOf(child, "failed to start"));
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(name, " did not start within ", absl::FormatDuration(kStartTimeout), "; see ", child.log_path));
    }
    Pump(absl::Milliseconds(20));
  }
}

void DevServer::ReadOutput(Child& child) {
  char buffer[16384];
  while (child.out >= 0) {
    const ssize_t n = read(child.out, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;  // EAGAIN: nothing more now
    if (n == 0) {
      close(child.out);
      child.out = -1;
      if (!child.partial.empty()) child.partial.push_back('\n');
    } else {
      child.partial.append(buffer, n);
    }
    size_t start = 0;
    for (size_t nl; (nl = child.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string line = child.partial.substr(start, nl - start);
      std::fwrite(line.data(), 1, line.size(), child.log);
      std::fputc('\n', child.log);
      if (auto shown = Displayed(child.name, line, verbose_)) {
        Say(*shown);
      } else {
        child.tail.push_back(Displayed(child.name, line, /*verbose=*/true).value_or(line));
        if (child.tail.size() > 10) child.tail.pop_front();
      }
    }
    child.partial.erase(0, start);
    std::fflush(child.log);
  }
}

void DevServer::Reap() {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (Child& child : children_) {
      if (child.pid != pid) continue;
      child.running = false;
      child.wait_status = status;
      ReadOutput(child);  // what it wrote last, before anything reports on it
    }
  }
}

void DevServer::Pump(absl::Duration max_wait) {
  std::vector<pollfd> fds;
  fds.push_back({signal_fd_, POLLIN, 0});
  if (folder_) fds.push_back({folder_->fd(), POLLIN, 0});
  std::vector<Child*> readers;
  for (Child& child : children_) {
    if (child.out < 0) continue;
    fds.push_back({child.out, POLLIN, 0});
    readers.push_back(&child);
  }
  const int timeout = static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(max_wait)));
  if (poll(fds.data(), fds.size(), timeout) < 0) return;  // EINTR: the caller loops
  if (fds[0].revents & POLLIN) {
    signalfd_siginfo info;
    while (read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
      if (info.ssi_signo == SIGCHLD) continue;  // reaped below
      if (stop_requested_) {
        force_ = true;  // a second Ctrl-C: no more waiting
      } else {
        stop_requested_ = true;
        Say(absl::StrCat("tasker dev: ", strsignal(info.ssi_signo), ", stopping (again to force)..."));
      }
    }
    Reap();
  }
  size_t next = 1;
  if (folder_) {
    if (fds[next].revents & POLLIN) {
      bool rescan = false;
      std::set<std::string> touched = folder_->ReadEvents(&rescan);
      if (rescan) {
        touched = folder_->Names();
        for (const auto& [name, known] : known_) touched.insert(name);
      }
      for (const std::string& name : touched) due_[name] = absl::Now() + kDebounce;
    }
    ++next;
  }
  for (size_t i = 0; i < readers.size(); ++i) {
    if (fds[next + i].revents & (POLLIN | POLLHUP | POLLERR)) ReadOutput(*readers[i]);
  }
  Reap();  // a SIGCHLD coalesced with a signal already read
}

Child* DevServer::Died() {
  for (Child& child : children_) {
    if (!child.running) return &child;
  }
  return nullptr;
}

void DevServer::StopAll() {
  // In reverse order of start: the executor checkpoints warm runs into
  // storage, so storage goes last.
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_grace);
  for (auto it = children_.rbegin(); it != children_.rend(); ++it) {
    Child& child = *it;
    if (!child.running) continue;
    kill(child.pid, SIGTERM);
    while (child.running && !force_ && absl::Now() < deadline) Pump(absl::Milliseconds(50));
  }
  for (Child& child : children_) {
    if (child.running) {
      Say(absl::StrCat("tasker dev: ", child.name, " did not stop in time; killing it"));
    }
    // The whole group: the executor's JavaScript workers too.
    if (child.pid > 0) kill(-child.pid, SIGKILL);
  }
  for (Child& child : children_) {
    if (child.running) {
      waitpid(child.pid, &child.wait_status, 0);
      child.running = false;
    }
    if (child.out >= 0) {
      ReadOutput(child);
      if (child.out >= 0) close(child.out);
      child.out = -1;
    }
    if (child.log != nullptr) std::fclose(child.log);
    child.log = nullptr;
  }
}

// ---------------------------------------------------------------------------
// Publishing.

absl::Status DevServer::SyncExisting() {
  v1::ListTaskFunctionsRequest request;
  request.set_omit_code(true);
  request.set_page_size(1000);
  while (true) {
    v1::ListTaskFunctionsResponse response;
    auto context = MakeWaitingContext(absl::Seconds(30));
    grpc::Status status = tasks_->ListTaskFunctions(context.get(), request, &response);
    if (!status.ok()) return Annotate(FromGrpcStatus(status), "listing the published tasks");
    for (const v1::TaskFunction& f : response.functions()) {
      Known& known = known_[f.identifier()];
      if (f.version() < known.version) continue;
      known.version = f.version();
      known.sha256 = absl::AsciiStrToLower(f.code_sha256());
      known.metadata_json = f.metadata_json();
      known.attempted = known.sha256 + known.metadata_json;
    }
    if (response.next_page_token().empty()) return absl::OkStatus();
    request.set_page_token(response.next_page_token());
  }
}

// Prints the line of `code` at `line` and a caret under `column` (1-based).
std::string Excerpt(const std::string& code, int line, int column) {
  std::vector<absl::string_view> lines = absl::StrSplit(code, '\n');
  if (line < 1 || line > static_cast<int>(lines.size())) return "";
  std::string text(lines[line - 1]);
  absl::StrReplaceAll({{"\t", " "}}, &text);
  if (text.size() > 160) return "";
  return absl::StrCat("    ", text, "\n    ", std::string(std::max(0, column - 1), ' '), "^");
}

void DevServer::Publish(const std::string& name) {
  Known& known = known_[name];
  bool both = false;
  const std::string path = folder_->SourceOf(name, &both);
  if (path.empty()) {
    if (!known.deleted_reported && (known.version > 0 || !known.source.empty())) {
      Say(known.version > 0 ? absl::StrCat(known.source.empty() ? name : known.source, " deleted: ", name, " v",
                                           known.version, " stays published")
                            : absl::StrCat(known.source, " deleted"));
      known.deleted_reported = true;
    }
    known.attempted.clear();  // a file put back is published again if it differs
    return;
  }
  known.deleted_reported = false;
  if (both && known.source != path) {
    Say(absl::StrCat("tasker dev: both ", name, ".js and ", name, "/index.js exist: ", name, " comes from ",
                     name, ".js"));
  }
  known.source = path;
  bool exists = false;
  const std::string code = ReadFile(path, &exists);
  if (!exists) return;  // gone between the check and the read: the next event says so
  if (code.find_first_not_of(" \t\r\n") == std::string::npos) return;  // an editor's truncate-then-write
  TaskDoc doc = ParseTaskDoc(code);
  const std::string metadata_json = doc.metadata.empty() ? "" : doc.metadata.dump();
  const std::string sha = Sha256Hex(code);
  const std::string attempt = sha + metadata_json;
  if (attempt == known.attempted) return;  // nothing changed that is published
  known.attempted = attempt;
  if (known.version > 0 && sha == known.sha256 && metadata_json == known.metadata_json) {
    // Back to what is live (an error undone): nothing to publish.
    if (known.failed) Say(absl::StrCat(path, ": back to ", name, " v", known.version, ", which stays live"));
    known.failed = false;
    return;
  }
  // Paths as the user gave the folder ("tasks/x.js"), for the editor's
  // file:line:column links.
  const std::string rel = path;
  v1::PublishTaskRequest request;
  request.set_identifier(name);
  request.set_code(code);
  request.set_metadata_json(metadata_json);
  v1::TaskFunction response;
  auto context = MakeWaitingContext(absl::Seconds(30));
  grpc::Status status = tasks_->PublishTask(context.get(), request, &response);
  const std::string live = known.version > 0 ? absl::StrCat(name, " v", known.version, " stays live")
                                             : absl::StrCat(name, " is not published");
  known.failed = !status.ok();
  if (!status.ok()) {
    static const std::regex location(R"(^code: line (\d+), column (\d+): ([\s\S]*)$)");
    std::smatch m;
    const std::string message = status.error_message();
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT && std::regex_match(message, m, location)) {
      const int line = std::stoi(m[1]), column = std::stoi(m[2]);
      std::string excerpt = Excerpt(code, line, column);
      Say(absl::StrCat(rel, ":", line, ":", column, ": ", m[3].str(), excerpt.empty() ? "" : "\n", excerpt, "\n  (",
                       live, ")"));
    } else {
      Say(absl::StrCat(rel, ": cannot publish ", name, ": ", FromGrpcStatus(status).ToString(), " (", live, ")"));
      // A transient failure (the executor restarting) is tried again on the next change.
      if (status.error_code() != grpc::StatusCode::INVALID_ARGUMENT) known.attempted.clear();
    }
    return;
  }
  known.version = response.version();
  known.sha256 = sha;
  known.metadata_json = metadata_json;
  Say(absl::StrCat("published ", name, " v", response.version(), " (", HumanSize(code.size()), ")"));
  for (const std::string& warning : doc.warnings) Say(absl::StrCat("  ", rel, ": ", warning));
}

// Credentials the providers read from the keystore (namespace "global"),
// taken from the environment when set there, so a task can call OpenAI,
// web search or Google on a development machine.
void DevServer::SeedKeystore(int keystore_port) {
  struct Seed {
    const char* key;
    const char* env;
    // The variable names a file holding the value (GAPI_KEY: either, its
    // JSON or a file's path).
    enum { kValue, kFile, kJsonOrFile } kind = kValue;
  };
  // The first one set of a key wins.
  const std::vector<Seed> seeds = {
      {"OPENAI_API_KEY", "OPENAI_API_KEY"},
      {"WEBSEARCH_API_KEY", "WEBSEARCH_API_KEY"},
      {"GAPI_ADMIN_EMAIL", "TASKER_GAPI_ADMIN_EMAIL"},
      {"GAPI_ADMIN_EMAIL", "GAPI_ADMIN_EMAIL"},
      {"GAPI_KEY", "TASKER_GAPI_KEY_FILE", Seed::kFile},
      {"GAPI_KEY", "GAPI_KEY", Seed::kJsonOrFile},
  };
  std::unique_ptr<v1::Keystore::Stub> keystore;
  std::set<std::string> done;
  for (const Seed& seed : seeds) {
    if (done.count(seed.key)) continue;
    const char* var = seed.env;
    {
      const std::string value = Env(var);
      if (value.empty()) continue;
      std::string stored = value;
      const bool file = seed.kind == Seed::kFile ||
                        (seed.kind == Seed::kJsonOrFile && !absl::StartsWith(absl::StripAsciiWhitespace(value), "{"));
      if (file) {
        bool exists = false;
        stored = ReadFile(value, &exists);
        if (!exists) {
          Say(absl::StrCat("tasker dev: ", var, ": cannot read the file ", value, "; ", seed.key, " not set"));
          continue;
        }
      }
      if (!keystore) {
        auto channel = MakeChannel({.target = absl::StrCat("127.0.0.1:", keystore_port)});
        if (!channel.ok()) return;
        keystore = v1::Keystore::NewStub(*channel);
      }
      v1::SetKeyRequest request;
      request.set_namespace_("global");
      request.set_key(seed.key);
      request.set_value(stored);
      v1::SetKeyResponse response;
      auto context = MakeWaitingContext(absl::Seconds(10));
      grpc::Status status = keystore->SetKey(context.get(), request, &response);
      if (status.ok()) {
        Say(absl::StrCat("keystore: ", seed.key, " set from ", var));
        done.insert(seed.key);
      } else {
        Say(absl::StrCat("tasker dev: cannot set ", seed.key, " from ", var, ": ", status.error_message()));
      }
    }
  }
}

int DevServer::Run() {
  if (absl::Status ready = Prepare(); !ready.ok()) {
    std::fprintf(stderr, "tasker dev: %s\n", std::string(ready.message()).c_str());
    return 1;
  }
  const absl::Time started = absl::Now();
  // Where things go.
  int http_port = absl::GetFlag(FLAGS_port);
  if (http_port < 0) {
    const std::string env = Env("PORT");
    http_port = 3000;
    if (!env.empty() && (!absl::SimpleAtoi(env, &http_port) || http_port < 0 || http_port > 65535)) {
      std::fprintf(stderr, "tasker dev: PORT=%s: must be a port number\n", env.c_str());
      return 2;
    }
  }
  const std::string host = absl::GetFlag(FLAGS_host);
  // httplib binds with SO_REUSEPORT alone.
  if (http_port > 0 && (InUse(host, http_port) || !CanBind(host, http_port, /*reuse_addr=*/false))) {
    std::fprintf(stderr, "tasker dev: port %d on %s is in use; choose another with --port or PORT\n", http_port,
                 host.c_str());
    return 1;
  }
  int grpc_port = absl::GetFlag(FLAGS_grpc_port);
  std::string grpc_note;
  // gRPC binds with SO_REUSEADDR and SO_REUSEPORT.
  if (grpc_port <= 0 || InUse("127.0.0.1", grpc_port) || !CanBind("127.0.0.1", grpc_port, /*reuse_addr=*/true)) {
    if (grpc_port > 0) grpc_note = absl::StrCat(" (", grpc_port, " was taken)");
    grpc_port = FreePort();
  }
  std::string db_shown;
  std::vector<std::string> storage_args = {"--listen=127.0.0.1:0"};
  if (Env("TASKER_DATABASE_URL").empty()) {
    std::string db = Env("SQLITE_DB_PATH");
    if (db.empty()) db = absl::StrCat(kStateDir, "/tasker.db");
    db = Absolute(db);
    if (mkdir(Dirname(db).c_str(), 0755) != 0 && errno != EEXIST) {
      std::fprintf(stderr, "tasker dev: SQLITE_DB_PATH: cannot create the folder of %s: %s\n", db.c_str(),
                   strerror(errno));
      return 2;
    }
    storage_args.push_back("--database_url=sqlite://" + db);
    db_shown = "sqlite " + db;
  } else {
    // The storage service reads it from the environment (a password stays
    // off the command line).
    db_shown = "postgres " + RedactUrl(Env("TASKER_DATABASE_URL")) + " (TASKER_DATABASE_URL)";
  }
  // The keystore's development master key, made once and kept (mode 600).
  const std::string master_key = state_ + "/master.key";
  if (ReadFile(master_key).size() < 32) {
    std::ifstream random("/dev/urandom", std::ios::binary);
    unsigned char bytes[32];
    random.read(reinterpret_cast<char*>(bytes), sizeof(bytes));
    std::string hex;
    for (unsigned char c : bytes) absl::StrAppendFormat(&hex, "%02x", c);
    const int fd = open(master_key.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, hex.data(), hex.size()) != static_cast<ssize_t>(hex.size())) {
      std::fprintf(stderr, "tasker dev: cannot write %s\n", master_key.c_str());
      if (fd >= 0) close(fd);
      return 1;
    }
    close(fd);
  }
  std::string tasks_dir = absl::GetFlag(FLAGS_tasks);
  if (tasks_dir.empty()) {
    // The old platform's publish script read $TASKS_DIRECTORY/endpoints/*.js.
    const std::string old = Env("TASKS_DIRECTORY");
    tasks_dir = old.empty() ? "tasks" : absl::StrCat(old, "/endpoints");
  }
  while (tasks_dir.size() > 1 && tasks_dir.back() == '/') tasks_dir.pop_back();
  bool created_tasks = false;
  if (mkdir(tasks_dir.c_str(), 0755) == 0) {
    created_tasks = true;
  } else if (errno != EEXIST) {
    std::fprintf(stderr, "tasker dev: --tasks: cannot create %s: %s\n", tasks_dir.c_str(), strerror(errno));
    return 2;
  }

  Say("tasker dev: insecure development mode: every service accepts every local caller without credentials, "
      "and a task that declares no permissions may call every service");
  NoteOldVariables();
  std::vector<std::string> common_args = {"--insecure_dev"};
  if (const std::string level = Env("LOG_LEVEL"); !level.empty()) {
    const std::string lower = absl::AsciiStrToLower(level);
    if (lower == "debug" || lower == "info" || lower == "warning" || lower == "error") {
      common_args.push_back("--log_level=" + lower);
    } else if (lower == "warn") {
      common_args.push_back("--log_level=warning");
    } else {
      Say(absl::StrCat("tasker dev: LOG_LEVEL=", level, " ignored (debug, info, warning or error)"));
    }
  }
  common_args_ = common_args;
  int keystore_port = 0;
  auto start_all = [&]() -> absl::Status {
    auto bin = [&](const char* path) { return absl::StrCat(bin_, "/", path); };
    ASSIGN_OR_RETURN(const int storage, StartService("storage", bin("services/storage/storage-service"), storage_args));
    const std::string storage_target = absl::StrCat("--storage=127.0.0.1:", storage);
    ASSIGN_OR_RETURN(const int keystore, StartService("keystore", bin("services/keystore/keystore"),
                                                      {"--listen=127.0.0.1:0", storage_target,
                                                       "--master_key_file=" + master_key}));
    // A development machine's services (an emulator, a local API) are on
    // loopback: task fetch may reach private addresses here.
    std::vector<std::string> proxy_args = {"--listen=127.0.0.1:0", absl::StrCat("--keystore=127.0.0.1:", keystore),
                                           "--http_allow_private"};
    std::string services_config = absl::GetFlag(FLAGS_services_config);
    if (services_config.empty()) services_config = Env("TASKER_SERVICES_CONFIG");
    if (services_config.empty() && access((tasks_dir + "/services.json").c_str(), R_OK) == 0) {
      services_config = tasks_dir + "/services.json";
    }
    if (!services_config.empty()) proxy_args.push_back("--services_config=" + Absolute(services_config));
    // The `database` provider's application database (never Tasker's own).
    if (Env("TASKER_APP_DATABASE_URL").empty()) {
      proxy_args.push_back(absl::StrCat("--app_database_url=sqlite://", state_, "/app.db"));
    }
    ASSIGN_OR_RETURN(const int proxy,
                     StartService("proxy", bin("services/proxy/wrapped-service-proxy"), proxy_args));
    const int processor_port = FreePort();
    ASSIGN_OR_RETURN(const int processor,
                     StartService("processor", bin("services/processor/stack-processor"),
                                  {absl::StrCat("--listen=127.0.0.1:", processor_port), storage_target,
                                   absl::StrCat("--proxy=127.0.0.1:", proxy),
                                   absl::StrCat("--executors=127.0.0.1:", grpc_port)}));
    const std::string http_port_file = state_ + "/run/http.port";
    unlink(http_port_file.c_str());
    ASSIGN_OR_RETURN(const int executor,
                     StartService("executor", bin("services/executor/task-executor"),
                                  {absl::StrCat("--listen=127.0.0.1:", grpc_port), storage_target,
                                   absl::StrCat("--processors=127.0.0.1:", processor),
                                   "--js_worker=" + bin("runtime/js/tasker-js-worker"),
                                   absl::StrCat("--http_listen=", host, ":", http_port),
                                   "--http_port_file=" + http_port_file, "--default_permissions=all",
                                   absl::StrCat("--keystore=127.0.0.1:", keystore),
                                   // Ctrl-C should not wait long for warm runs to checkpoint.
                                   "--drain_timeout=3s"}));
    grpc_port = executor;
    // The HTTP port file is written once the gateway listens, after the gRPC one.
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (!absl::SimpleAtoi(absl::StripAsciiWhitespace(ReadFile(http_port_file)), &http_port) || http_port <= 0) {
      if (stop_requested_) return absl::CancelledError("interrupted");
      if (Child* dead = Died()) return absl::UnavailableError(FailureOf(*dead, "failed to start"));
      if (absl::Now() > deadline) return absl::DeadlineExceededError("the executor's HTTP API did not start");
      Pump(absl::Milliseconds(20));
    }
    SeedKeystore(keystore);
    keystore_port = keystore;
    return absl::OkStatus();
  };
  absl::Status started_all = start_all();
  if (!started_all.ok()) {
    StopAll();
    if (started_all.code() == absl::StatusCode::kCancelled) {
      Say("tasker dev: stopped.");
      return 130;
    }
    std::fprintf(stderr, "tasker dev: %s\n", std::string(started_all.message()).c_str());
    return 1;
  }

  auto channel = MakeChannel({.target = absl::StrCat("127.0.0.1:", grpc_port)});
  if (!channel.ok()) {
    StopAll();
    std::fprintf(stderr, "tasker dev: %s\n", std::string(channel.status().message()).c_str());
    return 1;
  }
  tasks_ = v1::TaskService::NewStub(*channel);
  folder_ = std::make_unique<TaskFolder>(tasks_dir);
  absl::Status watching = folder_->Watch();
  if (watching.ok()) watching = SyncExisting();
  if (!watching.ok()) {
    StopAll();
    std::fprintf(stderr, "tasker dev: %s\n", std::string(watching.message()).c_str());
    return 1;
  }
  const std::string shown_host = host == "0.0.0.0" ? "127.0.0.1" : host;
  Say(absl::StrFormat(
      "tasker dev: ready in %.1f s\n"
      "  web UI     http://%s:%d/\n"
      "  HTTP API   http://%s:%d/task/submit, /task/status/:id, /api/tasks, /api/runs\n"
      "  gRPC       127.0.0.1:%d%s  (export TASKER_ADDRESS=127.0.0.1:%d; tasker runs)\n"
      "  keystore   127.0.0.1:%d  (export TASKER_KEYSTORE_ADDRESS=127.0.0.1:%d; tasker keystore list)\n"
      "  database   %s\n"
      "  tasks      %s%s (NAME.js or NAME/index.js; a change is republished)\n"
      "  logs       %s/ (--verbose streams them all; warnings and errors show here)\n"
      "  Ctrl-C stops everything.",
      absl::ToDoubleSeconds(absl::Now() - started), shown_host, http_port, shown_host, http_port, grpc_port,
      grpc_note, grpc_port, keystore_port, keystore_port, db_shown, Absolute(tasks_dir), created_tasks ? ", created" : "", logs_));

  // The folder as it is now, then every change.
  std::set<std::string> present = folder_->Names();
  std::vector<std::string> current;
  for (const std::string& name : present) {
    bool both = false;
    const std::string path = folder_->SourceOf(name, &both);
    Known& known = known_[name];
    const std::string code = ReadFile(path);
    TaskDoc doc = ParseTaskDoc(code);
    const std::string metadata_json = doc.metadata.empty() ? "" : doc.metadata.dump();
    if (known.version > 0 && known.sha256 == Sha256Hex(code) && known.metadata_json == metadata_json) {
      known.source = path;
      current.push_back(absl::StrCat(name, " v", known.version));
      continue;
    }
    Publish(name);
  }
  if (!current.empty()) Say(absl::StrCat("up to date: ", absl::StrJoin(current, ", ")));
  if (present.empty()) Say(absl::StrCat("no tasks in ", tasks_dir, "/ yet: add NAME.js there and it is published"));

  int exit_code = 0;
  while (!stop_requested_) {
    absl::Duration wait = absl::Seconds(1);
    const absl::Time now = absl::Now();
    for (const auto& [name, when] : due_) wait = std::min(wait, when - now);
    Pump(std::max(wait, absl::ZeroDuration()));
    if (Child* dead = Died()) {
      std::fprintf(stderr, "tasker dev: %s\n", FailureOf(*dead, "exited unexpectedly").c_str());
      Say(absl::StrCat("tasker dev: ", dead->name, " died; stopping the other services"));
      exit_code = 1;
      break;
    }
    for (auto it = due_.begin(); it != due_.end();) {
      if (it->second > absl::Now()) {
        ++it;
        continue;
      }
      const std::string name = it->first;
      it = due_.erase(it);
      Publish(name);
    }
  }
  StopAll();
  Say("tasker dev: stopped.");
  return exit_code;
}

}  // namespace

int RunDev(const char* argv0) {
  // Lines reach a pipe (a test, `| tee`) as they are written.
  setvbuf(stdout, nullptr, _IOLBF, 0);
  auto bin = FindBinDir(argv0);
  if (!bin.ok()) {
    std::fprintf(stderr, "tasker dev: %s\n", std::string(bin.status().message()).c_str());
    return 1;
  }
  // The old dev server's `DEBUG=* npm run dev`.
  DevServer server(*bin, absl::GetFlag(FLAGS_verbose) || !Env("DEBUG").empty());
  return server.Run();
}

}  // namespace tasker::cli
