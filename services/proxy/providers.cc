#include "services/proxy/providers.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/common/status.h"
#include "services/proxy/google.h"

namespace tasker::proxy {
namespace {

absl::Status UnknownMethod(const Provider& p, const std::string& method) {
  return absl::InvalidArgumentError(absl::StrCat("method: ", p.name(), " has no method '", method,
                                                 "'; supported: ", absl::StrJoin(p.methods(), ", ")));
}

// ---------------------------------------------------------------------------
class AdminDebugProvider : public Provider {
 public:
  AdminDebugProvider(SecretSource* secrets, GoogleProvider* google, ProviderConfig config)
      : secrets_(secrets), google_(google), config_(std::move(config)) {}
  std::string name() const override { return "admin-debug"; }
  std::string description() const override { return "Diagnostics: echo, server time, credentials, token cache"; }
  std::vector<std::string> methods() const override {
    return {"echo", "sleep", "serverTime", "checkCredentials", "tokenInfo", "clearTokenCache"};
  }
  absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method, const Json& args) override {
    if (method == "echo") return CallOutcome::Ok(args);
    if (method == "sleep") {
      // Waits, then echoes: a slow call for tests and timeouts.
      auto normalized = NormalizeArgs(args);
      if (!normalized.ok()) return normalized.status();
      ASSIGN_OR_RETURN(const int64_t ms, IntArg(*normalized, "ms", 0, 0, 60000));
      absl::SleepFor(std::min(absl::Milliseconds(ms), context.timeout));
      if (absl::Milliseconds(ms) > context.timeout) return CallOutcome::Error("TIMEOUT", "sleep outlasted the call deadline", true);
      return CallOutcome::Ok({{"slept", ms}});
    }
    if (method == "serverTime") {
      const absl::Time now = absl::Now();
      return CallOutcome::Ok({{"iso", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone())},
                              {"unixMs", absl::ToUnixMillis(now)}});
    }
    if (method == "checkCredentials") {
      Json out = Json::object();
      for (const char* key : {"GAPI_KEY", "GAPI_ADMIN_EMAIL", "OPENAI_API_KEY", "WEBSEARCH_API_KEY"}) {
        out[key] = secrets_->Get(config_.secrets_namespace, key).ok() ? "present" : "missing";
      }
      if (google_ && out["GAPI_KEY"] == "present") {
        CallOutcome google = google_->CheckCredentials();
        out["gapiToken"] = google.ok ? "ok" : google.error_message;
      }
      return CallOutcome::Ok(out);  // values never leave the proxy
    }
    if (method == "tokenInfo") return CallOutcome::Ok({{"gapi", google_ ? google_->TokenInfo() : Json::array()}});
    if (method == "clearTokenCache") return CallOutcome::Ok({{"cleared", google_ ? google_->ClearTokenCache() : 0}});
    return UnknownMethod(*this, method);
  }

 private:
  SecretSource* secrets_;
  GoogleProvider* google_;
  ProviderConfig config_;
};

// ---------------------------------------------------------------------------
class WebSearchProvider : public Provider {
 public:
  WebSearchProvider(SecretSource* secrets, ProviderConfig config) : secrets_(secrets), config_(std::move(config)) {}
  std::string name() const override { return "websearch"; }
  std::string description() const override { return "Web search through a JSON search API"; }
  std::vector<std::string> methods() const override { return {"search"}; }
  absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method,
                                   const Json& raw_args) override {
    if (method != "search") return UnknownMethod(*this, method);
    auto args = NormalizeArgs(raw_args);
    if (!args.ok()) return args.status();
    if (!args->contains("query") || !(*args)["query"].is_string() || (*args)["query"].get<std::string>().empty()) {
      return absl::InvalidArgumentError("args.query: a non-empty string is required");
    }
    int limit = 10;
    if (args->contains("limit")) {
      if (!(*args)["limit"].is_number_integer() || (*args)["limit"] < 1 || (*args)["limit"] > 50) {
        return absl::InvalidArgumentError("args.limit: an integer within 1..50");
      }
      limit = (*args)["limit"];
    }
    auto key = secrets_->Get(config_.secrets_namespace, "WEBSEARCH_API_KEY");
    if (!key.ok()) return CallOutcome::Error("CREDENTIALS", "WEBSEARCH_API_KEY is not in the keystore", false);
    HttpRequest request;
    request.url = absl::StrCat(config_.websearch_base_url, "/search?q=", UrlEncode((*args)["query"]),
                               "&count=", limit);
    request.timeout = context.timeout;
    request.headers = {{"Accept", "application/json"}, {"X-Subscription-Token", *key},
                       {"Authorization", absl::StrCat("Bearer ", *key)}};
    CallOutcome outcome = FromHttp(Fetch(request));
    if (!outcome.ok) return outcome;
    // Normalise the shapes search APIs use to [{title, url, snippet}].
    const Json* list = nullptr;
    const Json& r = outcome.result;
    if (r.contains("web") && r["web"].contains("results")) list = &r["web"]["results"];
    else if (r.contains("results")) list = &r["results"];
    else if (r.contains("items")) list = &r["items"];
    if (list == nullptr || !list->is_array()) {
      return CallOutcome::Error("MALFORMED_RESPONSE", "the search API answered without a result list", false);
    }
    Json out = Json::array();
    for (const auto& item : *list) {
      if (!item.is_object()) continue;
      auto pick = [&](std::initializer_list<const char*> names) -> std::string {
        for (const char* n : names) {
          if (item.contains(n) && item[n].is_string()) return item[n];
        }
        return "";
      };
      out.push_back({{"title", pick({"title", "name"})},
                     {"url", pick({"url", "link"})},
                     {"snippet", pick({"snippet", "description", "content"})}});
      if (static_cast<int>(out.size()) >= limit) break;
    }
    return CallOutcome::Ok(out);
  }

 private:
  SecretSource* secrets_;
  ProviderConfig config_;
};

// ---------------------------------------------------------------------------
class OpenAiProvider : public Provider {
 public:
  OpenAiProvider(SecretSource* secrets, ProviderConfig config) : secrets_(secrets), config_(std::move(config)) {}
  std::string name() const override { return "openai"; }
  std::string description() const override { return "OpenAI chat completions, embeddings and models"; }
  std::vector<std::string> methods() const override {
    return {"chat.completions.create", "embeddings.create", "models.list", "models.retrieve"};
  }
  absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method,
                                   const Json& raw_args) override {
    auto args = NormalizeArgs(raw_args);
    if (!args.ok()) return args.status();
    HttpRequest request;
    request.timeout = context.timeout;
    if (method == "chat.completions.create") {
      if (!args->contains("model") || !(*args)["model"].is_string()) {
        return absl::InvalidArgumentError("args.model: a model name is required");
      }
      if (!args->contains("messages") || !(*args)["messages"].is_array() || (*args)["messages"].empty()) {
        return absl::InvalidArgumentError("args.messages: a non-empty array is required");
      }
      request.method = "POST";
      request.url = absl::StrCat(config_.openai_base_url, "/v1/chat/completions");
      request.body = args->dump();
    } else if (method == "embeddings.create") {
      if (!args->contains("model") || !args->contains("input")) {
        return absl::InvalidArgumentError("args.model and args.input: both are required");
      }
      request.method = "POST";
      request.url = absl::StrCat(config_.openai_base_url, "/v1/embeddings");
      request.body = args->dump();
    } else if (method == "models.list") {
      request.url = absl::StrCat(config_.openai_base_url, "/v1/models");
    } else if (method == "models.retrieve") {
      ASSIGN_OR_RETURN(const std::string model, StringArg(*args, "model"));
      if (model.empty()) return absl::InvalidArgumentError("args.model: a model name is required");
      request.url = absl::StrCat(config_.openai_base_url, "/v1/models/", UrlEncode(model));
    } else {
      return UnknownMethod(*this, method);
    }
    auto key = secrets_->Get(config_.secrets_namespace, "OPENAI_API_KEY");
    if (!key.ok()) return CallOutcome::Error("CREDENTIALS", "OPENAI_API_KEY is not in the keystore", false);
    request.headers = {{"Authorization", absl::StrCat("Bearer ", *key)}, {"Content-Type", "application/json"}};
    if (!context.idempotency_key.empty()) request.headers.push_back({"Idempotency-Key", context.idempotency_key});
    return FromHttp(Fetch(request));
  }

 private:
  SecretSource* secrets_;
  ProviderConfig config_;
};

}  // namespace

std::unique_ptr<Provider> NewAdminDebugProvider(SecretSource* secrets, GoogleProvider* google,
                                                const ProviderConfig& config) {
  return std::make_unique<AdminDebugProvider>(secrets, google, config);
}
std::unique_ptr<Provider> NewWebSearchProvider(SecretSource* secrets, const ProviderConfig& config) {
  return std::make_unique<WebSearchProvider>(secrets, config);
}
std::unique_ptr<Provider> NewOpenAiProvider(SecretSource* secrets, const ProviderConfig& config) {
  return std::make_unique<OpenAiProvider>(secrets, config);
}

}  // namespace tasker::proxy
