#include "services/proxy/secrets.h"

#include "absl/strings/str_cat.h"
#include "tasker/v1/keystore.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/status.h"

namespace tasker::proxy {
namespace {

class KeystoreSecretSource : public SecretSource {
 public:
  explicit KeystoreSecretSource(std::shared_ptr<grpc::Channel> channel)
      : stub_(tasker::v1::Keystore::NewStub(std::move(channel))) {}

  absl::StatusOr<std::string> Get(const std::string& ns, const std::string& key) override {
    auto context = MakeWaitingContext(absl::Seconds(10));
    tasker::v1::GetKeyRequest request;
    request.set_namespace_(ns);
    request.set_key(key);
    tasker::v1::GetKeyResponse response;
    grpc::Status status = stub_->GetKey(context.get(), request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response.value();
  }

 private:
  std::unique_ptr<tasker::v1::Keystore::Stub> stub_;
};

}  // namespace

std::unique_ptr<SecretSource> KeystoreSecrets(std::shared_ptr<grpc::Channel> channel) {
  return std::make_unique<KeystoreSecretSource>(std::move(channel));
}

absl::StatusOr<std::string> StaticSecrets::Get(const std::string& ns, const std::string& key) {
  auto it = values_.find(absl::StrCat(ns, "/", key));
  if (it == values_.end()) return absl::NotFoundError(absl::StrCat("secret ", ns, "/", key, " is not set"));
  return it->second;
}

}  // namespace tasker::proxy
