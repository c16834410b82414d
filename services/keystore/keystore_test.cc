// The keystore: encryption at rest (checked on the database's own bytes),
// master-key checks, namespace access rules, bad input; and the binary
// through gRPC over a real storage service.
#include "services/keystore/keystore.h"

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/keystore/keystore_service.h"
#include "proto/tasker/v1/keystore.grpc.pb.h"
#include "runtime/client/channel.h"
#include "storage/open_store.h"
#include "tests/support/process.h"

namespace tasker::keystore {
namespace {

constexpr char kKeyHex[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr char kOtherKeyHex[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
constexpr char kSecret[] = "-----BEGIN PRIVATE KEY----- super-secret-service-account";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class KeystoreCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tasker::testing::MakeTempDir("ks");
    auto store = storage::OpenStore("sqlite://" + dir_ + "/tasks.db");
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    auto core = KeystoreCore::Open(store_.get(), *Cipher::FromKeyMaterial(kKeyHex));
    ASSERT_TRUE(core.ok()) << core.status();
    core_ = std::move(*core);
  }

  absl::Status Set(const std::string& ns, const std::string& key, const std::string& value,
                   bool privileged = true) {
    v1::SetKeyRequest r;
    r.set_namespace_(ns);
    r.set_key(key);
    r.set_value(value);
    return core_->Set(r, Caller{privileged}).status();
  }
  absl::StatusOr<std::string> Get(const std::string& ns, const std::string& key, bool privileged) {
    v1::GetKeyRequest r;
    r.set_namespace_(ns);
    r.set_key(key);
    auto got = core_->Get(r, Caller{privileged});
    if (!got.ok()) return got.status();
    return got->value();
  }

  std::string dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<KeystoreCore> core_;
};

TEST_F(KeystoreCoreTest, ValuesRoundTripAndNeverReachTheDatabaseInPlaintext) {
  ASSERT_TRUE(Set("global", "GAPI_KEY", kSecret).ok());
  EXPECT_EQ(*Get("global", "GAPI_KEY", true), kSecret);
  store_.reset();  // checkpoint and close
  const std::string bytes = ReadFile(dir_ + "/tasks.db") + ReadFile(dir_ + "/tasks.db-wal");
  EXPECT_GT(bytes.size(), 0u);
  EXPECT_EQ(bytes.find("super-secret-service-account"), std::string::npos);
  EXPECT_NE(bytes.find("GAPI_KEY"), std::string::npos);  // the key name is not secret
}

TEST_F(KeystoreCoreTest, WrongMasterKeyIsRefusedAtOpen) {
  ASSERT_TRUE(Set("global", "k", "v").ok());
  auto wrong = KeystoreCore::Open(store_.get(), *Cipher::FromKeyMaterial(kOtherKeyHex));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.status().message().find("master key"), std::string::npos);
  EXPECT_EQ(Cipher::FromKeyMaterial("too short").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Cipher::FromKeyMaterial(std::string(32, 'k')).ok());
}

TEST_F(KeystoreCoreTest, SealedValuesAreBoundToTheirSlot) {
  ASSERT_TRUE(Set("global", "a", "value-a").ok());
  auto row = store_->GetKeystoreEntry("global", "a");
  row->set_key("b");
  ASSERT_TRUE(store_->PutKeystoreEntry(*row).ok());
  EXPECT_EQ(Get("global", "b", true).status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(KeystoreCoreTest, SecretNamespacesNeedTheServiceToken) {
  ASSERT_TRUE(Set("global", "GAPI_KEY", kSecret).ok());
  ASSERT_TRUE(Set("shared", "greeting", "hello").ok());
  v1::SetNamespacePolicyRequest policy;
  policy.set_namespace_("shared");
  policy.set_task_readable(true);
  EXPECT_EQ(core_->SetPolicy(policy, Caller{false}).status().code(), absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(core_->SetPolicy(policy, Caller{true}).ok());
  EXPECT_EQ(Get("global", "GAPI_KEY", false).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(*Get("shared", "greeting", false), "hello");
  EXPECT_EQ(Set("shared", "x", "y", false).code(), absl::StatusCode::kPermissionDenied);
  auto namespaces = core_->ListNamespaces();
  ASSERT_TRUE(namespaces.ok());
  ASSERT_EQ(namespaces->size(), 2u);
  EXPECT_EQ((*namespaces)[0].namespace_(), "global");
  EXPECT_FALSE((*namespaces)[0].task_readable());
  EXPECT_TRUE((*namespaces)[1].task_readable());
  EXPECT_TRUE(*core_->IsTaskReadable("shared"));
  EXPECT_FALSE(*core_->IsTaskReadable("global"));
}

TEST_F(KeystoreCoreTest, BadInputIsRejected) {
  EXPECT_EQ(Set("bad ns", "k", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Set("ns", "", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Set("__tasker.meta", "k", "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Set("ns", "k", std::string((1 << 20) + 1, 'x')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Get("ns", "missing", true).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(core_->ListKeys("").status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(Set("ns", "k1", "").ok());  // empty values are values
  EXPECT_EQ(*Get("ns", "k1", true), "");
  EXPECT_TRUE(*core_->Has("ns", "k1"));
  v1::DeleteKeyRequest del;
  del.set_namespace_("ns");
  del.set_key("k1");
  EXPECT_TRUE(*core_->Delete(del, Caller{true}));
  EXPECT_FALSE(*core_->Has("ns", "k1"));
}

constexpr char kKeystoreToken[] = "keystore-token-0123456789";
constexpr char kProxyToken[] = "proxy-token-0123456789";
constexpr char kClientToken[] = "client-token-0123456789";

class KeystoreBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tasker::testing::MakeTempDir("ksbin");
    std::ofstream(dir_ + "/credentials") << "keystore-1 keystore " << kKeystoreToken << "\n"
                                         << "proxy-1 proxy " << kProxyToken << "\n"
                                         << "someone client " << kClientToken << "\n";
    auto storage = tasker::testing::Subprocess::Start(
        {tasker::testing::Runfile("services/storage/storage-service"), "--port_file=" + dir_ + "/storage.port",
         "--database_url=sqlite://" + dir_ + "/tasks.db", "--credentials_file=" + dir_ + "/credentials"},
        {}, dir_ + "/storage.log");
    ASSERT_TRUE(storage.ok());
    storage_ = std::move(*storage);
    auto port = tasker::testing::WaitForPortFile(dir_ + "/storage.port", absl::Seconds(20));
    ASSERT_TRUE(port.ok());
    storage_target_ = absl::StrCat("127.0.0.1:", *port);
  }

  std::unique_ptr<tasker::testing::Subprocess> StartKeystore(const std::string& master_key,
                                                             const std::string& log) {
    std::map<std::string, std::string> env = {{"TASKER_TOKEN", kKeystoreToken}};
    if (!master_key.empty()) env["TASKER_MASTER_KEY"] = master_key;
    std::remove((dir_ + "/ks.port").c_str());
    auto ks = tasker::testing::Subprocess::Start(
        {tasker::testing::Runfile("services/keystore/keystore"), "--storage=" + storage_target_,
         "--port_file=" + dir_ + "/ks.port", "--credentials_file=" + dir_ + "/credentials"},
        env, dir_ + "/" + log);
    return ks.ok() ? std::move(*ks) : nullptr;
  }

  std::string dir_;
  std::string storage_target_;
  std::unique_ptr<tasker::testing::Subprocess> storage_;
};

TEST_F(KeystoreBinaryTest, ServesOverGrpcAndRefusesBadMasterKeys) {
  auto missing = StartKeystore("", "missing.log");
  ASSERT_NE(missing, nullptr);
  auto missing_exit = missing->Wait(absl::Seconds(20));
  ASSERT_TRUE(missing_exit.has_value());
  EXPECT_EQ(WEXITSTATUS(*missing_exit), 2);
  EXPECT_NE(ReadFile(dir_ + "/missing.log").find("no master key"), std::string::npos);

  auto ks = StartKeystore(kKeyHex, "ks.log");
  ASSERT_NE(ks, nullptr);
  auto port = tasker::testing::WaitForPortFile(dir_ + "/ks.port", absl::Seconds(20));
  ASSERT_TRUE(port.ok()) << ReadFile(dir_ + "/ks.log");
  const std::string target = absl::StrCat("127.0.0.1:", *port);
  auto stub = v1::Keystore::NewStub(*MakeChannel({.target = target, .auth_token = kProxyToken}));
  {
    grpc::ClientContext context;
    v1::SetKeyRequest set;
    set.set_namespace_("global");
    set.set_key("OPENAI_API_KEY");
    set.set_value("sk-test-123");
    v1::SetKeyResponse response;
    ASSERT_TRUE(stub->SetKey(&context, set, &response).ok());
    EXPECT_TRUE(response.has_updated_at());
  }
  for (const std::string& token : {std::string(kClientToken), std::string(kKeystoreToken), std::string()}) {
    // A client, the keystore's own identity (a storage caller) or nobody.
    auto other = v1::Keystore::NewStub(*MakeChannel({.target = target, .auth_token = token}));
    grpc::ClientContext context;
    v1::GetKeyRequest get;
    get.set_namespace_("global");
    get.set_key("OPENAI_API_KEY");
    v1::GetKeyResponse response;
    grpc::Status status = other->GetKey(&context, get, &response);
    EXPECT_EQ(status.error_code(),
              token.empty() ? grpc::StatusCode::UNAUTHENTICATED : grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_TRUE(response.value().empty());
  }
  {
    grpc::ClientContext context;
    v1::GetKeyRequest get;
    get.set_namespace_("global");
    get.set_key("OPENAI_API_KEY");
    v1::GetKeyResponse response;
    ASSERT_TRUE(stub->GetKey(&context, get, &response).ok());
    EXPECT_EQ(response.value(), "sk-test-123");
  }
  ks->Signal(SIGTERM);
  ks->Wait(absl::Seconds(10));
  // The same data with another master key: a clear start-up error.
  auto wrong = StartKeystore(kOtherKeyHex, "wrong.log");
  ASSERT_NE(wrong, nullptr);
  auto wrong_exit = wrong->Wait(absl::Seconds(20));
  ASSERT_TRUE(wrong_exit.has_value());
  EXPECT_NE(WEXITSTATUS(*wrong_exit), 0);
  EXPECT_NE(ReadFile(dir_ + "/wrong.log").find("does not match"), std::string::npos) << ReadFile(dir_ + "/wrong.log");
  // No log, not even a refused start-up's, contains the secret or either master key.
  const std::string logs = ReadFile(dir_ + "/ks.log") + ReadFile(dir_ + "/storage.log") +
                           ReadFile(dir_ + "/wrong.log") + ReadFile(dir_ + "/missing.log");
  EXPECT_EQ(logs.find("sk-test-123"), std::string::npos);
  // The write is audited with the writer's identity.
  EXPECT_NE(ReadFile(dir_ + "/ks.log").find(R"("event":"keystore_write")"), std::string::npos);
  EXPECT_NE(ReadFile(dir_ + "/ks.log").find(R"("identity":"proxy-1")"), std::string::npos);
  EXPECT_EQ(logs.find(kKeyHex), std::string::npos);
  EXPECT_EQ(logs.find(kOtherKeyHex), std::string::npos);
}

}  // namespace
}  // namespace tasker::keystore
