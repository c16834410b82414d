// Outbound HTTP for providers, over libcurl: timeouts, TLS verification on.
#ifndef TASKER_SERVICES_PROXY_HTTP_CLIENT_H_
#define TASKER_SERVICES_PROXY_HTTP_CLIENT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tasker::proxy {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  absl::Duration timeout = absl::Seconds(30);
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

// Performs one request. Errors: DEADLINE_EXCEEDED on timeout, UNAVAILABLE
// when the server cannot be reached (both retryable); INVALID_ARGUMENT for
// a malformed URL. Any HTTP status is a response, not an error.
absl::StatusOr<HttpResponse> Fetch(const HttpRequest& request);

// Percent-encodes a query or path component.
std::string UrlEncode(const std::string& text);

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_HTTP_CLIENT_H_
