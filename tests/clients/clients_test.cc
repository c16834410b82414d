// Clients generated in other languages call the public API against a live
// stack: Python (python3-grpcio, stubs from protoc's --python_out and
// grpc_python_plugin), Node.js (@grpc/grpc-js, stubs from the .proto files at
// load time by @grpc/proto-loader) and Go (Debian's Go toolchain, grpc-go and
// protoc-gen-go/protoc-gen-go-grpc, built offline in GOPATH mode). Each
// publishes a task, submits a run, watches it to the end and reads a NOT_FOUND.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/stack.h"
#include "tests/support/process.h"

namespace tasker::e2e {
namespace {

// ---- How the clients see the contract: the only lines to change when the protos move. ----
// The directory protoc's -I (and proto-loader's includeDirs) point at, workspace-relative: the
// root the files' import statements start from ("" is the workspace root).
constexpr char kProtoImportRoot[] = "proto";
// The public API's files under kProtoImportRoot (also listed as data in BUILD.bazel).
const std::vector<std::string> kProtoFiles = {
    "tasker/v1/common.proto",
    "tasker/v1/task_service.proto",
};
// The file that defines TaskService, under kProtoImportRoot (what proto-loader loads).
constexpr char kServiceProto[] = "tasker/v1/task_service.proto";
// Python: the package protoc generates the modules into (the files' directory, dotted).
constexpr char kPythonPackage[] = "tasker.v1";
// Go: the import path every file is generated under (protoc M options, whatever the files'
// go_package says); go/main.go imports it.
constexpr char kGoImportPath[] = "taskerclient/taskerv1";

// Where google/protobuf/*.proto are (libprotobuf-dev).
constexpr char kSystemProtos[] = "/usr/include";

// The JSON every client prints, checked the same way for each language.
void ExpectRunResult(const std::string& output, const std::string& lang) {
  auto result = nlohmann::json::parse(output, nullptr, false);
  ASSERT_FALSE(result.is_discarded()) << output;
  EXPECT_EQ(result["version"], 1) << output;  // a fresh stack: the first version
  const std::string expected = absl::StrCat(R"({"hello":")", lang, R"(","z":1,"a":-5})");
  EXPECT_EQ(result["result"], nlohmann::json::parse(expected)) << output;
  // The run's result as the task returned it (JSON.stringify): key order kept.
  EXPECT_EQ(result["resultJson"], expected) << output;
  ASSERT_TRUE(result["events"].is_array()) << output;
  ASSERT_FALSE(result["events"].empty()) << output;
  EXPECT_EQ(result["events"].back(), "RUN_STATUS_COMPLETED") << output;
  EXPECT_EQ(result["notFoundCode"], 5) << output;  // NOT_FOUND
  // google.rpc.Status details when the server sends them (an array either way), each named by its type.
  ASSERT_TRUE(result["notFoundDetails"].is_array()) << output;
  for (const auto& detail : result["notFoundDetails"]) {
    EXPECT_TRUE(detail.contains("@type") && detail["@type"].is_string()) << output;
  }
}

std::string ProtoRoot() { return testing::Runfile(kProtoImportRoot); }

std::string ProtoFileArgs() {
  std::vector<std::string> files;
  for (const auto& file : kProtoFiles) files.push_back(absl::StrCat("'", file, "'"));
  return absl::StrJoin(files, " ");
}

// Runs a shell command; fails the test (with its output) unless it exits 0.
std::string MustRun(const std::string& command) {
  auto [rc, output] = testing::RunCommand(command);
  EXPECT_EQ(rc, 0) << command << "\n" << output;
  return rc == 0 ? output : "";
}

// Generates the Python stubs into a fresh directory (the PYTHONPATH to run the client with).
std::string GeneratePython() {
  const std::string out = testing::MakeTempDir("python");
  MustRun(absl::StrCat("cd '", ProtoRoot(), "' && /usr/bin/protoc -I . -I ", kSystemProtos, " --python_out='", out,
                       "' --grpc_python_out='", out, "' --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin ",
                       ProtoFileArgs()));
  return out;
}

// Generates the Go stubs and builds go/main.go against them, offline: GOPATH mode over Debian's
// /usr/share/gocode (golang-google-grpc-dev, golang-google-protobuf-dev, golang-google-genproto-dev),
// no module proxy, a build cache of its own. Returns the binary's path; built once per test binary.
std::string BuildGo() {
  static std::string* built = nullptr;
  if (built != nullptr) return *built;
  const std::string gopath = testing::MakeTempDir("gopath");
  const std::string package_dir = absl::StrCat(gopath, "/src/", kGoImportPath);
  const std::string main_dir = absl::StrCat(gopath, "/src/taskerclient");
  std::string mappings;
  for (const auto& file : kProtoFiles) {
    absl::StrAppend(&mappings, mappings.empty() ? "" : ",", "M", file, "=", kGoImportPath);
  }
  MustRun(absl::StrCat("mkdir -p '", package_dir, "' && cp '", testing::Runfile("tests/clients/go/main.go"), "' '",
                       main_dir, "/main.go' && cd '", ProtoRoot(), "' && /usr/bin/protoc -I . -I ", kSystemProtos,
                       " --plugin=protoc-gen-go=/usr/bin/protoc-gen-go --go_out='", gopath, "/src' --go_opt=", mappings,
                       " --plugin=protoc-gen-go-grpc=/usr/bin/protoc-gen-go-grpc --go-grpc_out='", gopath,
                       "/src' --go-grpc_opt=", mappings, " ", ProtoFileArgs()));
  const std::string binary = absl::StrCat(gopath, "/task_client");
  MustRun(absl::StrCat("cd '", main_dir, "' && env HOME='", gopath, "' GOCACHE='", gopath, "/cache' GOPATH='", gopath,
                       ":/usr/share/gocode' GO111MODULE=off GOPROXY=off GOFLAGS= GOTOOLCHAIN=local CGO_ENABLED=0 ",
                       "/usr/bin/go build -o '", binary, "' ."));
  if (!::testing::Test::HasFailure()) built = new std::string(binary);
  return binary;
}

// Seconds since `start`, for the log: how long each language's generation/build takes.
double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(ClientsTest, PythonClientPublishesSubmitsAndWatches) {
  auto start = std::chrono::steady_clock::now();
  const std::string generated = GeneratePython();
  ASSERT_FALSE(HasFailure());
  std::cout << "python stubs generated in " << Since(start) << " s" << std::endl;
  auto stack = Stack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto [rc, output] = testing::RunCommand(absl::StrCat("PYTHONPATH='", generated, "' /usr/bin/python3 ",
                                                       testing::Runfile("tests/clients/task_client.py"), " ",
                                                       (*stack)->executor_target(), " ", kPythonPackage));
  ASSERT_EQ(rc, 0) << output;
  ExpectRunResult(output, "python");
  auto result = nlohmann::json::parse(output);
  EXPECT_EQ(result["notFoundName"], "NOT_FOUND") << output;
  // The message names what was not found.
  EXPECT_NE(result["notFoundMessage"].get<std::string>().find("run_nope"), std::string::npos) << output;
}

TEST(ClientsTest, NodeClientPublishesSubmitsAndWatches) {
  auto stack = Stack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto [rc, output] = testing::RunCommand(absl::StrCat(
      "NODE_PATH=/opt/tasker-npm/node_modules /usr/bin/node ", testing::Runfile("tests/clients/task_client.js"), " ",
      (*stack)->executor_target(), " '", ProtoRoot(), "' ", kServiceProto));
  ASSERT_EQ(rc, 0) << output;
  ExpectRunResult(output, "node");
}

TEST(ClientsTest, GoClientPublishesSubmitsAndWatches) {
  auto start = std::chrono::steady_clock::now();
  const std::string binary = BuildGo();
  ASSERT_FALSE(HasFailure());
  std::cout << "go client generated and built in " << Since(start) << " s" << std::endl;
  auto stack = Stack::Start({});
  ASSERT_TRUE(stack.ok()) << stack.status();
  auto [rc, output] = testing::RunCommand(absl::StrCat(binary, " ", (*stack)->executor_target()));
  ASSERT_EQ(rc, 0) << output;
  ExpectRunResult(output, "go");
  auto result = nlohmann::json::parse(output);
  EXPECT_NE(result["notFoundMessage"].get<std::string>().find("run_nope"), std::string::npos) << output;
}

// Each client decodes google.rpc.Status details (grpc-status-details-bin) when a server sends them: against
// details_server.py, a stand-in TaskService whose GetRun fails with an ErrorInfo and a BadRequest.
TEST(ClientsTest, ClientsPrintStatusDetails) {
  const std::string python_stubs = GeneratePython();
  const std::string go_binary = BuildGo();
  ASSERT_FALSE(HasFailure());
  const std::string port_file = absl::StrCat(testing::MakeTempDir("details"), "/port");
  auto server = testing::Subprocess::Start(
      {"/usr/bin/python3", testing::Runfile("tests/clients/details_server.py"), port_file, kPythonPackage},
      {{"PYTHONPATH", python_stubs}}, absl::StrCat(port_file, ".log"));
  ASSERT_TRUE(server.ok()) << server.status();
  auto port = testing::WaitForPortFile(port_file, absl::Seconds(20));
  ASSERT_TRUE(port.ok()) << port.status() << MustRun(absl::StrCat("cat '", port_file, ".log'"));
  const std::string target = absl::StrCat("127.0.0.1:", *port);
  const auto expected = nlohmann::json::parse(R"([
    {"@type": "google.rpc.ErrorInfo", "reason": "RUN_NOT_FOUND", "domain": "tasker.dev",
     "metadata": {"run": "run_nope"}},
    {"@type": "google.rpc.BadRequest", "fieldViolations": [{"field": "name", "description": "no run run_nope"}]}
  ])");
  const std::vector<std::pair<std::string, std::string>> clients = {
      {"python", absl::StrCat("PYTHONPATH='", python_stubs, "' /usr/bin/python3 ",
                              testing::Runfile("tests/clients/task_client.py"), " ", target, " ", kPythonPackage)},
      {"node", absl::StrCat("NODE_PATH=/opt/tasker-npm/node_modules /usr/bin/node ",
                            testing::Runfile("tests/clients/task_client.js"), " ", target, " '", ProtoRoot(), "' ",
                            kServiceProto)},
      {"go", absl::StrCat(go_binary, " ", target)},
  };
  for (const auto& [lang, command] : clients) {
    SCOPED_TRACE(lang);
    auto [rc, output] = testing::RunCommand(command);
    ASSERT_EQ(rc, 0) << output;
    ExpectRunResult(output, lang);
    EXPECT_EQ(nlohmann::json::parse(output)["notFoundDetails"], expected) << output;
  }
}

// Every client against a secured deployment: a token over mutual TLS, and UNAUTHENTICATED without it.
TEST(ClientsTest, ClientsWithATokenOverMutualTls) {
  const std::string python_stubs = GeneratePython();
  const std::string go_binary = BuildGo();
  ASSERT_FALSE(HasFailure());
  StackOptions options;
  options.secure = true;
  options.mtls = true;
  auto stack = Stack::Start(options);
  ASSERT_TRUE(stack.ok()) << stack.status();
  const std::string pki = (*stack)->dir();
  const std::string tls = absl::StrCat("TASKER_TLS_CA=", pki, "/ca.crt TASKER_TLS_CERT=", pki,
                                       "/tasker.crt TASKER_TLS_KEY=", pki, "/tasker.key ");
  const std::string target = (*stack)->executor_target();
  struct Client {
    std::string lang;
    std::string command;
  };
  const std::vector<Client> clients = {
      {"python", absl::StrCat("PYTHONPATH='", python_stubs, "' /usr/bin/python3 ",
                              testing::Runfile("tests/clients/task_client.py"), " ", target, " ", kPythonPackage)},
      {"node", absl::StrCat("NODE_NO_WARNINGS=1 NODE_PATH=/opt/tasker-npm/node_modules /usr/bin/node ",
                            testing::Runfile("tests/clients/task_client.js"), " ", target, " '", ProtoRoot(), "' ",
                            kServiceProto)},
      {"go", absl::StrCat(go_binary, " ", target)},
  };
  for (const auto& client : clients) {
    SCOPED_TRACE(client.lang);
    auto [rc, output] =
        testing::RunCommand(absl::StrCat("env ", tls, "TASKER_TOKEN=", (*stack)->token("client"), " ", client.command));
    ASSERT_EQ(rc, 0) << output;
    auto result = nlohmann::json::parse(output, nullptr, false);
    ASSERT_FALSE(result.is_discarded()) << output;
    EXPECT_EQ(result["resultJson"], absl::StrCat(R"({"hello":")", client.lang, R"(","z":1,"a":-5})"));
    // Without the token: UNAUTHENTICATED from the first call.
    auto [anon_rc, anon] = testing::RunCommand(absl::StrCat("env ", tls, client.command));
    EXPECT_NE(anon_rc, 0);
    EXPECT_NE(anon.find("UNAUTHENTICATED"), std::string::npos) << anon;
  }
}

}  // namespace
}  // namespace tasker::e2e
