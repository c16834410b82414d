// The `http` provider: a task's fetch(url, init) as a durable host call.
//
//   fetch {url, method?, headers?, body?, bodyEncoding?, redirect?}
//     -> {status, statusText, headers, body, bodyEncoding, url, redirected}
//
// Non-2xx statuses are results, as fetch gives them; transport failures
// (unreachable, timeout) are retryable errors; a response over the size
// limit is a final error. Only http and https; a URL whose host resolves to
// a loopback, private, link-local (cloud metadata), multicast or otherwise
// non-public address is refused unless the operator allows it
// (--http_allow_private, for development and tests), checked for every
// redirect target, and the connection goes to the addresses checked (no
// second lookup a rebinding DNS could answer differently). Grants:
// `http:fetch` reaches any URL; `http:fetch as url=<glob>` only matching
// ones (services/common/permissions.h).
#ifndef TASKER_SERVICES_PROXY_HTTP_PROVIDER_H_
#define TASKER_SERVICES_PROXY_HTTP_PROVIDER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/proxy/provider.h"

namespace tasker::proxy {

struct HttpProviderOptions {
  // Reach loopback, private and link-local addresses too.
  bool allow_private = false;
  // A larger response is a final RESPONSE_TOO_LARGE error.
  size_t max_response_bytes = size_t{10} << 20;
  int max_redirects = 5;
};

std::unique_ptr<Provider> NewHttpProvider(const HttpProviderOptions& options);

// An absolute http(s) URL, normalized: scheme and host in lower case, the
// default port dropped, the path at least "/", the fragment dropped.
// INVALID_ARGUMENT naming `field` for anything else (other schemes, user
// info, no host, spaces).
struct ParsedUrl {
  std::string url;     // normalized
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case; IPv6 without brackets
  int port = 0;        // effective
  std::string origin;  // scheme://host[:port]
};
absl::StatusOr<ParsedUrl> ParseHttpUrl(const std::string& url, const std::string& field);

// Whether an address (IPv4 or IPv6 text) is one a task may not reach by
// default: loopback, private, shared (CGNAT), link-local, unspecified,
// multicast, reserved, and IPv6 forms embedding those. Unparseable: true.
bool IsNonPublicAddress(const std::string& address);

// Whether `bytes` is valid UTF-8 (no overlong forms, surrogates or values
// past U+10FFFF).
bool IsValidUtf8(const std::string& bytes);

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_HTTP_PROVIDER_H_
