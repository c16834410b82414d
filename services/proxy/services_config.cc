#include "services/proxy/services_config.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/common/status.h"
#include "services/proxy/http_client.h"
#include "services/proxy/http_provider.h"

namespace tasker::proxy {
namespace {

absl::Status Invalid(const std::string& key, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", message));
}

absl::Status OnlyKeys(const Json& object, const std::string& key, std::initializer_list<const char*> known) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find_if(known.begin(), known.end(), [&](const char* k) { return it.key() == k; }) == known.end()) {
      return Invalid(absl::StrCat(key, ".", it.key()),
                     absl::StrCat("unknown field (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

bool NameChars(absl::string_view name, absl::string_view extra, size_t max) {
  if (name.empty() || name.size() > max) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && !absl::StrContains(extra, c)) return false;
  }
  return true;
}

bool IsIdentifier(absl::string_view name) {
  return NameChars(name, "_", 64) && !absl::ascii_isdigit(name[0]);
}

bool IsToken(absl::string_view text) { return NameChars(text, "!#$%&'*+-.^_`|~", 256); }

absl::StatusOr<std::string> String(const Json& object, const char* name, const std::string& key, bool required) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) {
    if (required) return Invalid(absl::StrCat(key, ".", name), "required");
    return "";
  }
  if (!it->is_string()) {
    return Invalid(absl::StrCat(key, ".", name), absl::StrCat("expected a string, got ", it->type_name()));
  }
  return it->get<std::string>();
}

// "/v1/current/{city}": the names of its parameters, in order.
absl::StatusOr<std::vector<std::string>> PathParams(const std::string& path, const std::string& key) {
  if (path.empty() || path[0] != '/') return Invalid(key, "must start with '/'");
  std::vector<std::string> names;
  size_t i = 0;
  while (i < path.size()) {
    const char c = path[i];
    if (c == '}') return Invalid(key, absl::StrCat("'}' without '{' at ", i));
    if (c == '{') {
      const size_t end = path.find('}', i);
      if (end == std::string::npos) return Invalid(key, absl::StrCat("'{' without '}' at ", i));
      const std::string name = path.substr(i + 1, end - i - 1);
      if (!IsIdentifier(name)) {
        return Invalid(key, absl::StrCat("'{", name.substr(0, 80), "}' is not a parameter name ([A-Za-z_][A-Za-z0-9_]*)"));
      }
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        return Invalid(key, absl::StrCat("'{", name, "}' appears twice"));
      }
      names.push_back(name);
      i = end + 1;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || absl::StrContains("?#\"<>\\^`|", c)) {
      return Invalid(key, absl::StrCat("character '", std::string(1, c),
                                       "' cannot stand in a path template (query parameters go in \"query\")"));
    }
    ++i;
  }
  return names;
}

absl::StatusOr<ConfiguredMethod> ParseMethod(const std::string& name, const Json& m, const std::string& key) {
  if (!m.is_object()) return Invalid(key, absl::StrCat("expected an object, got ", m.type_name()));
  RETURN_IF_ERROR(OnlyKeys(m, key, {"method", "path", "query", "body", "description"}));
  ConfiguredMethod method;
  method.name = name;
  ASSIGN_OR_RETURN(method.description, String(m, "description", key, false));
  ASSIGN_OR_RETURN(std::string http_method, String(m, "method", key, false));
  if (http_method.empty()) http_method = "GET";
  method.http_method = absl::AsciiStrToUpper(http_method);
  static const char* const kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  if (std::find(std::begin(kMethods), std::end(kMethods), method.http_method) == std::end(kMethods)) {
    return Invalid(key + ".method", "must be GET, POST, PUT, PATCH or DELETE");
  }
  ASSIGN_OR_RETURN(method.path, String(m, "path", key, true));
  ASSIGN_OR_RETURN(method.path_params, PathParams(method.path, key + ".path"));
  if (auto it = m.find("query"); it != m.end() && !it->is_null()) {
    if (!it->is_array()) return Invalid(key + ".query", "expected an array of parameter names");
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& q = (*it)[i];
      const std::string qkey = absl::StrCat(key, ".query[", i, "]");
      if (!q.is_string() || !IsIdentifier(q.get<std::string>())) {
        return Invalid(qkey, "expected a parameter name ([A-Za-z_][A-Za-z0-9_]*)");
      }
      const std::string qname = q.get<std::string>();
      if (std::find(method.path_params.begin(), method.path_params.end(), qname) != method.path_params.end() ||
          std::find(method.query.begin(), method.query.end(), qname) != method.query.end()) {
        return Invalid(qkey, absl::StrCat("'", qname, "' is already a path or query parameter"));
      }
      method.query.push_back(qname);
    }
  }
  if (auto it = m.find("body"); it != m.end() && !it->is_null()) {
    if (!it->is_boolean()) return Invalid(key + ".body", "expected true or false");
    method.body = it->get<bool>();
  }
  if (method.body && method.http_method == "GET") return Invalid(key + ".body", "a GET request has no body");
  return method;
}

absl::StatusOr<ConfiguredService> ParseService(const std::string& name, const Json& s, const std::string& key) {
  if (!s.is_object()) return Invalid(key, absl::StrCat("expected an object, got ", s.type_name()));
  RETURN_IF_ERROR(OnlyKeys(s, key, {"base_url", "auth", "timeout_ms", "methods", "headers", "description"}));
  ConfiguredService service;
  service.name = name;
  ASSIGN_OR_RETURN(service.description, String(s, "description", key, false));
  if (service.description.empty()) service.description = absl::StrCat("HTTP service ", name, " (--services_config)");
  ASSIGN_OR_RETURN(std::string base_url, String(s, "base_url", key, true));
  auto parsed = ParseHttpUrl(base_url, key + ".base_url");
  if (!parsed.ok()) return parsed.status();
  if (absl::StrContains(base_url, "?") || absl::StrContains(base_url, "#")) {
    return Invalid(key + ".base_url", "no query or fragment (methods add their query parameters)");
  }
  while (absl::EndsWith(base_url, "/")) base_url.pop_back();
  service.base_url = base_url;
  if (auto it = s.find("timeout_ms"); it != s.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 600000) {
      return Invalid(key + ".timeout_ms", "an integer within 1..600000");
    }
    service.timeout = absl::Milliseconds(it->get<int64_t>());
  }
  if (auto it = s.find("auth"); it != s.end() && !it->is_null()) {
    const std::string akey = key + ".auth";
    if (!it->is_object()) return Invalid(akey, "expected an object {keystore_key, header, prefix} or {keystore_key, query}");
    RETURN_IF_ERROR(OnlyKeys(*it, akey, {"keystore_key", "header", "prefix", "query"}));
    service.has_auth = true;
    ASSIGN_OR_RETURN(service.auth.keystore_key, String(*it, "keystore_key", akey, true));
    if (!NameChars(service.auth.keystore_key, "_.-", 256)) {
      return Invalid(akey + ".keystore_key", "a keystore key name ([A-Za-z0-9_.-]{1,256})");
    }
    ASSIGN_OR_RETURN(service.auth.header, String(*it, "header", akey, false));
    ASSIGN_OR_RETURN(service.auth.prefix, String(*it, "prefix", akey, false));
    ASSIGN_OR_RETURN(service.auth.query, String(*it, "query", akey, false));
    if (service.auth.header.empty() == service.auth.query.empty()) {
      return Invalid(akey, "exactly one of header and query says where the key goes");
    }
    if (!service.auth.header.empty() && !IsToken(service.auth.header)) {
      return Invalid(akey + ".header", "not a valid header name");
    }
    if (!service.auth.query.empty() && !IsToken(service.auth.query)) {
      return Invalid(akey + ".query", "not a valid query parameter name");
    }
    if (!service.auth.prefix.empty() && service.auth.header.empty()) {
      return Invalid(akey + ".prefix", "applies to a header only");
    }
    if (service.auth.prefix.find_first_of("\r\n") != std::string::npos) {
      return Invalid(akey + ".prefix", "may not hold CR or LF");
    }
  }
  if (auto it = s.find("headers"); it != s.end() && !it->is_null()) {
    if (!it->is_object()) return Invalid(key + ".headers", "expected an object {name: value}");
    for (auto h = it->begin(); h != it->end(); ++h) {
      const std::string hkey = absl::StrCat(key, ".headers.", h.key());
      if (!IsToken(h.key())) return Invalid(hkey, "not a valid header name");
      if (!h.value().is_string() || h.value().get<std::string>().find_first_of("\r\n") != std::string::npos) {
        return Invalid(hkey, "expected a string without CR or LF");
      }
      service.headers.emplace_back(h.key(), h.value().get<std::string>());
    }
  }
  auto methods = s.find("methods");
  if (methods == s.end() || !methods->is_object() || methods->empty()) {
    return Invalid(key + ".methods", "required (a non-empty object {name: {method, path, query, body}})");
  }
  for (auto it = methods->begin(); it != methods->end(); ++it) {
    const std::string mkey = absl::StrCat(key, ".methods.", it.key());
    // What a grant's method glob can name.
    if (!NameChars(it.key(), "._-", 128)) return Invalid(mkey, "a method name is letters, digits, '.', '_', '-'");
    ASSIGN_OR_RETURN(ConfiguredMethod method, ParseMethod(it.key(), it.value(), mkey));
    service.methods.push_back(std::move(method));
  }
  return service;
}

// JSON scalars as query or path text.
bool ScalarText(const Json& v, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
    return true;
  }
  if (v.is_number() || v.is_boolean()) {
    *out = v.dump();
    return true;
  }
  return false;
}

class ConfiguredHttpProvider : public Provider {
 public:
  ConfiguredHttpProvider(ConfiguredService service, SecretSource* secrets, std::string secrets_namespace)
      : service_(std::move(service)), secrets_(secrets), secrets_namespace_(std::move(secrets_namespace)) {}

  std::string name() const override { return service_.name; }
  std::string description() const override { return service_.description; }
  std::vector<std::string> methods() const override {
    std::vector<std::string> names;
    for (const auto& m : service_.methods) names.push_back(m.name);
    return names;
  }

  absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method_name,
                                   const Json& raw_args) override {
    const ConfiguredMethod* method = nullptr;
    for (const auto& m : service_.methods) {
      if (m.name == method_name) method = &m;
    }
    if (method == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("method: ", service_.name, " has no method '", method_name,
                                                     "'; supported: ", absl::StrJoin(methods(), ", ")));
    }
    ASSIGN_OR_RETURN(const Json args, NormalizeArgs(raw_args));
    std::string path;
    std::vector<std::string> used;
    // Substitute {name} with the arg, percent-encoded (a '/' in it stays
    // inside the one segment).
    for (size_t i = 0; i < method->path.size();) {
      if (method->path[i] != '{') {
        path.push_back(method->path[i++]);
        continue;
      }
      const size_t end = method->path.find('}', i);
      const std::string param = method->path.substr(i + 1, end - i - 1);
      auto it = args.find(param);
      std::string text;
      if (it == args.end() || it->is_null()) {
        return absl::InvalidArgumentError(absl::StrCat("args.", param, ": required (", service_.name, ".",
                                                       method->name, " has the path ", method->path, ")"));
      }
      if (!ScalarText(*it, &text) || text.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("args.", param, ": expected a non-empty string or a number (a path parameter)"));
      }
      absl::StrAppend(&path, UrlEncode(text));
      used.push_back(param);
      i = end + 1;
    }
    std::vector<std::string> query;
    for (const auto& param : method->query) {
      auto it = args.find(param);
      if (it == args.end()) continue;
      used.push_back(param);
      if (it->is_null()) continue;
      std::string text;
      if (it->is_array()) {
        for (size_t j = 0; j < it->size(); ++j) {
          if (!ScalarText((*it)[j], &text)) {
            return absl::InvalidArgumentError(
                absl::StrCat("args.", param, "[", j, "]: expected a string, a number or a boolean"));
          }
          query.push_back(absl::StrCat(UrlEncode(param), "=", UrlEncode(text)));
        }
      } else if (ScalarText(*it, &text)) {
        query.push_back(absl::StrCat(UrlEncode(param), "=", UrlEncode(text)));
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("args.", param, ": expected a string, a number, a boolean or an array of them"));
      }
    }
    Json body = Json::object();
    for (auto it = args.begin(); it != args.end(); ++it) {
      if (std::find(used.begin(), used.end(), it.key()) != used.end()) continue;
      if (!method->body) {
        std::vector<std::string> known = method->path_params;
        known.insert(known.end(), method->query.begin(), method->query.end());
        return absl::InvalidArgumentError(absl::StrCat("args.", it.key(), ": not a parameter of ", service_.name, ".",
                                                       method->name, " (parameters: ",
                                                       known.empty() ? "none" : absl::StrJoin(known, ", "), ")"));
      }
      body[it.key()] = it.value();
    }
    HttpRequest request;
    request.method = method->http_method;
    request.timeout = std::min(service_.timeout, context.timeout);
    request.headers = service_.headers;
    request.headers.emplace_back("Accept", "application/json");
    if (service_.has_auth) {
      auto key = secrets_->Get(secrets_namespace_, service_.auth.keystore_key);
      if (!key.ok()) {
        if (key.status().code() == absl::StatusCode::kNotFound) {
          return CallOutcome::Error("CREDENTIALS",
                                    absl::StrCat(service_.name, ": ", service_.auth.keystore_key,
                                                 " is not in the keystore (namespace ", secrets_namespace_, ")"),
                                    false);
        }
        return CallOutcome::Error("UNAVAILABLE",
                                  absl::StrCat(service_.name, ": reading ", service_.auth.keystore_key, ": ",
                                               key.status().message()),
                                  true);
      }
      if (!service_.auth.header.empty()) {
        request.headers.emplace_back(service_.auth.header, absl::StrCat(service_.auth.prefix, *key));
      } else {
        query.push_back(absl::StrCat(UrlEncode(service_.auth.query), "=", UrlEncode(*key)));
      }
    }
    request.url = absl::StrCat(service_.base_url, path, query.empty() ? "" : "?", absl::StrJoin(query, "&"));
    if (method->body) {
      request.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
      request.headers.emplace_back("Content-Type", "application/json");
    }
    if (!context.idempotency_key.empty()) request.headers.emplace_back("Idempotency-Key", context.idempotency_key);
    absl::StatusOr<HttpResponse> response = Fetch(request);
    if (response.ok() && response->status >= 200 && response->status < 300) {
      // JSON when it is JSON, else the text.
      if (response->body.empty()) return CallOutcome::Ok(nullptr);
      Json parsed = Json::parse(response->body, nullptr, false);
      if (!parsed.is_discarded()) return CallOutcome::Ok(std::move(parsed));
      return CallOutcome::Ok(Json(response->body));
    }
    CallOutcome outcome = FromHttp(response);
    outcome.error_message = absl::StrCat(service_.name, ".", method->name, ": ", outcome.error_message);
    return outcome;
  }

 private:
  ConfiguredService service_;
  SecretSource* secrets_;
  std::string secrets_namespace_;
};

}  // namespace

absl::StatusOr<std::vector<ConfiguredService>> ParseServicesConfig(const std::string& json_text,
                                                                  const std::set<std::string>& reserved) {
  Json config = Json::parse(json_text, nullptr, false);
  if (config.is_discarded()) return absl::InvalidArgumentError("not valid JSON");
  if (!config.is_object()) return absl::InvalidArgumentError("expected an object {\"services\": {...}}");
  for (auto it = config.begin(); it != config.end(); ++it) {
    if (it.key() != "services") return Invalid(it.key(), "unknown field (known: services)");
  }
  auto services = config.find("services");
  if (services == config.end() || !services->is_object()) {
    return Invalid("services", "required (an object {name: {base_url, auth, methods, ...}})");
  }
  std::vector<ConfiguredService> out;
  for (auto it = services->begin(); it != services->end(); ++it) {
    const std::string key = absl::StrCat("services.", it.key());
    // What a grant's service part can name.
    if (!NameChars(it.key(), "_-", 64)) return Invalid(key, "a service name is letters, digits, '_', '-'");
    if (reserved.count(it.key()) > 0) {
      return Invalid(key, absl::StrCat("'", it.key(), "' is a built-in provider (built-in: ",
                                       absl::StrJoin(reserved, ", "), ")"));
    }
    ASSIGN_OR_RETURN(ConfiguredService service, ParseService(it.key(), it.value(), key));
    out.push_back(std::move(service));
  }
  return out;
}

std::unique_ptr<Provider> NewConfiguredHttpProvider(ConfiguredService service, SecretSource* secrets,
                                                    std::string secrets_namespace) {
  return std::make_unique<ConfiguredHttpProvider>(std::move(service), secrets, std::move(secrets_namespace));
}

}  // namespace tasker::proxy
