#include "services/proxy/providers.h"

#include <algorithm>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/common/status.h"
#include "services/proxy/google.h"

namespace tasker::proxy {
namespace {

// The text of an HTML fragment: tags dropped, entities decoded, white space
// collapsed.
std::string HtmlText(absl::string_view html) {
  std::string text;
  bool in_tag = false;
  for (size_t i = 0; i < html.size(); ++i) {
    const char c = html[i];
    if (in_tag) {
      if (c == '>') in_tag = false;
      continue;
    }
    if (c == '<') {
      in_tag = true;
      continue;
    }
    if (c == '&') {
      const size_t semi = html.find(';', i);
      if (semi != absl::string_view::npos && semi - i <= 10) {
        const absl::string_view entity = html.substr(i + 1, semi - i - 1);
        static const std::map<std::string, std::string> kNamed = {
            {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", " "},
            {"ndash", "\u2013"}, {"mdash", "\u2014"}, {"hellip", "\u2026"}, {"middot", "\u00b7"}};
        std::string decoded;
        if (auto it = kNamed.find(std::string(entity)); it != kNamed.end()) {
          decoded = it->second;
        } else if (absl::StartsWith(entity, "#")) {
          uint32_t cp = 0;
          const bool hex = entity.size() > 1 && (entity[1] == 'x' || entity[1] == 'X');
          const std::string digits(entity.substr(hex ? 2 : 1));
          bool ok = !digits.empty();
          for (char d : digits) ok = ok && (hex ? absl::ascii_isxdigit(d) : absl::ascii_isdigit(d));
          if (ok && digits.size() <= 7) cp = static_cast<uint32_t>(std::stoul(digits, nullptr, hex ? 16 : 10));
          if (ok && cp > 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff)) {
            // UTF-8 of the code point.
            if (cp < 0x80) {
              decoded.push_back(static_cast<char>(cp));
            } else if (cp < 0x800) {
              decoded.push_back(static_cast<char>(0xc0 | (cp >> 6)));
              decoded.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
            } else if (cp < 0x10000) {
              decoded.push_back(static_cast<char>(0xe0 | (cp >> 12)));
              decoded.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
              decoded.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
            } else {
              decoded.push_back(static_cast<char>(0xf0 | (cp >> 18)));
              decoded.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
              decoded.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
              decoded.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
            }
          }
        }
        if (!decoded.empty()) {
          text += decoded;
          i = semi;
          continue;
        }
      }
    }
    text.push_back(c);
  }
  // Collapse runs of white space.
  std::string out;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return std::string(absl::StripAsciiWhitespace(out));
}

// The value of attribute `name` in the start tag `tag` ("<a class=.. href=..>"), entities decoded.
std::string Attribute(absl::string_view tag, absl::string_view name) {
  for (size_t at = tag.find(name); at != absl::string_view::npos; at = tag.find(name, at + 1)) {
    if (at == 0 || !absl::ascii_isspace(tag[at - 1])) continue;
    size_t i = at + name.size();
    while (i < tag.size() && absl::ascii_isspace(tag[i])) ++i;
    if (i >= tag.size() || tag[i] != '=') continue;
    ++i;
    while (i < tag.size() && absl::ascii_isspace(tag[i])) ++i;
    if (i >= tag.size()) return "";
    const char quote = tag[i];
    if (quote == '"' || quote == '\'') {
      const size_t end = tag.find(quote, i + 1);
      if (end == absl::string_view::npos) return "";
      return HtmlText(tag.substr(i + 1, end - i - 1));
    }
    size_t end = i;
    while (end < tag.size() && !absl::ascii_isspace(tag[end]) && tag[end] != '>') ++end;
    return HtmlText(tag.substr(i, end - i));
  }
  return "";
}

std::string PercentDecode(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && absl::ascii_isxdigit(text[i + 1]) &&
        absl::ascii_isxdigit(text[i + 2])) {
      out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (text[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// A result link: DuckDuckGo wraps the target in its redirector
// (//duckduckgo.com/l/?uddg=<target>&rut=...).
std::string ResultUrl(const std::string& href) {
  const size_t uddg = href.find("uddg=");
  if (uddg != std::string::npos && (uddg == 0 || href[uddg - 1] == '?' || href[uddg - 1] == '&')) {
    size_t end = href.find('&', uddg);
    if (end == std::string::npos) end = href.size();
    return PercentDecode(absl::string_view(href).substr(uddg + 5, end - uddg - 5));
  }
  if (absl::StartsWith(href, "//")) return "https:" + href;
  return href;
}

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
  std::string description() const override {
    return "Web search: a JSON search API with WEBSEARCH_API_KEY, DuckDuckGo without one";
  }
  std::vector<std::string> methods() const override { return {"search"}; }
  absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method,
                                   const Json& raw_args) override {
    if (method != "search") return UnknownMethod(*this, method);
    // search(query) and search(query, {limit}) as well as search({query, limit}).
    Json named = raw_args;
    if (raw_args.is_string()) named = Json{{"query", raw_args}};
    if (raw_args.is_array() && !raw_args.empty() && raw_args[0].is_string()) {
      if (raw_args.size() > 2 || (raw_args.size() == 2 && !raw_args[1].is_object())) {
        return absl::InvalidArgumentError("args: expected (query) or (query, {limit})");
      }
      named = raw_args.size() == 2 ? raw_args[1] : Json::object();
      if (named.contains("query")) return absl::InvalidArgumentError("args[1].query: the query is args[0]");
      named["query"] = raw_args[0];
    }
    auto args = NormalizeArgs(named);
    if (!args.ok()) return args.status();
    if (!args->contains("query") || !(*args)["query"].is_string() || (*args)["query"].get<std::string>().empty()) {
      return absl::InvalidArgumentError("args.query: a non-empty string is required");
    }
    // The old platform's positional forms (search('q'), search([{query}]))
    // answer its shape, {query, results, timestamp}, with its default limit.
    const bool old_form = raw_args.is_string() || raw_args.is_array();
    int limit = old_form ? 5 : 10;
    if (args->contains("limit") && !(*args)["limit"].is_null()) {
      if (!(*args)["limit"].is_number_integer() || (*args)["limit"] < 1 || (*args)["limit"] > 50) {
        return absl::InvalidArgumentError(absl::StrCat(raw_args.is_array() && raw_args.size() == 2 ? "args[1]" : "args",
                                                       ".limit: an integer within 1..50"));
      }
      limit = (*args)["limit"];
    }
    for (auto it = args->begin(); it != args->end(); ++it) {
      if (it.key() != "query" && it.key() != "limit") {
        return absl::InvalidArgumentError(absl::StrCat("args.", it.key(), ": unknown (known: query, limit)"));
      }
    }
    CallOutcome outcome = Search(context, (*args)["query"].get<std::string>(), limit);
    if (!outcome.ok || !old_form) return outcome;
    const absl::Time now = absl::Now();
    return CallOutcome::Ok(Json{{"query", (*args)["query"]},
                                {"results", std::move(outcome.result)},
                                {"timestamp", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone())}});
  }

 private:
  CallOutcome Search(const CallContext& context, const std::string& query, int limit) {
    auto key = secrets_->Get(config_.secrets_namespace, "WEBSEARCH_API_KEY");
    if (!key.ok() && key.status().code() != absl::StatusCode::kNotFound) {
      return CallOutcome::Error("UNAVAILABLE",
                                absl::StrCat("websearch: reading WEBSEARCH_API_KEY: ", key.status().message()), true);
    }
    // Without a key, as the old platform did: DuckDuckGo's HTML results.
    if (!key.ok()) return Keyless(context, query, limit);
    HttpRequest request;
    request.url = absl::StrCat(config_.websearch_base_url, "/search?q=", UrlEncode(query), "&count=", limit);
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

  CallOutcome Keyless(const CallContext& context, const std::string& query, int limit) {
    const std::string& base = config_.websearch_keyless_base_url;
    HttpRequest request;
    request.url = absl::StrCat(base, absl::StrContains(base, "?") ? "&" : "?", "q=", UrlEncode(query));
    request.timeout = context.timeout;
    request.headers = {{"Accept", "text/html"}, {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Tasker-websearch/1"}};
    auto response = Fetch(request);
    if (!response.ok() || response->status < 200 || response->status >= 300 || response->status == 202) {
      if (response.ok() && response->status == 202) {
        // DuckDuckGo's answer to too many automated queries: a challenge page.
        return CallOutcome::Error("RATE_LIMITED", "websearch: DuckDuckGo asked for a challenge (HTTP 202); "
                                                  "set WEBSEARCH_API_KEY for a keyed search API", true);
      }
      return FromHttp(response);
    }
    auto results = ParseDuckDuckGoHtml(response->body, limit);
    if (!results.ok()) return CallOutcome::Error("MALFORMED_RESPONSE", std::string(results.status().message()), false);
    return CallOutcome::Ok(*std::move(results));
  }

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

absl::StatusOr<Json> ParseDuckDuckGoHtml(const std::string& html, int limit) {
  Json out = Json::array();
  // Every result's title link; the result block it sits in says whether it
  // is an ad, and holds the snippet.
  const std::string kTitle = "result__a";
  size_t pos = 0;
  bool any_result_markup = false;
  while (static_cast<int>(out.size()) < limit) {
    const size_t cls = html.find(kTitle, pos);
    if (cls == std::string::npos) break;
    pos = cls + kTitle.size();
    // Exactly the class, not result__a-something.
    if (pos < html.size() && (absl::ascii_isalnum(html[pos]) || html[pos] == '_' || html[pos] == '-')) continue;
    const size_t tag_start = html.rfind('<', cls);
    const size_t tag_end = html.find('>', cls);
    if (tag_start == std::string::npos || tag_end == std::string::npos) break;
    const absl::string_view tag = absl::string_view(html).substr(tag_start, tag_end - tag_start + 1);
    if (!absl::StartsWith(tag, "<a")) continue;
    any_result_markup = true;
    const size_t close = html.find("</a>", tag_end);
    if (close == std::string::npos) break;
    const std::string title = HtmlText(absl::string_view(html).substr(tag_end + 1, close - tag_end - 1));
    const std::string url = ResultUrl(Attribute(tag, "href"));
    // The result block: from its opening "result " div to the next title.
    const size_t block = html.rfind("class=\"result ", cls);
    const bool ad = block != std::string::npos &&
                    absl::StrContains(absl::string_view(html).substr(block, html.find('>', block) - block),
                                      "result--ad");
    const size_t next = html.find(kTitle, close);
    const absl::string_view rest =
        absl::string_view(html).substr(close, (next == std::string::npos ? html.size() : next) - close);
    std::string snippet;
    if (const size_t s = rest.find("result__snippet"); s != absl::string_view::npos) {
      const size_t open_end = rest.find('>', s);
      const size_t open_start = rest.rfind('<', s);
      if (open_end != absl::string_view::npos && open_start != absl::string_view::npos) {
        size_t name_end = open_start + 1;
        while (name_end < rest.size() && absl::ascii_isalnum(rest[name_end])) ++name_end;
        const std::string closing = absl::StrCat("</", rest.substr(open_start + 1, name_end - open_start - 1), ">");
        const size_t snippet_end = rest.find(closing, open_end);
        snippet = HtmlText(rest.substr(open_end + 1, (snippet_end == absl::string_view::npos ? rest.size()
                                                                                             : snippet_end) -
                                                         open_end - 1));
      }
    }
    pos = close;
    if (ad || url.empty() || absl::StrContains(url, "duckduckgo.com/y.js")) continue;
    if (!absl::StartsWith(url, "http://") && !absl::StartsWith(url, "https://")) continue;
    out.push_back({{"title", title}, {"url", url}, {"snippet", snippet}});
  }
  if (out.empty() && !any_result_markup && !absl::StrContains(html, "no-results") &&
      !absl::StrContains(html, "No results")) {
    return absl::InvalidArgumentError("the search page has neither results nor a no-results notice");
  }
  return out;
}

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
