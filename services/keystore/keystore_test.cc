// The keystore: encryption at rest (checked on the database's own bytes),
// master-key checks and rotation (previous keys, re-encryption, version 1
// values), namespace access rules, bad input; and the binary through gRPC
// over a real storage service, including its --reencrypt command.
#include "services/keystore/keystore.h"

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/keystore/keystore_service.h"
#include "tasker/v1/keystore.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/status.h"
#include "storage/open_store.h"
#include "tests/support/process.h"

namespace tasker::keystore {
namespace {

constexpr char kKeyHex[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
constexpr char kOtherKeyHex[] = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";
constexpr char kThirdKeyHex[] = "0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000";
constexpr char kSecret[] = "-----BEGIN PRIVATE KEY----- super-secret-service-account";

// Sealed by the version 1 cipher (before key ids) under kKeyHex: the check
// value, "legacy-secret" in global/LEGACY_KEY and the policy "task-readable"
// of the namespace "shared". Stores written then must keep opening.
constexpr char kLegacyCheckHex[] =
    "01d7bff4891eae35ba7d7936fbf7d1c8709a5b1bc1caa2c7845adc91223d62b958926bfd9aee465317bbdfd21c6f5a4fe12278fe75aa05"
    "ed9d3b985195111ff0";
constexpr char kLegacyValueHex[] =
    "0190d4c044517a07bc2812d6bf469d8dad527d48ee74064e5d2023b6cf7ed9ff4eed616b634b7ecd5a7a";
constexpr char kLegacyPolicyHex[] =
    "016e878fb1aad7c05110151d6f808e7ae44866e8b7e7bd645396c0f3106518e3b504e4e5cb15c3183a2f";

Keyring Keys(const char* current, const std::vector<const char*>& previous = {}) {
  std::vector<Cipher> keys;
  for (const char* key : previous) keys.push_back(*Cipher::FromKeyMaterial(key));
  return Keyring(*Cipher::FromKeyMaterial(current), std::move(keys));
}
std::string IdHex(const char* key) { return Cipher::FromKeyMaterial(key)->KeyIdHex(); }

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
  // The key id the stored value names ("" for version 1 values).
  std::string StoredKeyId(const std::string& ns, const std::string& key) {
    auto row = store_->GetKeystoreEntry(ns, key);
    if (!row.ok()) return "missing";
    auto id = Cipher::KeyIdOf(row->encrypted_value());
    return id ? absl::BytesToHexString(*id) : "";
  }
  void PutRaw(const std::string& ns, const std::string& key, const std::string& sealed) {
    v1::KeystoreRow row;
    row.set_namespace_(ns);
    row.set_key(key);
    row.set_encrypted_value(sealed);
    ASSERT_TRUE(store_->PutKeystoreEntry(row).ok());
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

TEST(CipherTest, SealsWithAKeyIdThatIsNotTheKey) {
  auto a = *Cipher::FromKeyMaterial(kKeyHex);
  auto b = *Cipher::FromKeyMaterial(kOtherKeyHex);
  EXPECT_EQ(a.key_id().size(), 8u);
  EXPECT_EQ(a.KeyIdHex(), Cipher::FromKeyMaterial(absl::HexStringToBytes(kKeyHex))->KeyIdHex());  // raw = hex
  EXPECT_NE(a.key_id(), b.key_id());
  EXPECT_EQ(std::string(kKeyHex).find(a.KeyIdHex()), std::string::npos);
  auto sealed = a.Seal("plain-secret", "ns/k");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), 1 + 8 + 12 + 12 + 16u);
  EXPECT_EQ((*sealed)[0], 0x02);
  EXPECT_EQ(Cipher::KeyIdOf(*sealed), a.key_id());
  EXPECT_EQ(*a.Open(*sealed, "ns/k"), "plain-secret");
  EXPECT_EQ(b.Open(*sealed, "ns/k").status().code(), absl::StatusCode::kDataLoss);
  // The header is authenticated: naming another key id does not open under either key.
  std::string relabelled = *sealed;
  relabelled.replace(1, 8, b.key_id());
  EXPECT_EQ(b.Open(relabelled, "ns/k").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(a.Open(relabelled, "ns/k").status().code(), absl::StatusCode::kDataLoss);
  // A keyring opens by key id, seals with the current key, and names only key ids when it cannot open.
  Keyring ring(b, {a, *Cipher::FromKeyMaterial(kKeyHex), b});  // duplicates dropped
  EXPECT_EQ(ring.previous().size(), 1u);
  auto opened = ring.Open(*sealed, "ns/k");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(opened->plaintext, "plain-secret");
  EXPECT_FALSE(opened->under_current);
  EXPECT_EQ(opened->key->key_id(), a.key_id());
  EXPECT_EQ(Cipher::KeyIdOf(*ring.Seal("x", "ns/k")), b.key_id());
  auto unknown = Keyring(*Cipher::FromKeyMaterial(kThirdKeyHex)).Open(*sealed, "ns/k");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(unknown.status().message().find(a.KeyIdHex()), std::string::npos) << unknown.status();
  EXPECT_EQ(unknown.status().message().find("plain-secret"), std::string::npos) << unknown.status();
  EXPECT_EQ(ring.Open("\x02short", "ns/k").status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(KeystoreCoreTest, MasterKeyRotatesWithoutLosingEntries) {
  ASSERT_TRUE(Set("global", "GAPI_KEY", kSecret).ok());
  ASSERT_TRUE(Set("global", "OTHER", "other-value").ok());
  ASSERT_TRUE(Set("shared", "greeting", "hello").ok());
  v1::SetNamespacePolicyRequest policy;
  policy.set_namespace_("shared");
  policy.set_task_readable(true);
  ASSERT_TRUE(core_->SetPolicy(policy, Caller{true}).ok());

  // The new key alone, or with a wrong previous key, is not the store's: refused, naming the flags, no key material.
  for (const auto& keys : {Keys(kOtherKeyHex), Keys(kOtherKeyHex, {kThirdKeyHex})}) {
    auto refused = KeystoreCore::Open(store_.get(), keys);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
    const std::string message(refused.status().message());
    EXPECT_NE(message.find("does not match"), std::string::npos) << message;
    EXPECT_NE(message.find("--master_key_file"), std::string::npos) << message;
    EXPECT_NE(message.find("--previous_master_key_files"), std::string::npos) << message;
    EXPECT_NE(message.find("TASKER_PREVIOUS_MASTER_KEYS"), std::string::npos) << message;
    EXPECT_NE(message.find(IdHex(kKeyHex)), std::string::npos) << message;  // the store's key id
    for (const char* key : {kKeyHex, kOtherKeyHex, kThirdKeyHex}) EXPECT_EQ(message.find(key), std::string::npos);
  }

  // New key with the old one as previous: everything opens, new writes are sealed under the new key.
  auto rotated = KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex, {kKeyHex}));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  core_ = std::move(*rotated);
  EXPECT_EQ(*Get("global", "GAPI_KEY", true), kSecret);
  EXPECT_EQ(*Get("shared", "greeting", false), "hello");  // the policy (sealed under the old key) still reads
  ASSERT_TRUE(Set("global", "NEW", "new-value").ok());
  EXPECT_EQ(StoredKeyId("global", "NEW"), IdHex(kOtherKeyHex));
  EXPECT_EQ(StoredKeyId("global", "GAPI_KEY"), IdHex(kKeyHex));
  EXPECT_EQ(StoredKeyId("__tasker.meta", "master-key-check"), IdHex(kOtherKeyHex));

  // Until re-encrypted, values are still under the old key: the new key alone is refused, naming the old key's id.
  auto early = KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(early.status().message().find(IdHex(kKeyHex)), std::string::npos) << early.status();
  EXPECT_NE(early.status().message().find("--reencrypt"), std::string::npos) << early.status();
  // A second replica restarting with both keys is fine.
  EXPECT_TRUE(KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex, {kKeyHex})).ok());

  auto report = core_->Reencrypt();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->entries, 5);  // GAPI_KEY, OTHER, NEW, greeting and the policy of "shared"
  EXPECT_EQ(report->reencrypted, 4);
  EXPECT_EQ(report->already_current, 1);
  EXPECT_TRUE(report->unreadable.empty());
  EXPECT_EQ(report->Summary(), "re-encrypted 4 of 5 entries; 1 already under the current key");
  for (const auto& [ns, key] : std::vector<std::pair<std::string, std::string>>{
           {"global", "GAPI_KEY"}, {"global", "OTHER"}, {"shared", "greeting"}, {"__tasker.policy", "shared"}}) {
    EXPECT_EQ(StoredKeyId(ns, key), IdHex(kOtherKeyHex)) << ns << "/" << key;
  }
  auto again = core_->Reencrypt();  // idempotent
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->Summary(), "re-encrypted 0 of 5 entries; 5 already under the current key");

  // The new key alone now opens everything; the old key alone is refused.
  auto alone = KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex));
  ASSERT_TRUE(alone.ok()) << alone.status();
  core_ = std::move(*alone);
  EXPECT_EQ(*Get("global", "GAPI_KEY", true), kSecret);
  EXPECT_EQ(*Get("global", "OTHER", true), "other-value");
  EXPECT_EQ(*Get("global", "NEW", true), "new-value");
  EXPECT_EQ(*Get("shared", "greeting", false), "hello");
  auto old = KeystoreCore::Open(store_.get(), Keys(kKeyHex));
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(old.status().message().find("does not match"), std::string::npos);
}

TEST_F(KeystoreCoreTest, ReencryptReportsAndLeavesValuesNoKeyOpens) {
  ASSERT_TRUE(Set("global", "a", "value-a").ok());
  ASSERT_TRUE(Set("global", "b", "value-b").ok());
  auto tampered = store_->GetKeystoreEntry("global", "b");
  ASSERT_TRUE(tampered.ok());
  std::string bytes = tampered->encrypted_value();
  bytes.back() ^= 0x01;
  PutRaw("global", "b", bytes);

  auto rotated = KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex, {kKeyHex}));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  core_ = std::move(*rotated);
  auto report = core_->Reencrypt();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->entries, 2);
  EXPECT_EQ(report->reencrypted, 1);
  ASSERT_EQ(report->unreadable.size(), 1u);
  EXPECT_EQ(report->unreadable[0].rfind("global/b: ", 0), 0u) << report->unreadable[0];
  EXPECT_EQ(report->unreadable[0].find("value-b"), std::string::npos);
  EXPECT_EQ(report->Summary(),
            "re-encrypted 1 of 2 entries; 0 already under the current key; 1 open under no known key and were "
            "left untouched");
  EXPECT_EQ(store_->GetKeystoreEntry("global", "b")->encrypted_value(), bytes);  // untouched
  EXPECT_EQ(StoredKeyId("global", "a"), IdHex(kOtherKeyHex));
  // The old key stays required until every value opened under the new one.
  EXPECT_EQ(KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex)).status().code(),
            absl::StatusCode::kFailedPrecondition);

  // Once the operator dealt with it (here: deleted it), a rerun finishes the rotation.
  v1::DeleteKeyRequest del;
  del.set_namespace_("global");
  del.set_key("b");
  ASSERT_TRUE(*core_->Delete(del, Caller{true}));
  auto rerun = core_->Reencrypt();
  ASSERT_TRUE(rerun.ok());
  EXPECT_EQ(rerun->Summary(), "re-encrypted 0 of 1 entries; 1 already under the current key");
  auto alone = KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex));
  ASSERT_TRUE(alone.ok()) << alone.status();
  core_ = std::move(*alone);
  EXPECT_EQ(*Get("global", "a", true), "value-a");
}

TEST_F(KeystoreCoreTest, Version1ValuesStillOpenAndRotate) {
  // A store written before key ids: its check value, a key and a policy, all version 1 under kKeyHex.
  core_.reset();
  store_.reset();
  store_ = std::move(*storage::OpenStore("sqlite://" + dir_ + "/legacy.db"));
  PutRaw("__tasker.meta", "master-key-check", absl::HexStringToBytes(kLegacyCheckHex));
  PutRaw("global", "LEGACY_KEY", absl::HexStringToBytes(kLegacyValueHex));
  PutRaw("__tasker.policy", "shared", absl::HexStringToBytes(kLegacyPolicyHex));
  EXPECT_EQ(StoredKeyId("global", "LEGACY_KEY"), "");

  // With the key it was sealed under, as before.
  EXPECT_EQ(KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto same = KeystoreCore::Open(store_.get(), Keys(kKeyHex));
  ASSERT_TRUE(same.ok()) << same.status();
  core_ = std::move(*same);
  EXPECT_EQ(*Get("global", "LEGACY_KEY", true), "legacy-secret");
  EXPECT_TRUE(*core_->IsTaskReadable("shared"));
  EXPECT_EQ(StoredKeyId("global", "LEGACY_KEY"), "");  // reading rewrites nothing

  // Rotating: version 1 values (no key id) are tried under each key.
  PutRaw("__tasker.meta", "master-key-check", absl::HexStringToBytes(kLegacyCheckHex));  // as first found
  auto rotated = KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex, {kKeyHex}));
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  core_ = std::move(*rotated);
  EXPECT_EQ(*Get("global", "LEGACY_KEY", true), "legacy-secret");
  EXPECT_EQ(KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto report = core_->Reencrypt();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->Summary(), "re-encrypted 2 of 2 entries; 0 already under the current key");
  EXPECT_EQ(StoredKeyId("global", "LEGACY_KEY"), IdHex(kOtherKeyHex));
  auto alone = KeystoreCore::Open(store_.get(), Keys(kOtherKeyHex));
  ASSERT_TRUE(alone.ok()) << alone.status();
  core_ = std::move(*alone);
  EXPECT_EQ(*Get("global", "LEGACY_KEY", true), "legacy-secret");
  EXPECT_TRUE(*core_->IsTaskReadable("shared"));
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

  // Runs `keystore --reencrypt` to its end; returns the exit code (-1: did not exit), output in `log`.
  int RunReencrypt(const std::vector<std::string>& flags, const std::map<std::string, std::string>& env,
                   const std::string& log) {
    std::vector<std::string> argv = {tasker::testing::Runfile("services/keystore/keystore"), "--reencrypt",
                                     "--storage=" + storage_target_, "--port_file=" + dir_ + "/re.port",
                                     "--credentials_file=" + dir_ + "/credentials"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    std::map<std::string, std::string> with_token = env;
    with_token["TASKER_TOKEN"] = kKeystoreToken;
    auto run = tasker::testing::Subprocess::Start(argv, with_token, dir_ + "/" + log);
    if (!run.ok()) return -1;
    auto status = (*run)->Wait(absl::Seconds(30));
    return status.has_value() && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }
  void WriteFile(const std::string& name, const std::string& text) { std::ofstream(dir_ + "/" + name) << text; }

  std::unique_ptr<v1::Keystore::Stub> StubFor(int port) {
    return v1::Keystore::NewStub(
        *MakeChannel({.target = absl::StrCat("127.0.0.1:", port), .auth_token = kProxyToken}));
  }
  grpc::Status SetKey(v1::Keystore::Stub* stub, const std::string& key, const std::string& value) {
    grpc::ClientContext context;
    v1::SetKeyRequest set;
    set.set_namespace_("global");
    set.set_key(key);
    set.set_value(value);
    v1::SetKeyResponse response;
    return stub->SetKey(&context, set, &response);
  }
  absl::StatusOr<std::string> GetKey(v1::Keystore::Stub* stub, const std::string& key) {
    grpc::ClientContext context;
    v1::GetKeyRequest get;
    get.set_namespace_("global");
    get.set_key(key);
    v1::GetKeyResponse response;
    grpc::Status status = stub->GetKey(&context, get, &response);
    if (!status.ok()) return tasker::FromGrpcStatus(status);
    return response.value();
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

TEST_F(KeystoreBinaryTest, ReencryptCommandRotatesTheMasterKey) {
  {
    auto ks = StartKeystore(kKeyHex, "old.log");
    ASSERT_NE(ks, nullptr);
    auto port = tasker::testing::WaitForPortFile(dir_ + "/ks.port", absl::Seconds(20));
    ASSERT_TRUE(port.ok()) << ReadFile(dir_ + "/old.log");
    auto stub = StubFor(*port);
    ASSERT_TRUE(SetKey(stub.get(), "OPENAI_API_KEY", "sk-rotate-1").ok());
    ASSERT_TRUE(SetKey(stub.get(), "GAPI_KEY", "sk-rotate-2").ok());
    ks->Signal(SIGTERM);
    ASSERT_TRUE(ks->Wait(absl::Seconds(10)).has_value());
  }
  WriteFile("new.key", kOtherKeyHex);
  WriteFile("old.key", kKeyHex);

  // The new key without the old one: a configuration error naming the flags.
  EXPECT_EQ(RunReencrypt({"--master_key_file=" + dir_ + "/new.key"}, {}, "refused.log"), 2);
  EXPECT_NE(ReadFile(dir_ + "/refused.log").find("--previous_master_key_files"), std::string::npos)
      << ReadFile(dir_ + "/refused.log");

  EXPECT_EQ(RunReencrypt({"--master_key_file=" + dir_ + "/new.key",
                          "--previous_master_key_files=" + dir_ + "/old.key"},
                         {}, "reencrypt.log"),
            0)
      << ReadFile(dir_ + "/reencrypt.log");
  EXPECT_NE(ReadFile(dir_ + "/reencrypt.log").find("re-encrypted 2 of 2 entries; 0 already under the current key"),
            std::string::npos)
      << ReadFile(dir_ + "/reencrypt.log");
  EXPECT_FALSE(std::ifstream(dir_ + "/re.port").good());  // no server was started
  // Again, with the keys from the environment: nothing left to do.
  EXPECT_EQ(RunReencrypt({}, {{"TASKER_MASTER_KEY", kOtherKeyHex}, {"TASKER_PREVIOUS_MASTER_KEYS", kKeyHex}},
                         "again.log"),
            0);
  EXPECT_NE(ReadFile(dir_ + "/again.log").find("re-encrypted 0 of 2 entries; 2 already under the current key"),
            std::string::npos)
      << ReadFile(dir_ + "/again.log");

  // The new key alone serves everything.
  auto ks = StartKeystore(kOtherKeyHex, "new.log");
  ASSERT_NE(ks, nullptr);
  auto port = tasker::testing::WaitForPortFile(dir_ + "/ks.port", absl::Seconds(20));
  ASSERT_TRUE(port.ok()) << ReadFile(dir_ + "/new.log");
  auto stub = StubFor(*port);
  EXPECT_EQ(*GetKey(stub.get(), "OPENAI_API_KEY"), "sk-rotate-1");
  EXPECT_EQ(*GetKey(stub.get(), "GAPI_KEY"), "sk-rotate-2");
  ks->Signal(SIGTERM);
  ks->Wait(absl::Seconds(10));

  const std::string logs = ReadFile(dir_ + "/old.log") + ReadFile(dir_ + "/refused.log") +
                           ReadFile(dir_ + "/reencrypt.log") + ReadFile(dir_ + "/again.log") +
                           ReadFile(dir_ + "/new.log") + ReadFile(dir_ + "/storage.log");
  for (const char* secret : {"sk-rotate-1", "sk-rotate-2", kKeyHex, kOtherKeyHex}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << secret;
  }
}

}  // namespace
}  // namespace tasker::keystore
