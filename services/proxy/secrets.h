// Where providers read credentials: the keystore (namespace "global" by
// default). Implementations must never log values.
#ifndef TASKER_SERVICES_PROXY_SECRETS_H_
#define TASKER_SERVICES_PROXY_SECRETS_H_

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace tasker::proxy {

class SecretSource {
 public:
  virtual ~SecretSource() = default;
  // NOT_FOUND when the secret is not set.
  virtual absl::StatusOr<std::string> Get(const std::string& ns, const std::string& key) = 0;
};

// Reads from the keystore service (the channel carries the proxy's token).
std::unique_ptr<SecretSource> KeystoreSecrets(std::shared_ptr<grpc::Channel> channel);

// Fixed values (tests, local development).
class StaticSecrets : public SecretSource {
 public:
  explicit StaticSecrets(std::map<std::string, std::string> values) : values_(std::move(values)) {}
  absl::StatusOr<std::string> Get(const std::string& ns, const std::string& key) override;

 private:
  std::map<std::string, std::string> values_;  // "ns/key" -> value
};

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_SECRETS_H_
