// The tasker CLI as an operator runs it, against a running stack (real
// processes: tests/e2e/stack.h): help and exit codes, the address from the
// environment and a config file, tables and -o json|yaml, submit printing the
// run id first, waiting with no overall deadline, following a run across an
// executor and a storage restart, a terminal (a pseudo-terminal: colours and
// the progress line) against a pipe (neither), and the keystore's values kept
// off the screen.
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/stack.h"
#include "tests/support/process.h"

namespace tasker::e2e {
namespace {

std::string Cli() { return testing::Runfile("services/cli/tasker"); }

// Runs `command` (sh -c) on a pseudo-terminal (100 columns); returns the exit
// code and everything written to the terminal. `input` is typed once the
// output shows `after`.
std::pair<int, std::string> RunOnTerminal(const std::string& command, const std::string& input = "",
                                          const std::string& after = "") {
  struct winsize ws = {};
  ws.ws_col = 100;
  ws.ws_row = 30;
  int fd;
  const pid_t pid = forkpty(&fd, nullptr, nullptr, &ws);
  if (pid == 0) {
    setenv("TERM", "xterm", 1);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string out;
  bool typed = input.empty();
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;  // EIO once the child side closes
    out.append(buf, n);
    if (!typed && absl::StrContains(out, after)) {
      absl::SleepFor(absl::Milliseconds(100));
      (void)!write(fd, input.data(), input.size());
      typed = true;
    }
  }
  close(fd);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A task that waits on a durable timer (setTimeout) for `ms`, then returns.
std::string TimerTask(int ms) {
  return absl::StrCat("module.exports = async function (input) { console.log('waiting'); ",
                      "await new Promise((r) => setTimeout(r, ", ms, ")); ",
                      "const e = await __callHostTool__('admin-debug', 'echo', {n: 1}); console.warn('done'); ",
                      "return {done: true, e}; };");
}

class CliTest : public ::testing::Test {
 protected:
  void StartStack(StackOptions options = {}) {
    auto stack = Stack::Start(options);
    ASSERT_TRUE(stack.ok()) << stack.status();
    stack_ = std::move(*stack);
    dir_ = testing::MakeTempDir("cli");
  }
  // The CLI with the stack's address as a flag; output combined (2>&1).
  std::pair<int, std::string> Run(const std::string& args) {
    return testing::RunCommand(absl::StrCat(Cli(), " --address=", stack_->executor_target(), " ", args));
  }
  // stdout only.
  std::pair<int, std::string> RunStdout(const std::string& args) {
    return testing::RunCommand(
        absl::StrCat("{ ", Cli(), " --address=", stack_->executor_target(), " ", args, " 2>/dev/null; }"));
  }
  std::string Publish(const std::string& name, const std::string& code) {
    const std::string file = absl::StrCat(dir_, "/", name, ".js");
    std::ofstream(file) << code;
    auto [rc, out] = Run(absl::StrCat("publish ", name, " ", file));
    EXPECT_EQ(rc, 0) << out;
    return out;
  }

  std::unique_ptr<Stack> stack_;
  std::string dir_;
};

TEST(CliHelpTest, HelpOnEveryCommandAndUsageErrors) {
  auto [rc, help] = testing::RunCommand(Cli() + " --help");
  EXPECT_EQ(rc, 0) << help;
  for (const char* text : {"Commands:", "Exit codes:", "TASKER_ADDRESS", "Examples:", "submit", "keystore"}) {
    EXPECT_NE(help.find(text), std::string::npos) << text << " in " << help;
  }
  auto [h_rc, h] = testing::RunCommand(Cli() + " -h");
  EXPECT_EQ(h_rc, 0);
  EXPECT_EQ(h, help);
  for (const char* command : {"publish", "submit", "watch", "logs", "runs", "describe", "cancel", "functions",
                              "versions", "keystore", "version", "config", "dev", "help"}) {
    auto [c_rc, c] = testing::RunCommand(absl::StrCat(Cli(), " ", command, " --help"));
    EXPECT_EQ(c_rc, 0) << command << ": " << c;
    EXPECT_TRUE(absl::StartsWith(c, absl::StrCat("Usage: tasker ", command))) << c;
    auto [s_rc, s] = testing::RunCommand(absl::StrCat(Cli(), " ", command, " -h"));
    EXPECT_EQ(s_rc, 0) << s;
    auto [t_rc, t] = testing::RunCommand(absl::StrCat(Cli(), " help ", command));
    EXPECT_EQ(t_rc, 0) << t;
    EXPECT_EQ(t, c) << command;
    if (std::string(command) != "help" && std::string(command) != "version" && std::string(command) != "config") {
      EXPECT_NE(c.find("Examples:"), std::string::npos) << command << ": " << c;
    }
  }
  auto [sub_rc, sub] = testing::RunCommand(Cli() + " submit --help");
  EXPECT_NE(sub.find("--wait"), std::string::npos) << sub;
  EXPECT_NE(sub.find("Exit codes:"), std::string::npos) << sub;

  // Usage errors: 2, naming the problem.
  auto [none_rc, none] = testing::RunCommand(Cli());
  EXPECT_EQ(none_rc, 2) << none;
  auto [bad_rc, bad] = testing::RunCommand(Cli() + " frobnicate");
  EXPECT_EQ(bad_rc, 2);
  EXPECT_NE(bad.find("unknown command 'frobnicate'"), std::string::npos) << bad;
  auto [flag_rc, flag] = testing::RunCommand(Cli() + " runs --frob=1");
  EXPECT_EQ(flag_rc, 2);
  EXPECT_NE(flag.find("unknown flag --frob"), std::string::npos) << flag;
  auto [arg_rc, arg] = testing::RunCommand(Cli() + " watch");
  EXPECT_EQ(arg_rc, 2);
  EXPECT_NE(arg.find("usage: tasker watch RUN"), std::string::npos) << arg;
  auto [out_rc, out] = testing::RunCommand(Cli() + " runs -o xml");
  EXPECT_EQ(out_rc, 2);
  EXPECT_NE(out.find("--output: 'xml'"), std::string::npos) << out;

  // Nobody there: 5, with the address and where it came from.
  auto [down_rc, down] = testing::RunCommand(Cli() + " runs --address=127.0.0.1:1 --timeout=3s");
  EXPECT_EQ(down_rc, 5) << down;
  EXPECT_NE(down.find("UNAVAILABLE"), std::string::npos) << down;
  EXPECT_NE(down.find("127.0.0.1:1 (flag --address)"), std::string::npos) << down;

  // Following a run at a wrong address fails instead of retrying forever.
  for (const char* follow : {"watch run_x", "logs -f run_x"}) {
    auto [w_rc, w] = testing::RunCommand(absl::StrCat(Cli(), " ", follow, " --address=127.0.0.1:1 --timeout=3s"));
    EXPECT_EQ(w_rc, 5) << follow << ": " << w;
  }

  auto [v_rc, v] = testing::RunCommand(Cli() + " version");
  EXPECT_EQ(v_rc, 0);
  EXPECT_TRUE(std::regex_search(v, std::regex("^tasker \\d+\\.\\d+\\.\\d+ \\(commit \\S+\\)\n$"))) << v;
  auto [vj_rc, vj] = testing::RunCommand(Cli() + " --version -o json");
  EXPECT_EQ(vj_rc, 0);
  EXPECT_FALSE(nlohmann::json::parse(vj)["version"].get<std::string>().empty());
}

TEST_F(CliTest, PublishSubmitWaitGetListCancel) {
  StartStack();
  auto [rc, out] = RunStdout("publish gmail-search " + testing::Runfile("deploy/examples/gmail-search.js") +
                       " -o json --permissions='gapi:admin.domains.list,gapi:admin.users.list,gapi:gmail.* as subject=*'");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out)["version"], "1");  // int64 prints as a JSON string

  auto [wait_rc, waited] = RunStdout("submit gmail-search '{\"samplesPerUser\":1}' --wait --idempotency_key=cli-1 -o json");
  ASSERT_EQ(wait_rc, 0) << waited;
  auto finished = nlohmann::json::parse(waited);
  EXPECT_EQ(finished["status"], "RUN_STATUS_COMPLETED");
  EXPECT_EQ(finished["result"]["counts"]["users"], 6);
  const std::string id = finished["id"];

  auto [get_rc, got] = RunStdout(absl::StrCat("get ", id, " -o json"));
  ASSERT_EQ(get_rc, 0) << got;
  EXPECT_GT(nlohmann::json::parse(got)["stackRuns"].size(), 5u);
  // Public fields only (TaskApi's PublicView).
  for (const char* internal : {"leaseOwner", "leaseExpiresAt", "fencingToken", "replyTo"}) {
    EXPECT_EQ(got.find(internal), std::string::npos) << internal << " in " << got;
  }
  // The same submit again is the same run; with another input, refused (1).
  auto [again_rc, again] = RunStdout("submit gmail-search '{\"samplesPerUser\":1}' --idempotency_key=cli-1 -o json");
  ASSERT_EQ(again_rc, 0) << again;
  EXPECT_EQ(nlohmann::json::parse(again)["id"], id);
  auto [other_rc, other] = Run("submit gmail-search '{\"samplesPerUser\":2}' --idempotency_key=cli-1");
  EXPECT_EQ(other_rc, 1);
  EXPECT_NE(other.find("ALREADY_EXISTS"), std::string::npos) << other;
  EXPECT_NE(other.find("idempotency_key 'cli-1'"), std::string::npos) << other;

  auto [list_rc, listed] = RunStdout("runs --status=completed -o json");
  ASSERT_EQ(list_rc, 0) << listed;
  EXPECT_EQ(nlohmann::json::parse(listed)["runs"].size(), 1u);
  auto [none_rc, none] = RunStdout("runs --status=failed,cancelled -o json");
  ASSERT_EQ(none_rc, 0) << none;
  EXPECT_EQ(nlohmann::json::parse(none)["runs"].size(), 0u);
  auto [since_rc, since] = RunStdout("runs --since=1h -o json");
  ASSERT_EQ(since_rc, 0) << since;
  EXPECT_EQ(nlohmann::json::parse(since)["runs"].size(), 1u);
  auto [later_rc, later] = RunStdout("runs --since=2100-01-01T00:00:00Z -o json");
  ASSERT_EQ(later_rc, 0) << later;
  EXPECT_EQ(nlohmann::json::parse(later)["runs"].size(), 0u);
  auto [bad_status_rc, bad_status] = Run("runs --status=bogus");
  EXPECT_EQ(bad_status_rc, 2) << bad_status;

  auto [bad_rc, bad] = Run("submit gmail-search '{not json'");
  EXPECT_EQ(bad_rc, 2);
  EXPECT_NE(bad.find("not valid JSON"), std::string::npos) << bad;
  auto [missing_rc, missing] = Run("describe run_nope");
  EXPECT_EQ(missing_rc, 1);
  EXPECT_NE(missing.find("NOT_FOUND"), std::string::npos) << missing;
  auto [cancel_rc, cancelled] = Run(absl::StrCat("cancel ", id));
  EXPECT_EQ(cancel_rc, 1);
  EXPECT_NE(cancelled.find("FAILED_PRECONDITION"), std::string::npos) << cancelled;

  // A run still waiting on a slow call is cancelled; following it then exits 4.
  Publish("slow", TimerTask(60000));
  auto [submit_rc, submitted] = RunStdout("submit slow -q");
  ASSERT_EQ(submit_rc, 0) << submitted;
  const std::string slow_id(absl::StripAsciiWhitespace(submitted));
  auto [slow_cancel_rc, slow_cancelled] = Run(absl::StrCat("cancel ", slow_id, " 'no longer needed'"));
  EXPECT_EQ(slow_cancel_rc, 0) << slow_cancelled;
  EXPECT_NE(slow_cancelled.find("cancelled " + slow_id), std::string::npos) << slow_cancelled;
  EXPECT_NE(slow_cancelled.find("no longer needed"), std::string::npos) << slow_cancelled;
  auto [watch_rc, watched] = Run("watch " + slow_id);
  EXPECT_EQ(watch_rc, 4) << watched;
  EXPECT_NE(watched.find("CANCELLED"), std::string::npos) << watched;
  // A failing run: 3.
  Publish("boom", "module.exports = async function () { throw new Error('boom'); };");
  auto [boom_rc, boom] = Run("submit boom --wait");
  EXPECT_EQ(boom_rc, 3) << boom;
  EXPECT_NE(boom.find("FAILED"), std::string::npos) << boom;
  EXPECT_NE(boom.find("Error: boom"), std::string::npos) << boom;
}

TEST_F(CliTest, TheAddressFromTheEnvironmentOrAConfigFile) {
  StartStack();
  const std::string good = stack_->executor_target();
  const std::string bad = "127.0.0.1:1";
  auto run = [&](const std::string& env, const std::string& args) {
    // HOME elsewhere: no config file of the machine's user is read.
    return testing::RunCommand(absl::StrCat("env -u TASKER_ADDRESS -u TASKER_CONFIG HOME=", dir_, " ", env, " ",
                                            Cli(), " ", args, " --timeout=3s"));
  };
  // The environment alone.
  auto [env_rc, env] = run("TASKER_ADDRESS=" + good, "functions");
  EXPECT_EQ(env_rc, 0) << env;
  // The default config file (~/.config/tasker/config.yaml), its paths relative to it.
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", dir_, "/.config/tasker").c_str()), 0);
  std::ofstream(dir_ + "/.config/tasker/config.yaml")
      << "# where Tasker is\naddress: \"" << good << "\"  # the executor\ntimeout: 10s\n";
  auto [file_rc, file] = run("", "functions");
  EXPECT_EQ(file_rc, 0) << file;
  auto [where_rc, where] = run("", "config -o json");
  ASSERT_EQ(where_rc, 0) << where;
  auto settings = nlohmann::json::parse(where);
  EXPECT_EQ(settings["address"], good);
  EXPECT_EQ(settings["addressFrom"], "config " + dir_ + "/.config/tasker/config.yaml");
  EXPECT_EQ(settings["keystoreAddress"], "127.0.0.1:50053");
  // Precedence: the environment over the file, the flag over both.
  auto [over_rc, over] = run("TASKER_ADDRESS=" + bad, "functions");
  EXPECT_EQ(over_rc, 5) << over;
  EXPECT_NE(over.find("(env TASKER_ADDRESS)"), std::string::npos) << over;
  auto [flag_rc, flag] = run("TASKER_ADDRESS=" + bad, "functions --address=" + good);
  EXPECT_EQ(flag_rc, 0) << flag;
  // TASKER_CONFIG names another file (JSON here); a bad key is a usage error naming it.
  std::ofstream(dir_ + "/other.json") << "{\"address\": \"" << bad << "\", \"keystore_address\": \"ks:1\"}";
  auto [json_rc, json] = run("TASKER_CONFIG=" + dir_ + "/other.json", "config -o json");
  ASSERT_EQ(json_rc, 0) << json;
  EXPECT_EQ(nlohmann::json::parse(json)["address"], bad);
  EXPECT_EQ(nlohmann::json::parse(json)["keystoreAddress"], "ks:1");
  std::ofstream(dir_ + "/typo.yaml") << "adress: " << good << "\n";
  auto [typo_rc, typo] = run("TASKER_CONFIG=" + dir_ + "/typo.yaml", "functions");
  EXPECT_EQ(typo_rc, 2) << typo;
  EXPECT_NE(typo.find("unknown key 'adress'"), std::string::npos) << typo;
  auto [gone_rc, gone] = run("TASKER_CONFIG=" + dir_ + "/nope.yaml", "functions");
  EXPECT_EQ(gone_rc, 2) << gone;
}

TEST_F(CliTest, TablesForPeopleJsonAndYamlForScripts) {
  StartStack();
  Publish("hello", TimerTask(10));
  Publish("hello", TimerTask(20));
  auto [wait_rc, waited] = RunStdout("submit hello '{\"name\":\"Ada\"}' --wait");
  ASSERT_EQ(wait_rc, 0) << waited;
  // Human: the id line, the end line, the result.
  std::vector<std::string> lines = absl::StrSplit(waited, '\n');
  ASSERT_GE(lines.size(), 3u) << waited;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(lines[0], m, std::regex("^submitted (run_\\w+)  \\(hello v2, #1\\)$"))) << waited;
  const std::string id = m[1];
  EXPECT_TRUE(std::regex_search(lines[1], std::regex("^" + id + "  COMPLETED  [0-9.]+m?s  \\(hello v2\\)$"))) << waited;
  EXPECT_NE(waited.find("\"done\": true"), std::string::npos) << waited;

  // runs: a header and aligned columns.
  auto [runs_rc, runs] = RunStdout("runs");
  ASSERT_EQ(runs_rc, 0) << runs;
  lines = absl::StrSplit(absl::StripTrailingAsciiWhitespace(runs), '\n');
  ASSERT_EQ(lines.size(), 2u) << runs;
  EXPECT_TRUE(std::regex_search(lines[0], std::regex("^RUN +# +TASK +STATUS +CREATED +DURATION$"))) << runs;
  EXPECT_EQ(lines[0].find("STATUS"), lines[1].find("COMPLETED")) << runs;
  EXPECT_EQ(lines[0].find("TASK"), lines[1].find("hello v2")) << runs;
  EXPECT_TRUE(std::regex_search(lines[1], std::regex("(just now|\\ds ago)"))) << runs;

  // describe: the run and its stack-run tree.
  auto [d_rc, described] = RunStdout("describe 1");
  ASSERT_EQ(d_rc, 0) << described;
  for (const char* text : {"Status:     COMPLETED", "Task:       hello v2", "Logs:       2 lines", "STACK RUN",
                           "├─ #1 timer.sleep", "└─ #2 admin-debug.echo"}) {
    EXPECT_NE(described.find(text), std::string::npos) << text << " in " << described;
  }
  auto [logs_rc, logs] = RunStdout("logs " + id);
  ASSERT_EQ(logs_rc, 0) << logs;
  EXPECT_TRUE(std::regex_search(
      logs, std::regex("^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  log    waiting\n\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  warn   done\n$")))
      << logs;
  auto [f_rc, followed] = RunStdout("logs -f " + id);
  EXPECT_EQ(f_rc, 0) << followed;
  EXPECT_EQ(followed, logs);

  auto [v_rc, versions] = RunStdout("versions hello");
  ASSERT_EQ(v_rc, 0) << versions;
  EXPECT_TRUE(std::regex_search(versions, std::regex("^TASK +VERSION +CREATED +SHA256 +PERMISSIONS\n"
                                                     "hello +2 .*\nhello +1 "))) << versions;

  // json parses; yaml is valid YAML holding the same document.
  const std::string check_yaml = dir_ + "/same.py";
  std::ofstream(check_yaml) << "import json, sys, yaml\n"
                               "a = json.load(open(sys.argv[1]))\n"
                               "b = yaml.safe_load(open(sys.argv[2]))\n"
                               "sys.exit(0 if a == b else print(a, '\\n!=\\n', b) or 1)\n";
  for (const std::string& command : {absl::StrCat("describe ", id), std::string("runs"), std::string("functions"),
                                     absl::StrCat("logs ", id), std::string("versions hello")}) {
    auto [j_rc, j] = RunStdout(command + " -o json");
    ASSERT_EQ(j_rc, 0) << j;
    EXPECT_FALSE(nlohmann::json::parse(j, nullptr, false).is_discarded()) << command << ": " << j;
    std::ofstream(dir_ + "/out.json") << j;
    auto [y_rc, y] = RunStdout(command + " -o yaml");
    ASSERT_EQ(y_rc, 0) << y;
    std::ofstream(dir_ + "/out.yaml") << y;
    auto [same_rc, same] = testing::RunCommand(
        absl::StrCat("python3 ", check_yaml, " ", dir_, "/out.json ", dir_, "/out.yaml"));
    EXPECT_EQ(same_rc, 0) << command << ":\n" << same << "\n" << y;
  }
  auto [watch_rc, watched] = RunStdout("watch " + id + " -o json");
  ASSERT_EQ(watch_rc, 0) << watched;
  auto event = nlohmann::json::parse(absl::StripTrailingAsciiWhitespace(watched));  // one JSON line
  EXPECT_EQ(event["final"], true);
  EXPECT_EQ(event["run"]["status"], "RUN_STATUS_COMPLETED");
}

TEST_F(CliTest, SubmitPrintsTheIdFirstAndWaitHasNoOverallDeadline) {
  StartStack();
  Publish("timer", TimerTask(5000));
  // Each call's deadline is 1 s; the run takes 5 s; --wait follows it to the end.
  const std::string log = dir_ + "/wait.log";
  auto wait = testing::Subprocess::Start(
      {"/bin/sh", "-c",
       absl::StrCat(Cli(), " --address=", stack_->executor_target(), " --timeout=1s submit timer --wait > ", log,
                    " 2>&1")});
  ASSERT_TRUE(wait.ok()) << wait.status();
  const absl::Time start = absl::Now();
  std::string first;
  while (absl::Now() - start < absl::Seconds(10)) {
    first = ReadFile(log);
    if (absl::StrContains(first, "\n")) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Duration id_after = absl::Now() - start;
  EXPECT_TRUE(std::regex_search(first, std::regex("^submitted run_\\w+  \\(timer v1, #1\\)\n"))) << first;
  EXPECT_LT(id_after, absl::Seconds(3)) << "the id came only after " << id_after;
  auto status = (*wait)->Wait(absl::Seconds(60));
  ASSERT_TRUE(status.has_value());
  const std::string out = ReadFile(log);
  EXPECT_EQ(WEXITSTATUS(*status), 0) << out;
  EXPECT_GE(absl::Now() - start, absl::Seconds(5)) << out;
  EXPECT_NE(out.find("COMPLETED"), std::string::npos) << out;
  EXPECT_EQ(out.find("DEADLINE_EXCEEDED"), std::string::npos) << out;
}

TEST_F(CliTest, WatchFollowsARunAcrossExecutorAndStorageRestarts) {
  StartStack();
  Publish("timer", TimerTask(8000));
  for (const char* component : {"executor0", "storage"}) {
    SCOPED_TRACE(component);
    auto id = stack_->Submit("timer", "null");
    ASSERT_TRUE(id.ok()) << id.status();
    const std::string log = absl::StrCat(dir_, "/watch-", component, ".log");
    auto watch = testing::Subprocess::Start(
        {"/bin/sh", "-c",
         absl::StrCat(Cli(), " --address=", stack_->executor_target(), " --timeout=2s watch ", *id, " > ", log,
                      " 2>&1")});
    ASSERT_TRUE(watch.ok()) << watch.status();
    const std::string logs_log = absl::StrCat(dir_, "/logs-", component, ".log");
    auto logs = testing::Subprocess::Start(
        {"/bin/sh", "-c",
         absl::StrCat(Cli(), " --address=", stack_->executor_target(), " --timeout=2s logs -f ", *id, " > ",
                      logs_log, " 2>&1")});
    ASSERT_TRUE(logs.ok()) << logs.status();
    // Following: the run suspended on its timer.
    const absl::Time start = absl::Now();
    while (!absl::StrContains(ReadFile(log), "SUSPENDED") && absl::Now() - start < absl::Seconds(10)) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_TRUE(absl::StrContains(ReadFile(log), "SUSPENDED")) << ReadFile(log);
    ASSERT_TRUE(stack_->KillAndRestart(component).ok());
    auto status = (*watch)->Wait(absl::Seconds(90));
    ASSERT_TRUE(status.has_value()) << ReadFile(log);
    const std::string out = ReadFile(log);
    EXPECT_EQ(WEXITSTATUS(*status), 0) << out;
    EXPECT_TRUE(std::regex_search(out, std::regex("\n" + *id + "  COMPLETED  "))) << out;
    if (std::string(component) == "executor0") {
      // Its stream broke: said, and retried.
      EXPECT_NE(out.find("reconnecting"), std::string::npos) << out;
      EXPECT_NE(out.find("tasker: reconnected"), std::string::npos) << out;
    }
    // logs -f too: both lines, the end, the run's exit code.
    auto logs_status = (*logs)->Wait(absl::Seconds(30));
    ASSERT_TRUE(logs_status.has_value()) << ReadFile(logs_log);
    const std::string followed = ReadFile(logs_log);
    EXPECT_EQ(WEXITSTATUS(*logs_status), 0) << followed;
    EXPECT_TRUE(std::regex_search(followed, std::regex("log    waiting\n(.*\n)*.*warn   done\n(.*\n)*tasker: run "
                                                       + *id + " COMPLETED\n$")))
        << followed;
    // Off a terminal: no control characters at all.
    EXPECT_EQ(out.find('\033'), std::string::npos) << out;
    EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  }
}

TEST_F(CliTest, ColoursAndAProgressLineOnATerminalOnly) {
  StartStack();
  Publish("timer", TimerTask(2500));
  const std::string cli = absl::StrCat(Cli(), " --address=", stack_->executor_target());
  auto [tty_rc, tty] = RunOnTerminal(cli + " submit timer --wait");
  EXPECT_EQ(tty_rc, 0) << tty;
  // The status in colour, and the progress line redrawn in place (carriage
  // return, erase line) with the call in flight and the elapsed time.
  EXPECT_NE(tty.find("\033[32mCOMPLETED\033[0m"), std::string::npos) << tty;
  EXPECT_NE(tty.find("\r\033[K"), std::string::npos) << tty;
  EXPECT_TRUE(std::regex_search(tty, std::regex("SUSPENDED  0 calls done  now timer\\.sleep  \033\\[2m[0-9.]+m?s")))
      << tty;
  // NO_COLOR: no colours, the progress line still.
  auto [nc_rc, nc] = RunOnTerminal("NO_COLOR=1 " + cli + " submit timer --wait");
  EXPECT_EQ(nc_rc, 0) << nc;
  EXPECT_EQ(nc.find("\033[3"), std::string::npos) << nc;
  EXPECT_NE(nc.find("\r\033[K"), std::string::npos) << nc;
  EXPECT_NE(nc.find("now timer.sleep"), std::string::npos) << nc;
  // Piped: neither, and one plain line per change with watch.
  auto [pipe_rc, piped] = testing::RunCommand(cli + " submit timer --wait");
  EXPECT_EQ(pipe_rc, 0) << piped;
  EXPECT_EQ(piped.find('\033'), std::string::npos) << piped;
  EXPECT_EQ(piped.find('\r'), std::string::npos) << piped;
  // Ctrl-C: the line erased, the run left running, 130.
  Publish("long", TimerTask(60000));
  auto [int_rc, interrupted] = RunOnTerminal("exec " + cli + " submit long --wait", "\x03", "now timer.sleep");
  EXPECT_EQ(int_rc, 130) << interrupted;
  EXPECT_TRUE(std::regex_search(interrupted, std::regex("\r\033\\[Ktasker: interrupted; the run goes on \\(tasker "
                                                         "watch run_\\w+\\)")))
      << interrupted;
  auto [table_rc, table] = RunOnTerminal(cli + " runs");
  EXPECT_EQ(table_rc, 0);
  EXPECT_NE(table.find("\033[1mRUN\033[0m"), std::string::npos) << table;
  auto [never_rc, never] = RunOnTerminal(cli + " runs --color=never");
  EXPECT_EQ(never.find('\033'), std::string::npos) << never;
}

TEST_F(CliTest, KeystoreValuesAreNeverEchoedUnlessAsked) {
  StartStack();
  const std::string secret = "s3cr3t-value-4711";
  const std::string ks = absl::StrCat(Cli(), " --address=", stack_->executor_target(),
                                      " --keystore=", stack_->target("keystore"));
  // From stdin (its trailing newline dropped), from a file, as a flag.
  auto [set_rc, set] = testing::RunCommand(absl::StrCat("echo ", secret, " | ", ks, " keystore set cli token"));
  ASSERT_EQ(set_rc, 0) << set;
  EXPECT_EQ(set, "set cli/token (" + std::to_string(secret.size()) + " bytes)\n");
  std::ofstream(dir_ + "/value") << "from-file\n";
  auto [file_rc, file] = testing::RunCommand(ks + " keystore set cli other --from_file=" + dir_ + "/value");
  ASSERT_EQ(file_rc, 0) << file;
  auto [get_rc, got] = testing::RunCommand(ks + " keystore get cli token");
  ASSERT_EQ(get_rc, 0) << got;
  EXPECT_EQ(got.find(secret), std::string::npos) << got;
  EXPECT_NE(got.find("cli/token is set (17 bytes"), std::string::npos) << got;
  auto [json_rc, json] = testing::RunCommand(ks + " keystore get cli token -o json");
  ASSERT_EQ(json_rc, 0) << json;
  EXPECT_EQ(json.find(secret), std::string::npos) << json;
  EXPECT_FALSE(nlohmann::json::parse(json).contains("value"));
  auto [reveal_rc, revealed] = testing::RunCommand(ks + " keystore get cli token --reveal");
  EXPECT_EQ(reveal_rc, 0);
  EXPECT_EQ(revealed, secret);
  auto [rf_rc, rf] = testing::RunCommand(ks + " keystore get cli other --reveal");
  EXPECT_EQ(rf, "from-file\n");  // a file's bytes as they are
  auto [list_rc, listed] = testing::RunCommand(ks + " keystore list cli");
  ASSERT_EQ(list_rc, 0) << listed;
  EXPECT_EQ(listed, "other\ntoken\n");
  auto [ns_rc, namespaces] = testing::RunCommand(ks + " keystore list");
  ASSERT_EQ(ns_rc, 0) << namespaces;
  EXPECT_TRUE(std::regex_search(namespaces, std::regex("NAMESPACE +TASK-READABLE\n(.*\n)*cli +no\n"))) << namespaces;
  // On a terminal the value is asked for without echo.
  auto [tty_rc, tty] = RunOnTerminal(ks + " keystore set cli typed", "typed-" + secret + "\n", "(not echoed): ");
  EXPECT_EQ(tty_rc, 0) << tty;
  EXPECT_EQ(tty.find("typed-" + secret), std::string::npos) << tty;
  auto [typed_rc, typed] = testing::RunCommand(ks + " keystore get cli typed --reveal");
  EXPECT_EQ(typed_rc, 0) << typed;
  EXPECT_EQ(typed, "typed-" + secret);
  auto [del_rc, deleted] = testing::RunCommand(ks + " keystore delete cli token");
  EXPECT_EQ(del_rc, 0) << deleted;
  auto [again_rc, again] = testing::RunCommand(ks + " keystore delete cli token");
  EXPECT_EQ(again_rc, 1) << again;
  auto [missing_rc, missing] = testing::RunCommand(ks + " keystore get cli token");
  EXPECT_EQ(missing_rc, 1) << missing;
  EXPECT_NE(missing.find("NOT_FOUND"), std::string::npos) << missing;
  // The keystore elsewhere: unreachable names the keystore's address.
  auto [down_rc, down] = testing::RunCommand(ks + " keystore list --keystore=127.0.0.1:1 --timeout=2s");
  EXPECT_EQ(down_rc, 5) << down;
  EXPECT_NE(down.find("could not reach the keystore at 127.0.0.1:1"), std::string::npos) << down;
}

TEST(CliSecureTest, ATokenAndCertificatesFromAConfigFile) {
  StackOptions options;
  options.secure = true;
  options.mtls = true;
  auto stack = Stack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  const std::string dir = testing::MakeTempDir("cli-secure");
  std::ofstream(dir + "/token") << (*stack)->token("client") << "\n";
  std::ofstream(dir + "/echo.js") << "return await __callHostTool__('admin-debug', 'echo', input);";
  const std::string pki = (*stack)->dir();
  const std::string tls = absl::StrCat(" --tls_ca=", pki, "/ca.crt --tls_cert=", pki, "/tasker.crt --tls_key=", pki,
                                       "/tasker.key");
  const std::string cli = absl::StrCat("env -u TASKER_TOKEN HOME=", dir, " ", Cli(), " --address=",
                                       (*stack)->executor_target(), tls);
  auto run = [&](const std::string& args) { return testing::RunCommand(absl::StrCat(cli, " ", args)); };

  // No token: refused (1), with a hint; the token from a file: in.
  auto [anon_rc, anon] = run("runs");
  EXPECT_EQ(anon_rc, 1);
  EXPECT_NE(anon.find("UNAUTHENTICATED"), std::string::npos) << anon;
  EXPECT_NE(anon.find("TASKER_TOKEN"), std::string::npos) << anon;
  const std::string authed = " --token_file=" + dir + "/token";
  auto [pub_rc, pub] = run("publish echo " + dir + "/echo.js --permissions=admin-debug:echo" + authed);
  ASSERT_EQ(pub_rc, 0) << pub;
  EXPECT_NE(pub.find("permissions: admin-debug:echo"), std::string::npos) << pub;
  auto [wait_rc, waited] = run("submit echo '{\"x\":1}' --wait" + authed);
  ASSERT_EQ(wait_rc, 0) << waited;
  EXPECT_NE(waited.find("COMPLETED"), std::string::npos) << waited;
  // Without the client certificate the handshake fails: unreachable (5).
  auto [nocert_rc, nocert] = testing::RunCommand(absl::StrCat(Cli(), " --address=", (*stack)->executor_target(),
                                                              " --tls_ca=", pki, "/ca.crt", authed, " runs"));
  EXPECT_EQ(nocert_rc, 5);
  EXPECT_NE(nocert.find("UNAVAILABLE"), std::string::npos) << nocert;
  // A bad permission is refused at publish, naming it.
  auto [bad_rc, bad] = run("publish echo " + dir + "/echo.js --permissions=gapi" + authed);
  EXPECT_EQ(bad_rc, 1);
  EXPECT_NE(bad.find("metadata_json.permissions[0]"), std::string::npos) << bad;

  // Everything from a config file: the address, the token file and TLS, paths relative to it.
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", dir, "/conf && cp ", pki, "/ca.crt ", pki, "/tasker.crt ", pki,
                                "/tasker.key ", dir, "/token ", dir, "/conf/").c_str()),
            0);
  std::ofstream(dir + "/conf/tasker.yaml") << "address: " << (*stack)->executor_target()
                                           << "\ntoken_file: token\ntls:\n  ca: ca.crt\n  cert: tasker.crt\n"
                                              "  key: 'tasker.key'\n";
  auto [conf_rc, conf] = testing::RunCommand(absl::StrCat("env -u TASKER_TOKEN -u TASKER_ADDRESS TASKER_CONFIG=", dir,
                                                          "/conf/tasker.yaml ", Cli(), " runs -o json"));
  ASSERT_EQ(conf_rc, 0) << conf;
  EXPECT_EQ(nlohmann::json::parse(conf)["runs"].size(), 1u);
  // The admin's token in TASKER_TOKEN wins over the file's client token: the keystore (admin only) answers.
  auto [ks_rc, ks] = testing::RunCommand(absl::StrCat(
      "env -u TASKER_ADDRESS TASKER_TOKEN=", (*stack)->token("admin"), " TASKER_CONFIG=", dir, "/conf/tasker.yaml ",
      Cli(), " keystore list --keystore=", (*stack)->target("keystore")));
  EXPECT_EQ(ks_rc, 0) << ks;
  auto [client_rc, client] = testing::RunCommand(absl::StrCat("env -u TASKER_TOKEN -u TASKER_ADDRESS TASKER_CONFIG=",
                                                              dir, "/conf/tasker.yaml ", Cli(),
                                                              " keystore list --keystore=",
                                                              (*stack)->target("keystore")));
  EXPECT_EQ(client_rc, 1) << client;
  EXPECT_NE(client.find("PERMISSION_DENIED"), std::string::npos) << client;
}

}  // namespace
}  // namespace tasker::e2e
