// Outbound HTTP for providers, over libcurl: timeouts, TLS verification on.
#ifndef TASKER_SERVICES_PROXY_HTTP_CLIENT_H_
#define TASKER_SERVICES_PROXY_HTTP_CLIENT_H_

#include <cstddef>
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
  // Connect to these addresses instead of resolving the host again
  // (curl's "host:port:address" entries): a name checked once cannot
  // resolve elsewhere by the time the connection is made.
  std::vector<std::string> resolve;
  // 0: no limit. Beyond it, RESOURCE_EXHAUSTED (the transfer stops).
  size_t max_response_bytes = 0;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  // The status line's reason phrase ("" on HTTP/2, which has none).
  std::string reason;
  // As received, in order (names as the server wrote them), of the last
  // response (redirects are not followed).
  std::vector<std::pair<std::string, std::string>> headers;
};

// Performs one request. Errors: DEADLINE_EXCEEDED on timeout, UNAVAILABLE
// when the server cannot be reached (both retryable); INVALID_ARGUMENT for
// a malformed URL; RESOURCE_EXHAUSTED past max_response_bytes. Any HTTP
// status is a response, not an error.
absl::StatusOr<HttpResponse> Fetch(const HttpRequest& request);

// Percent-encodes a query or path component.
std::string UrlEncode(const std::string& text);

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_HTTP_CLIENT_H_
