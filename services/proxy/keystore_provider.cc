#include "services/proxy/keystore_provider.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/keystore/keystore_service.h"
#include "proto/tasker/v1/keystore.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/status.h"

namespace tasker::proxy {
namespace {

namespace v1 = ::tasker::v1;

class KeystoreProvider : public Provider {
 public:
  KeystoreProvider(std::shared_ptr<grpc::Channel> channel, std::string secrets_namespace)
      : stub_(v1::Keystore::NewStub(std::move(channel))), secrets_namespace_(std::move(secrets_namespace)) {}
  std::string name() const override { return "keystore"; }
  std::string description() const override { return "Keys in the keystore namespaces the task is granted"; }
  std::vector<std::string> methods() const override { return {"get", "set", "list", "has"}; }

  absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method,
                                   const Json& raw_args) override {
    if (method != "get" && method != "set" && method != "list" && method != "has") {
      return absl::InvalidArgumentError(absl::StrCat("method: keystore has no method '", method,
                                                     "'; supported: ", absl::StrJoin(methods(), ", ")));
    }
    auto args = NormalizeArgs(raw_args);
    if (!args.ok()) return args.status();
    ASSIGN_OR_RETURN(const std::string ns, StringArg(*args, "namespace"));
    ASSIGN_OR_RETURN(const std::string key, StringArg(*args, "key"));
    if (ns.empty()) return absl::InvalidArgumentError("args.namespace: required");
    if (method != "list" && key.empty()) return absl::InvalidArgumentError("args.key: required");
    const bool write = method == "set";
    if (ns == secrets_namespace_) {
      return Denied(context, absl::PermissionDeniedError(absl::StrCat(
                                 "namespace '", ns, "' holds the providers' credentials: no task may reach it")));
    }
    if (context.grants == nullptr) return Denied(context, absl::PermissionDeniedError("no grants on the call"));
    if (absl::Status allowed = context.grants->CheckKeystore(write, ns); !allowed.ok()) {
      return Denied(context, allowed);
    }
    // The operator's switch, per namespace: only namespaces marked
    // task-readable (SetNamespacePolicy) face task code at all, whatever a
    // function was granted ("*" included).
    auto readable = Readable(ns);
    if (!readable.ok()) return CallOutcome::Error("UNAVAILABLE", std::string(readable.status().message()), true);
    if (!*readable) {
      return Denied(context, absl::PermissionDeniedError(absl::StrCat(
                                 "namespace '", ns,
                                 "' is not task-readable (an operator marks it so with SetNamespacePolicy)")));
    }
    grpc::Status status;
    Json result;
    if (method == "get") {
      v1::GetKeyRequest request;
      request.set_namespace_(ns);
      request.set_key(key);
      v1::GetKeyResponse response;
      status = stub_->GetKey(Context(context).get(), request, &response);
      result = response.value();
    } else if (method == "has") {
      v1::HasKeyRequest request;
      request.set_namespace_(ns);
      request.set_key(key);
      v1::HasKeyResponse response;
      status = stub_->HasKey(Context(context).get(), request, &response);
      result = response.exists();
    } else if (method == "list") {
      v1::ListKeysRequest request;
      request.set_namespace_(ns);
      v1::ListKeysResponse response;
      status = stub_->ListKeys(Context(context).get(), request, &response);
      result = Json(std::vector<std::string>(response.keys().begin(), response.keys().end()));
    } else {
      if (!args->contains("value") || !(*args)["value"].is_string()) {
        return absl::InvalidArgumentError("args.value: a string is required");
      }
      v1::SetKeyRequest request;
      request.set_namespace_(ns);
      request.set_key(key);
      request.set_value((*args)["value"].get<std::string>());
      v1::SetKeyResponse response;
      status = stub_->SetKey(Context(context).get(), request, &response);
      result = {{"ok", true}};
    }
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      return absl::InvalidArgumentError(status.error_message());
    }
    if (!status.ok()) {
      return CallOutcome::Error(status.error_code() == grpc::StatusCode::NOT_FOUND ? "NOT_FOUND" : "KEYSTORE",
                                status.error_message(), status.error_code() == grpc::StatusCode::UNAVAILABLE);
    }
    return CallOutcome::Ok(result);
  }

 private:
  // The keystore's audit log names the task the proxy acts for.
  static std::unique_ptr<grpc::ClientContext> Context(const CallContext& call) {
    auto context = MakeWaitingContext(absl::Seconds(10));
    context->AddMetadata(keystore::kOnBehalfOfHeader, call.caller);
    return context;
  }

  absl::StatusOr<bool> Readable(const std::string& ns) {
    v1::ListNamespacesResponse response;
    auto context = MakeWaitingContext(absl::Seconds(10));
    grpc::Status status = stub_->ListNamespaces(context.get(), v1::ListNamespacesRequest(), &response);
    if (!status.ok()) return absl::UnavailableError(status.error_message());
    for (const auto& p : response.namespaces()) {
      if (p.namespace_() == ns) return p.task_readable();
    }
    return false;
  }

  std::unique_ptr<v1::Keystore::Stub> stub_;
  std::string secrets_namespace_;
};

}  // namespace

std::unique_ptr<Provider> NewKeystoreProvider(std::shared_ptr<grpc::Channel> keystore,
                                              std::string secrets_namespace) {
  return std::make_unique<KeystoreProvider>(std::move(keystore), std::move(secrets_namespace));
}

}  // namespace tasker::proxy
