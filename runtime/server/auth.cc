#include "runtime/server/auth.h"

#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "grpc/grpc_security.h"
#include "openssl/crypto.h"

namespace tasker {
namespace {

constexpr absl::string_view kHealthPrefix = "/grpc.health.v1.Health/";

struct TokenState {
  std::string token;
};

absl::string_view SliceView(const grpc_slice& slice) {
  return absl::string_view(
      reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
      GRPC_SLICE_LENGTH(slice));
}

void ProcessMetadata(void* state, grpc_auth_context* /*context*/,
                     const grpc_metadata* md, size_t num_md,
                     grpc_process_auth_metadata_done_cb cb, void* user_data) {
  const auto* token_state = static_cast<const TokenState*>(state);
  // Core passes the request's metadata including the ":path" pseudo-header.
  bool ok = false;
  for (size_t i = 0; i < num_md; ++i) {
    absl::string_view key = SliceView(md[i].key);
    if (key == ":path" && absl::StartsWith(SliceView(md[i].value), kHealthPrefix)) {
      ok = true;
      break;
    }
    if (key == "authorization" &&
        BearerTokenMatches(SliceView(md[i].value), token_state->token)) {
      ok = true;
      break;
    }
  }
  if (ok) {
    cb(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
  } else {
    cb(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_UNAUTHENTICATED,
       "missing or invalid bearer token (metadata 'authorization: Bearer "
       "<token>')");
  }
}

void DestroyState(void* state) { delete static_cast<TokenState*>(state); }

// Insecure transport plus a core AuthMetadataProcessor.
class TokenCredentials final : public grpc::ServerCredentials {
 public:
  explicit TokenCredentials(std::string token) : token_(std::move(token)) {}

  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {}

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    grpc_server_credentials* creds = grpc_insecure_server_credentials_create();
    if (!token_.empty()) {
      grpc_auth_metadata_processor processor;
      processor.process = ProcessMetadata;
      processor.destroy = DestroyState;
      processor.state = new TokenState{token_};
      grpc_server_credentials_set_auth_metadata_processor(creds, processor);
    }
    int port = grpc_server_add_http2_port(server, addr.c_str(), creds);
    grpc_server_credentials_release(creds);
    return port;
  }

  std::string token_;
};

}  // namespace

bool BearerTokenMatches(absl::string_view header, absl::string_view token) {
  constexpr absl::string_view kBearer = "Bearer ";
  if (token.empty()) return false;
  if (header.size() != kBearer.size() + token.size()) return false;
  if (!absl::StartsWithIgnoreCase(header, kBearer)) return false;
  header.remove_prefix(kBearer.size());
  return CRYPTO_memcmp(header.data(), token.data(), token.size()) == 0;
}

std::shared_ptr<grpc::ServerCredentials> TokenServerCredentials(
    std::string token) {
  return std::make_shared<TokenCredentials>(std::move(token));
}

}  // namespace tasker
