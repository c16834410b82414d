#include "services/proxy/http_provider.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"
#include "services/proxy/http_client.h"

namespace tasker::proxy {
namespace {

absl::Status Invalid(const std::string& field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

// RFC 9110 token characters (header names, methods).
bool IsToken(absl::string_view text) {
  if (text.empty() || text.size() > 256) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(c) && !absl::StrContains("!#$%&'*+-.^_`|~", c)) return false;
  }
  return true;
}

std::string CurlUrlPart(CURLU* handle, CURLUPart part, unsigned flags = 0) {
  char* value = nullptr;
  if (curl_url_get(handle, part, &value, flags) != CURLUE_OK || value == nullptr) return "";
  std::string out(value);
  curl_free(value);
  return out;
}

const char* DefaultReason(long status) {
  static const std::map<long, const char*> kReasons = {
      {200, "OK"}, {201, "Created"}, {202, "Accepted"}, {204, "No Content"}, {206, "Partial Content"},
      {301, "Moved Permanently"}, {302, "Found"}, {303, "See Other"}, {304, "Not Modified"},
      {307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {400, "Bad Request"}, {401, "Unauthorized"},
      {403, "Forbidden"}, {404, "Not Found"}, {405, "Method Not Allowed"}, {409, "Conflict"}, {410, "Gone"},
      {413, "Content Too Large"}, {415, "Unsupported Media Type"}, {422, "Unprocessable Content"},
      {429, "Too Many Requests"}, {500, "Internal Server Error"}, {501, "Not Implemented"}, {502, "Bad Gateway"},
      {503, "Service Unavailable"}, {504, "Gateway Timeout"}};
  auto it = kReasons.find(status);
  return it == kReasons.end() ? "" : it->second;
}

// Request headers the transfer sets itself, or that change how the bytes
// are framed: a task may not set them.
bool IsForbiddenRequestHeader(const std::string& lower) {
  static const char* const kForbidden[] = {"host",    "transfer-encoding", "connection", "upgrade", "te",
                                           "trailer", "expect",            "keep-alive", "proxy-connection"};
  for (const char* h : kForbidden) {
    if (lower == h) return true;
  }
  return absl::StartsWith(lower, "proxy-");
}

// fetch init members that mean something in a browser only: accepted and
// ignored, so init objects written for browsers pass through.
bool IsBrowserOnlyInit(const std::string& key) {
  static const char* const kKeys[] = {"mode",      "credentials", "cache",    "referrer", "referrerPolicy",
                                      "integrity", "keepalive",   "priority", "signal",   "window"};
  for (const char* k : kKeys) {
    if (key == k) return true;
  }
  return false;
}

struct FetchRequest {
  std::string url;
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;  // names lower case
  std::string body;
  bool has_body = false;
  std::string redirect = "follow";
};

bool HasHeader(const FetchRequest& request, const std::string& lower) {
  for (const auto& [name, value] : request.headers) {
    if (name == lower) return true;
  }
  return false;
}

absl::Status AddHeader(FetchRequest* request, const std::string& name, const Json& value, const std::string& field,
                       size_t body_size) {
  if (!IsToken(name)) return Invalid(field, "not a valid header name");
  std::string text;
  if (value.is_string()) {
    text = value.get<std::string>();
  } else if (value.is_number() || value.is_boolean()) {
    text = value.dump();
  } else {
    return Invalid(field, absl::StrCat("expected a string, got ", value.type_name()));
  }
  if (text.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
    return Invalid(field, "a header value may not hold CR, LF or NUL");
  }
  const std::string lower = absl::AsciiStrToLower(name);
  if (IsForbiddenRequestHeader(lower)) return Invalid(field, "set by the transfer itself; a task may not set it");
  if (lower == "content-length") {
    // Computed from the body; a different value would corrupt the exchange.
    size_t n = 0;
    if (!absl::SimpleAtoi(text, &n) || n != body_size) {
      return Invalid(field, absl::StrCat("does not match the body's ", body_size, " bytes"));
    }
    return absl::OkStatus();
  }
  request->headers.emplace_back(lower, std::move(text));
  return absl::OkStatus();
}

// {url, method, headers, body, bodyEncoding, redirect}, or fetch's own
// positional form [url, init].
absl::StatusOr<FetchRequest> ParseFetch(const Json& raw) {
  Json args;
  if (raw.is_string()) {
    args = Json{{"url", raw}};
  } else if (raw.is_array() && !raw.empty() && raw[0].is_string()) {
    if (raw.size() > 2) return Invalid("args", "expected [url, init]");
    args = raw.size() == 2 && !raw[1].is_null() ? raw[1] : Json::object();
    if (!args.is_object()) return Invalid("args[1]", absl::StrCat("expected an init object, got ", args.type_name()));
    if (args.contains("url")) return Invalid("args[1].url", "the URL is args[0]");
    args["url"] = raw[0];
  } else {
    ASSIGN_OR_RETURN(args, NormalizeArgs(raw));
  }
  for (auto it = args.begin(); it != args.end(); ++it) {
    static const char* const kKnown[] = {"url", "method", "headers", "body", "bodyEncoding", "redirect"};
    if (std::find(std::begin(kKnown), std::end(kKnown), it.key()) == std::end(kKnown) &&
        !IsBrowserOnlyInit(it.key())) {
      return Invalid(absl::StrCat("args.", it.key()),
                     "unknown member (known: url, method, headers, body, bodyEncoding, redirect)");
    }
  }
  FetchRequest request;
  ASSIGN_OR_RETURN(request.url, StringArg(args, "url"));
  if (request.url.empty()) return Invalid("args.url", "required (an absolute http or https URL)");
  ASSIGN_OR_RETURN(std::string method, StringArg(args, "method", "GET"));
  if (!IsToken(method)) return Invalid("args.method", "not a valid HTTP method");
  const std::string upper = absl::AsciiStrToUpper(method);
  // fetch normalizes these six to upper case and leaves others as given.
  for (const char* m : {"DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"}) {
    if (upper == m) method = upper;
  }
  if (upper == "CONNECT" || upper == "TRACE" || upper == "TRACK") {
    return Invalid("args.method", absl::StrCat("'", method, "' is forbidden (as in fetch)"));
  }
  request.method = method;
  ASSIGN_OR_RETURN(const std::string encoding, StringArg(args, "bodyEncoding", "utf8"));
  if (encoding != "utf8" && encoding != "base64") return Invalid("args.bodyEncoding", "must be 'utf8' or 'base64'");
  if (auto it = args.find("body"); it != args.end() && !it->is_null()) {
    if (!it->is_string()) {
      return Invalid("args.body", absl::StrCat("expected a string (or null), got ", it->type_name(),
                                               " (JSON.stringify objects; base64 bytes with bodyEncoding 'base64')"));
    }
    if (encoding == "base64") {
      if (!absl::Base64Unescape(it->get<std::string>(), &request.body)) return Invalid("args.body", "not base64");
    } else {
      request.body = it->get<std::string>();
    }
    request.has_body = true;
    if (request.method == "GET" || request.method == "HEAD") {
      return Invalid("args.body", "a GET or HEAD request cannot have a body (as in fetch)");
    }
  }
  if (auto it = args.find("headers"); it != args.end() && !it->is_null()) {
    if (it->is_object()) {
      for (auto h = it->begin(); h != it->end(); ++h) {
        RETURN_IF_ERROR(AddHeader(&request, h.key(), h.value(), absl::StrCat("args.headers.", h.key()),
                                  request.body.size()));
      }
    } else if (it->is_array()) {
      for (size_t i = 0; i < it->size(); ++i) {
        const Json& pair = (*it)[i];
        const std::string field = absl::StrCat("args.headers[", i, "]");
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string()) {
          return Invalid(field, "expected a [name, value] pair");
        }
        RETURN_IF_ERROR(AddHeader(&request, pair[0].get<std::string>(), pair[1], field, request.body.size()));
      }
    } else {
      return Invalid("args.headers", absl::StrCat("expected an object {name: value}, got ", it->type_name()));
    }
    if (request.headers.size() > 200) return Invalid("args.headers", "at most 200 headers");
  }
  // What fetch sends with a string body; bytes go without a type.
  if (request.has_body && encoding == "utf8" && !HasHeader(request, "content-type")) {
    request.headers.emplace_back("content-type", "text/plain;charset=UTF-8");
  }
  ASSIGN_OR_RETURN(request.redirect, StringArg(args, "redirect", "follow"));
  if (request.redirect != "follow" && request.redirect != "manual" && request.redirect != "error") {
    return Invalid("args.redirect", "must be 'follow', 'manual' or 'error'");
  }
  return request;
}

void DropHeaders(FetchRequest* request, std::initializer_list<const char*> names) {
  auto& headers = request->headers;
  headers.erase(std::remove_if(headers.begin(), headers.end(),
                               [&](const auto& h) {
                                 for (const char* n : names) {
                                   if (h.first == n) return true;
                                 }
                                 return false;
                               }),
                headers.end());
}

// The Location of a redirect, resolved against the URL that answered it.
absl::StatusOr<std::string> ResolveLocation(const std::string& base, const std::string& location) {
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> handle(curl_url(), curl_url_cleanup);
  if (!handle || curl_url_set(handle.get(), CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(handle.get(), CURLUPART_URL, location.c_str(), CURLU_ALLOW_SPACE | CURLU_URLENCODE) != CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("the redirect Location '", location.substr(0, 200),
                                                   "' is not a URL"));
  }
  return CurlUrlPart(handle.get(), CURLUPART_URL);
}

class HttpProvider : public Provider {
 public:
  explicit HttpProvider(HttpProviderOptions options) : options_(options) {}
  std::string name() const override { return "http"; }
  std::string description() const override {
    return "HTTP requests for a task's fetch(): any http(s) URL the grants and the operator allow";
  }
  std::vector<std::string> methods() const override { return {"fetch"}; }

  absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method,
                                   const Json& raw_args) override {
    if (method != "fetch") {
      return absl::InvalidArgumentError(absl::StrCat("method: http has no method '", method, "'; supported: fetch"));
    }
    ASSIGN_OR_RETURN(FetchRequest request, ParseFetch(raw_args));
    ASSIGN_OR_RETURN(ParsedUrl url, ParseHttpUrl(request.url, "args.url"));
    if (!HasHeader(request, "user-agent")) request.headers.emplace_back("user-agent", "Tasker-fetch/1");
    if (!HasHeader(request, "accept")) request.headers.emplace_back("accept", "*/*");
    const absl::Time deadline = absl::Now() + context.timeout;
    bool redirected = false;
    for (int hop = 0;; ++hop) {
      if (context.grants == nullptr) return Denied(context, absl::PermissionDeniedError("no grants on the call"));
      if (absl::Status allowed = context.grants->CheckUrl(context.service, context.method, url.url); !allowed.ok()) {
        return Denied(context, allowed);
      }
      std::vector<std::string> resolve;
      if (std::optional<CallOutcome> refused = Resolve(context, url, &resolve)) return *refused;
      HttpRequest http;
      http.method = request.method;
      http.url = url.url;
      http.body = request.body;
      http.resolve = std::move(resolve);
      http.max_response_bytes = options_.max_response_bytes;
      http.timeout = deadline - absl::Now();
      if (http.timeout <= absl::ZeroDuration()) {
        return CallOutcome::Error("TIMEOUT", "http.fetch: the call's deadline passed", true);
      }
      for (const auto& [name, value] : request.headers) http.headers.emplace_back(name, value);
      absl::StatusOr<HttpResponse> response = Fetch(http);
      if (!response.ok()) return TransportError(response.status(), url.url);
      const long status = response->status;
      const bool is_redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
      std::string location;
      for (const auto& [name, value] : response->headers) {
        if (absl::EqualsIgnoreCase(name, "location")) location = value;
      }
      if (!is_redirect || location.empty() || request.redirect == "manual") {
        return CallOutcome::Ok(Result(*response, url.url, redirected));
      }
      if (request.redirect == "error") {
        return CallOutcome::Error("REDIRECT", absl::StrCat("http.fetch: ", url.url, " redirects (HTTP ", status,
                                                           ") and args.redirect is 'error'"),
                                  false, Json{{"status", status}, {"location", location}});
      }
      if (hop >= options_.max_redirects) {
        return CallOutcome::Error("TOO_MANY_REDIRECTS",
                                  absl::StrCat("http.fetch: more than ", options_.max_redirects, " redirects"), false,
                                  Json{{"url", url.url}});
      }
      auto next_text = ResolveLocation(url.url, location);
      if (!next_text.ok()) return CallOutcome::Error("BAD_REDIRECT", std::string(next_text.status().message()), false);
      auto next = ParseHttpUrl(*next_text, "the redirect target");
      if (!next.ok()) return CallOutcome::Error("BAD_REDIRECT", std::string(next.status().message()), false);
      // As fetch: 303 turns every method but HEAD into a body-less GET,
      // 301 and 302 turn POST into one; 307 and 308 repeat the request.
      if ((status == 303 && request.method != "HEAD") ||
          ((status == 301 || status == 302) && request.method == "POST")) {
        request.method = "GET";
        request.body.clear();
        request.has_body = false;
        DropHeaders(&request, {"content-type", "content-encoding", "content-language", "content-location"});
      }
      // Credentials do not follow a redirect to another origin.
      if (next->origin != url.origin) DropHeaders(&request, {"authorization", "cookie", "proxy-authorization"});
      url = *std::move(next);
      redirected = true;
    }
  }

 private:
  // The host's addresses, checked; nullopt when they may be reached, with
  // `resolve` pinning the connection to them.
  std::optional<CallOutcome> Resolve(const CallContext& context, const ParsedUrl& url,
                                     std::vector<std::string>* resolve) {
    std::vector<std::string> addresses;
    in6_addr v6;
    in_addr v4;
    const bool literal = inet_pton(AF_INET, url.host.c_str(), &v4) == 1 || inet_pton(AF_INET6, url.host.c_str(), &v6) == 1;
    if (literal) {
      addresses.push_back(url.host);
    } else {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* found = nullptr;
      const int rc = getaddrinfo(url.host.c_str(), nullptr, &hints, &found);
      if (rc != 0) {
        const bool unknown = rc == EAI_NONAME
#ifdef EAI_NODATA
                             || rc == EAI_NODATA
#endif
            ;
        // A name that does not exist stays so; anything else may pass.
        return CallOutcome::Error(unknown ? "UNRESOLVED_HOST" : "UNAVAILABLE",
                                  absl::StrCat("http.fetch: cannot resolve '", url.host, "': ", gai_strerror(rc)),
                                  !unknown);
      }
      for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN] = {0};
        const void* where = a->ai_family == AF_INET
                                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
        if ((a->ai_family == AF_INET || a->ai_family == AF_INET6) &&
            inet_ntop(a->ai_family, where, text, sizeof(text)) != nullptr &&
            std::find(addresses.begin(), addresses.end(), text) == addresses.end()) {
          addresses.push_back(text);
        }
      }
      freeaddrinfo(found);
      if (addresses.empty()) {
        return CallOutcome::Error("UNRESOLVED_HOST", absl::StrCat("http.fetch: '", url.host, "' has no address"),
                                  false);
      }
    }
    if (!options_.allow_private) {
      for (const auto& address : addresses) {
        if (IsNonPublicAddress(address)) {
          return Denied(context, absl::PermissionDeniedError(absl::StrCat(
                                     "'", url.host, "' resolves to ", address,
                                     ", a loopback, private or link-local address: the operator allows those with "
                                     "--http_allow_private")));
        }
      }
    }
    if (!literal) {
      std::vector<std::string> pinned;
      for (const auto& a : addresses) pinned.push_back(absl::StrContains(a, ':') ? absl::StrCat("[", a, "]") : a);
      resolve->push_back(absl::StrCat(url.host, ":", url.port, ":", absl::StrJoin(pinned, ",")));
    }
    return std::nullopt;
  }

  CallOutcome TransportError(const absl::Status& status, const std::string& url) const {
    const std::string message = absl::StrCat("http.fetch ", url, ": ", status.message());
    switch (status.code()) {
      case absl::StatusCode::kDeadlineExceeded:
        return CallOutcome::Error("TIMEOUT", message, true);
      case absl::StatusCode::kResourceExhausted:
        return CallOutcome::Error("RESPONSE_TOO_LARGE", message, false,
                                  Json{{"maxBytes", options_.max_response_bytes}});
      case absl::StatusCode::kInvalidArgument:
        return CallOutcome::Error("BAD_URL", message, false);
      default:
        return CallOutcome::Error("UNAVAILABLE", message, true);
    }
  }

  static Json Result(const HttpResponse& response, const std::string& url, bool redirected) {
    Json headers = Json::object();
    for (const auto& [name, value] : response.headers) {
      const std::string lower = absl::AsciiStrToLower(name);
      auto it = headers.find(lower);
      if (it == headers.end()) {
        headers[lower] = value;
      } else {
        *it = absl::StrCat(it->get<std::string>(), ", ", value);
      }
    }
    const bool text = IsValidUtf8(response.body);
    return Json{{"status", response.status},
                {"statusText", response.reason.empty() ? DefaultReason(response.status) : response.reason},
                {"headers", std::move(headers)},
                {"body", text ? response.body : absl::Base64Escape(response.body)},
                {"bodyEncoding", text ? "utf8" : "base64"},
                {"url", url},
                {"redirected", redirected}};
  }

  HttpProviderOptions options_;
};

}  // namespace

absl::StatusOr<ParsedUrl> ParseHttpUrl(const std::string& text, const std::string& field) {
  if (text.size() > 8192) return Invalid(field, "longer than 8192 characters");
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return Invalid(field, "a URL may not hold spaces or control characters");
  }
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> handle(curl_url(), curl_url_cleanup);
  if (!handle) return absl::InternalError("curl_url failed");
  if (curl_url_set(handle.get(), CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return Invalid(field, absl::StrCat("'", text.substr(0, 200), "' is not an absolute URL"));
  }
  ParsedUrl url;
  url.scheme = absl::AsciiStrToLower(CurlUrlPart(handle.get(), CURLUPART_SCHEME));
  if (url.scheme != "http" && url.scheme != "https") {
    return Invalid(field, absl::StrCat("only http and https URLs (got '", url.scheme, ":')"));
  }
  if (!CurlUrlPart(handle.get(), CURLUPART_USER).empty() || !CurlUrlPart(handle.get(), CURLUPART_PASSWORD).empty()) {
    return Invalid(field, "credentials in the URL are not supported (send an Authorization header)");
  }
  std::string host = absl::AsciiStrToLower(CurlUrlPart(handle.get(), CURLUPART_HOST));
  if (host.empty()) return Invalid(field, "the URL has no host");
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && !absl::StrContains(".-_:[]", c)) {
      return Invalid(field, "the host must be ASCII (write international names in punycode, xn--...)");
    }
  }
  const bool v6 = !host.empty() && host.front() == '[';
  url.host = v6 ? host.substr(1, host.size() - 2) : host;
  const std::string port = CurlUrlPart(handle.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!absl::SimpleAtoi(port, &url.port) || url.port <= 0 || url.port > 65535) return Invalid(field, "bad port");
  const bool default_port = (url.scheme == "http" && url.port == 80) || (url.scheme == "https" && url.port == 443);
  url.origin = absl::StrCat(url.scheme, "://", host, default_port ? "" : absl::StrCat(":", url.port));
  std::string path = CurlUrlPart(handle.get(), CURLUPART_PATH);
  if (path.empty()) path = "/";
  const std::string query = CurlUrlPart(handle.get(), CURLUPART_QUERY);
  url.url = absl::StrCat(url.origin, path, query.empty() ? "" : absl::StrCat("?", query));
  return url;
}

bool IsNonPublicAddress(const std::string& address) {
  in_addr v4;
  auto v4_private = [](uint32_t a) {
    auto in = [a](uint32_t net, int bits) { return (a >> (32 - bits)) == (net >> (32 - bits)); };
    return in(0x00000000, 8) ||    // 0.0.0.0/8 "this network"
           in(0x0A000000, 8) ||    // 10/8
           in(0x64400000, 10) ||   // 100.64/10 shared (CGNAT)
           in(0x7F000000, 8) ||    // loopback
           in(0xA9FE0000, 16) ||   // link-local, cloud metadata
           in(0xAC100000, 12) ||   // 172.16/12
           in(0xC0000000, 24) ||   // 192.0.0/24 protocol assignments
           in(0xC0A80000, 16) ||   // 192.168/16
           in(0xC6120000, 15) ||   // 198.18/15 benchmarking
           in(0xE0000000, 4) ||    // multicast
           in(0xF0000000, 4);      // reserved, broadcast
  };
  if (inet_pton(AF_INET, address.c_str(), &v4) == 1) return v4_private(ntohl(v4.s_addr));
  in6_addr v6;
  if (inet_pton(AF_INET6, address.c_str(), &v6) != 1) return true;
  const uint8_t* b = v6.s6_addr;
  auto embedded_v4 = [b](int offset) {
    return (uint32_t{b[offset]} << 24) | (uint32_t{b[offset + 1]} << 16) | (uint32_t{b[offset + 2]} << 8) |
           uint32_t{b[offset + 3]};
  };
  bool zero_prefix = true;
  for (int i = 0; i < 10; ++i) zero_prefix = zero_prefix && b[i] == 0;
  if (zero_prefix && b[10] == 0 && b[11] == 0) return true;  // ::, ::1, IPv4-compatible (deprecated)
  if (zero_prefix && b[10] == 0xff && b[11] == 0xff) return v4_private(embedded_v4(12));  // ::ffff:a.b.c.d
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) return v4_private(embedded_v4(12));  // NAT64
  if (b[0] == 0x20 && b[1] == 0x02) return v4_private(embedded_v4(2));  // 6to4
  if ((b[0] & 0xfe) == 0xfc) return true;                               // unique local fc00::/7
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return true;               // link-local fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return true;               // site-local (deprecated)
  if (b[0] == 0xff) return true;                                        // multicast
  return false;
}

bool IsValidUtf8(const std::string& bytes) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(extra) >= n) return false;  // truncated
    for (int k = 1; k <= extra; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

std::unique_ptr<Provider> NewHttpProvider(const HttpProviderOptions& options) {
  return std::make_unique<HttpProvider>(options);
}

}  // namespace tasker::proxy
