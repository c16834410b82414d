#include "services/proxy/keystore_provider.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/strings/str_join.h"
#include "services/keystore/keystore_service.h"
#include "tasker/v1/keystore.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/status.h"

namespace tasker::proxy {
namespace {

namespace v1 = ::tasker::v1;

// Today's methods take {namespace, key, value}; the old platform's take
// positional args (getKey(ns, key) sends ["ns", "key"]). Both forms are
// accepted by both.
struct Signature {
  const char* method;
  std::vector<const char*> params;  // "namespace", "key", "value"
};

const Signature* FindSignature(const std::string& method) {
  static const Signature kSignatures[] = {
      {"get", {"namespace", "key"}},          {"set", {"namespace", "key", "value"}},
      {"list", {"namespace"}},                {"has", {"namespace", "key"}},
      {"getKey", {"namespace", "key"}},       {"setKey", {"namespace", "key", "value"}},
      {"listKeys", {"namespace"}},            {"hasKey", {"namespace", "key"}},
      {"listNamespaces", {}},                 {"getServerTime", {}}};
  for (const auto& s : kSignatures) {
    if (method == s.method) return &s;
  }
  return nullptr;
}

struct KeystoreArgs {
  std::string ns, key, value;
};

// The args of `signature`, from {namespace, key, value} (or [that object]),
// positional strings, or one bare string (the first parameter).
absl::StatusOr<KeystoreArgs> ParseKeystoreArgs(const Signature& signature, const Json& raw) {
  const auto& params = signature.params;
  const std::string shape = absl::StrCat(signature.method, "(", absl::StrJoin(params, ", "), ")");
  KeystoreArgs out;
  auto slot = [&](const char* param) -> std::string* {
    const std::string p = param;
    return p == "namespace" ? &out.ns : p == "key" ? &out.key : &out.value;
  };
  const bool named = raw.is_object() || (raw.is_array() && raw.size() == 1 && raw[0].is_object());
  if (named) {
    const Json& args = raw.is_object() ? raw : raw[0];
    for (const char* param : params) {
      ASSIGN_OR_RETURN(*slot(param), StringArg(args, param));
      if (slot(param)->empty() && std::string(param) != "value") {
        return absl::InvalidArgumentError(absl::StrCat("args.", param, ": required (", shape, ")"));
      }
    }
    if (std::find(params.begin(), params.end(), std::string_view("value")) != params.end() &&
        (!args.contains("value") || !args["value"].is_string())) {
      return absl::InvalidArgumentError("args.value: a string is required");
    }
    return out;
  }
  Json positional = raw.is_null() ? Json::array() : raw.is_array() ? raw : Json::array({raw});
  if (positional.size() > params.size()) {
    return absl::InvalidArgumentError(absl::StrCat("args: ", shape, " takes ", params.size(), " argument",
                                                   params.size() == 1 ? "" : "s", ", got ", positional.size()));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string field = absl::StrCat("args[", i, "]");
    if (i >= positional.size() || positional[i].is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": the ", params[i], " is required (", shape, ")"));
    }
    if (!positional[i].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": the ", params[i], " must be a string, got ", positional[i].type_name()));
    }
    *slot(params[i]) = positional[i].get<std::string>();
    if (slot(params[i])->empty() && std::string(params[i]) != "value") {
      return absl::InvalidArgumentError(absl::StrCat(field, ": the ", params[i], " is required (", shape, ")"));
    }
  }
  return out;
}

class KeystoreProvider : public Provider {
 public:
  KeystoreProvider(std::shared_ptr<grpc::Channel> channel, std::string secrets_namespace)
      : stub_(v1::Keystore::NewStub(std::move(channel))), secrets_namespace_(std::move(secrets_namespace)) {}
  std::string name() const override { return "keystore"; }
  std::string description() const override { return "Keys in the keystore namespaces the task is granted"; }
  std::vector<std::string> methods() const override {
    return {"get", "set", "list", "has", "getKey", "setKey", "listKeys", "hasKey", "listNamespaces",
            "getServerTime"};
  }

  absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method,
                                   const Json& raw_args) override {
    const Signature* signature = FindSignature(method);
    if (signature == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("method: keystore has no method '", method,
                                                     "'; supported: ", absl::StrJoin(methods(), ", ")));
    }
    ASSIGN_OR_RETURN(const KeystoreArgs args, ParseKeystoreArgs(*signature, raw_args));
    if (method == "getServerTime") {
      // The old platform's answer: the time, and who told it.
      const absl::Time now = absl::Now();
      return CallOutcome::Ok(
          {{"timestamp", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone())},
           {"source", "keystore"},
           {"unixMs", absl::ToUnixMillis(now)}});
    }
    if (context.grants == nullptr) return Denied(context, absl::PermissionDeniedError("no grants on the call"));
    if (method == "listNamespaces") return ListNamespaces(context);
    const std::string& ns = args.ns;
    const std::string& key = args.key;
    const bool write = method == "set" || method == "setKey";
    if (ns == secrets_namespace_) {
      return Denied(context, absl::PermissionDeniedError(absl::StrCat(
                                 "namespace '", ns, "' holds the providers' credentials: no task may reach it")));
    }
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
    if (method == "get" || method == "getKey") {
      v1::GetKeyRequest request;
      request.set_namespace_(ns);
      request.set_key(key);
      v1::GetKeyResponse response;
      status = stub_->GetKey(Context(context).get(), request, &response);
      result = response.value();
      // The old getKey answers null for a key that is not there.
      if (method == "getKey" && status.error_code() == grpc::StatusCode::NOT_FOUND) return CallOutcome::Ok(nullptr);
    } else if (method == "has" || method == "hasKey") {
      v1::HasKeyRequest request;
      request.set_namespace_(ns);
      request.set_key(key);
      v1::HasKeyResponse response;
      status = stub_->HasKey(Context(context).get(), request, &response);
      result = response.exists();
    } else if (method == "list" || method == "listKeys") {
      v1::ListKeysRequest request;
      request.set_namespace_(ns);
      v1::ListKeysResponse response;
      status = stub_->ListKeys(Context(context).get(), request, &response);
      result = Json(std::vector<std::string>(response.keys().begin(), response.keys().end()));
    } else {
      v1::SetKeyRequest request;
      request.set_namespace_(ns);
      request.set_key(key);
      request.set_value(args.value);
      v1::SetKeyResponse response;
      status = stub_->SetKey(Context(context).get(), request, &response);
      result = method == "setKey" ? Json(true) : Json{{"ok", true}};
    }
    return FromGrpc(status, std::move(result));
  }

 private:
  static absl::StatusOr<CallOutcome> FromGrpc(const grpc::Status& status, Json result) {
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      return absl::InvalidArgumentError(status.error_message());
    }
    if (!status.ok()) {
      return CallOutcome::Error(status.error_code() == grpc::StatusCode::NOT_FOUND ? "NOT_FOUND" : "KEYSTORE",
                                status.error_message(), status.error_code() == grpc::StatusCode::UNAVAILABLE);
    }
    return CallOutcome::Ok(std::move(result));
  }

  // The namespaces this task may read: task-readable, granted, never the
  // providers' own.
  absl::StatusOr<CallOutcome> ListNamespaces(const CallContext& context) {
    v1::ListNamespacesResponse response;
    grpc::Status status = stub_->ListNamespaces(Context(context).get(), v1::ListNamespacesRequest(), &response);
    if (!status.ok()) return FromGrpc(status, nullptr);
    Json out = Json::array();
    for (const auto& p : response.namespaces()) {
      if (p.task_readable() && p.namespace_() != secrets_namespace_ && context.grants->CanReadNamespace(p.namespace_())) {
        out.push_back(p.namespace_());
      }
    }
    return CallOutcome::Ok(std::move(out));
  }

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
