#include "runtime/server/auth.h"

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpc/grpc_security.h"
#include "openssl/sha.h"
#include "runtime/common/log.h"

namespace tasker {
namespace {

constexpr absl::string_view kHealthPrefix = "/grpc.health.v1.Health/";
constexpr absl::string_view kReflectionPrefix = "/grpc.reflection.";
constexpr char kIdentityProperty[] = "tasker_identity";

// gRPC 1.51's server auth filter hands the processor the connection's auth
// context, shared by every call on that connection, not a per-call one: adding
// a property reallocates its array while another call's handler may be
// iterating it (seen as gRPC's assertion "prop->name != nullptr" killing the
// keystore under load), and adding one per call grows it without bound. So
// adds and reads take this lock, and an identity already recorded on the
// context is not added again.
absl::Mutex g_identity_mu(absl::kConstInit);

bool HasIdentity(grpc_auth_context* context, const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_identity_mu) {
  grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(context, kIdentityProperty);
  while (const grpc_auth_property* property = grpc_auth_property_iterator_next(&it)) {
    if (property->value_length == name.size() && std::memcmp(property->value, name.data(), name.size()) == 0) {
      return true;
    }
  }
  return false;
}

constexpr Role kAllRoles[] = {Role::kClient, Role::kAdmin, Role::kExecutor,
                              Role::kProcessor, Role::kProxy, Role::kKeystore};

absl::string_view SliceView(const grpc_slice& slice) {
  return absl::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)), GRPC_SLICE_LENGTH(slice));
}

bool IsHex(absl::string_view s) {
  for (char c : s) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  return true;
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct ProcessorState {
  std::shared_ptr<const Authenticator> authenticator;
  std::shared_ptr<const AccessPolicy> policy;
};

void Done(grpc_process_auth_metadata_done_cb cb, void* user_data, grpc_status_code code,
          const std::string& message) {
  cb(user_data, nullptr, 0, nullptr, 0, code, code == GRPC_STATUS_OK ? nullptr : message.c_str());
}

void ProcessMetadata(void* state, grpc_auth_context* context, const grpc_metadata* md, size_t num_md,
                     grpc_process_auth_metadata_done_cb cb, void* user_data) {
  const auto* s = static_cast<const ProcessorState*>(state);
  absl::string_view path;
  absl::string_view authorization;
  for (size_t i = 0; i < num_md; ++i) {
    absl::string_view key = SliceView(md[i].key);
    if (key == ":path") path = SliceView(md[i].value);
    if (key == "authorization") authorization = SliceView(md[i].value);
  }
  bool open = false;
  std::optional<Roles> allowed = s->policy->Allowed(path, &open);
  if (open) {
    Done(cb, user_data, GRPC_STATUS_OK, "");
    return;
  }
  if (!allowed.has_value()) {
    // Who asks still decides between UNAUTHENTICATED and PERMISSION_DENIED.
    auto identity = s->authenticator->Authenticate(authorization);
    if (!identity.ok()) {
      Done(cb, user_data, GRPC_STATUS_UNAUTHENTICATED, std::string(identity.status().message()));
      return;
    }
    LogWarning("audit", {{"event", "permission_denied"},
                         {"identity", identity->name},
                         {"method", std::string(path)},
                         {"reason", "no role may call this method here"}});
    Done(cb, user_data, GRPC_STATUS_PERMISSION_DENIED,
         absl::StrCat(path, ": not served to any caller on this port"));
    return;
  }
  auto identity = s->authenticator->Authorize(authorization, *allowed, path);
  if (!identity.ok()) {
    // absl and gRPC share the status code numbers.
    Done(cb, user_data, static_cast<grpc_status_code>(identity.status().code()),
         std::string(identity.status().message()));
    return;
  }
  {
    absl::MutexLock lock(&g_identity_mu);
    if (!HasIdentity(context, identity->name)) {
      grpc_auth_context_add_cstring_property(context, kIdentityProperty, identity->name.c_str());
    }
  }
  Done(cb, user_data, GRPC_STATUS_OK, "");
}

void DestroyState(void* state) { delete static_cast<ProcessorState*>(state); }

// Plaintext or TLS transport with a core AuthMetadataProcessor (the C++
// wrapper does not attach processors to insecure credentials).
class AuthenticatingCredentials final : public grpc::ServerCredentials {
 public:
  AuthenticatingCredentials(std::shared_ptr<const Authenticator> authenticator,
                            std::shared_ptr<const AccessPolicy> policy, ServerTls tls)
      : authenticator_(std::move(authenticator)), policy_(std::move(policy)), tls_(std::move(tls)) {}

  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {}

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    grpc_server_credentials* creds;
    if (tls_.enabled()) {
      grpc_ssl_pem_key_cert_pair pair{tls_.private_key.c_str(), tls_.cert_chain.c_str()};
      creds = grpc_ssl_server_credentials_create_ex(
          tls_.client_ca.empty() ? nullptr : tls_.client_ca.c_str(), &pair, 1,
          tls_.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                   : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
          nullptr);
    } else {
      creds = grpc_insecure_server_credentials_create();
    }
    if (creds == nullptr) return 0;
    grpc_auth_metadata_processor processor;
    processor.process = ProcessMetadata;
    processor.destroy = DestroyState;
    processor.state = new ProcessorState{authenticator_, policy_};
    grpc_server_credentials_set_auth_metadata_processor(creds, processor);
    int port = grpc_server_add_http2_port(server, addr.c_str(), creds);
    grpc_server_credentials_release(creds);
    return port;
  }

  std::shared_ptr<const Authenticator> authenticator_;
  std::shared_ptr<const AccessPolicy> policy_;
  ServerTls tls_;
};

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kClient:
      return "client";
    case Role::kAdmin:
      return "admin";
    case Role::kExecutor:
      return "executor";
    case Role::kProcessor:
      return "processor";
    case Role::kProxy:
      return "proxy";
    case Role::kKeystore:
      return "keystore";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role role : kAllRoles) {
    if (RoleName(role) == name) return role;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown role '", name, "' (roles: client, admin, executor, processor, proxy, keystore)"));
}

Roles Roles::All() {
  Roles all;
  for (Role role : kAllRoles) all.Add(role);
  return all;
}

std::string Roles::ToString(absl::string_view separator) const {
  std::vector<std::string> names;
  for (Role role : kAllRoles) {
    if (Has(role)) names.emplace_back(RoleName(role));
  }
  return absl::StrJoin(names, separator);
}

std::string TokenHash(absl::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

absl::StatusOr<std::map<std::string, Identity>> ParseCredentials(absl::string_view text) {
  std::map<std::string, Identity> by_hash;
  std::map<std::string, int> names;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("credentials line ", line_number, ": ", why));
    };
    if (fields.size() != 3) return bad("expected '<identity> <role>[,<role>...] <token or sha256:hex>'");
    const std::string name(fields[0]);
    for (char c : name) {
      if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.' && c != '@') {
        return bad("identity: letters, digits, '-', '_', '.', '@' only");
      }
    }
    if (names.count(name)) return bad(absl::StrCat("identity '", name, "' repeats line ", names[name]));
    names[name] = line_number;
    Identity identity{name, {}};
    for (absl::string_view role_name : absl::StrSplit(fields[1], ',', absl::SkipEmpty())) {
      auto role = ParseRole(role_name);
      if (!role.ok()) return bad(role.status().message());
      identity.roles.Add(*role);
    }
    if (identity.roles.empty()) return bad("at least one role is required");
    std::string hash;
    if (absl::StartsWith(fields[2], "sha256:")) {
      hash = absl::AsciiStrToLower(fields[2].substr(7));
      if (hash.size() != 64 || !IsHex(hash)) return bad("sha256: must be followed by 64 hex digits");
    } else {
      if (fields[2].size() < 16) return bad("a token must be at least 16 characters");
      hash = TokenHash(fields[2]);
    }
    if (by_hash.count(hash)) return bad("the same token is listed twice");
    by_hash.emplace(hash, std::move(identity));
  }
  if (by_hash.empty()) return absl::InvalidArgumentError("credentials: the file lists no identity");
  return by_hash;
}

absl::StatusOr<std::shared_ptr<Authenticator>> Authenticator::FromFile(const std::string& path) {
  std::optional<std::string> text = ReadFile(path);
  if (!text) return absl::InvalidArgumentError(absl::StrCat("--credentials_file: cannot read ", path));
  auto parsed = ParseCredentials(*text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--credentials_file ", path, ": ", parsed.status().message()));
  }
  std::shared_ptr<Authenticator> auth(new Authenticator());
  auth->path_ = path;
  auth->by_hash_ = std::make_shared<const std::map<std::string, Identity>>(*std::move(parsed));
  auth->last_check_ = absl::Now();
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) {
    auth->file_mtime_ns_ = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    auth->file_size_ = st.st_size;
  }
  return auth;
}

std::shared_ptr<Authenticator> Authenticator::FromIdentities(std::map<std::string, Identity> by_hash) {
  std::shared_ptr<Authenticator> auth(new Authenticator());
  auth->by_hash_ = std::make_shared<const std::map<std::string, Identity>>(std::move(by_hash));
  return auth;
}

std::shared_ptr<Authenticator> Authenticator::InsecureDev() {
  std::shared_ptr<Authenticator> auth(new Authenticator());
  auth->insecure_dev_ = true;
  auth->by_hash_ = std::make_shared<const std::map<std::string, Identity>>();
  return auth;
}

void Authenticator::MaybeReload() const {
  if (path_.empty()) return;
  const absl::Time now = absl::Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now - last_check_ < reload_interval_) return;
    last_check_ = now;
  }
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0) return;  // Keep what we have.
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (mtime == file_mtime_ns_ && st.st_size == file_size_) return;
  }
  std::optional<std::string> text = ReadFile(path_);
  if (!text) return;
  auto parsed = ParseCredentials(*text);
  std::lock_guard<std::mutex> lock(mu_);
  file_mtime_ns_ = mtime;
  file_size_ = st.st_size;
  if (!parsed.ok()) {
    LogError("credentials file changed but does not parse; keeping the previous credentials",
             {{"file", path_}, {"error", std::string(parsed.status().message())}});
    return;
  }
  LogInfo("credentials reloaded", {{"file", path_}, {"identities", std::to_string(parsed->size())}});
  by_hash_ = std::make_shared<const std::map<std::string, Identity>>(*std::move(parsed));
}

absl::StatusOr<Identity> Authenticator::Authenticate(absl::string_view authorization) const {
  if (insecure_dev_) return Identity{"dev", Roles::All()};
  constexpr absl::string_view kBearer = "Bearer ";
  if (authorization.empty()) {
    return absl::UnauthenticatedError("missing bearer token (metadata 'authorization: Bearer <token>')");
  }
  if (authorization.size() <= kBearer.size() || !absl::StartsWithIgnoreCase(authorization, kBearer)) {
    return absl::UnauthenticatedError("malformed authorization: expected 'Bearer <token>'");
  }
  MaybeReload();
  const std::string hash = TokenHash(authorization.substr(kBearer.size()));
  std::shared_ptr<const std::map<std::string, Identity>> by_hash;
  {
    std::lock_guard<std::mutex> lock(mu_);
    by_hash = by_hash_;
  }
  auto it = by_hash->find(hash);
  if (it == by_hash->end()) return absl::UnauthenticatedError("unknown or revoked bearer token");
  return it->second;
}

absl::StatusOr<Identity> Authenticator::Authorize(absl::string_view authorization, Roles allowed,
                                                  absl::string_view what) const {
  auto identity = Authenticate(authorization);
  if (!identity.ok()) return identity.status();
  if (!allowed.Intersects(identity->roles)) {
    LogWarning("audit", {{"event", "permission_denied"},
                         {"identity", identity->name},
                         {"method", std::string(what)},
                         {"required", allowed.ToString(" or ")}});
    return absl::PermissionDeniedError(absl::StrCat(what, " requires the role ", allowed.ToString(" or "), "; '",
                                                    identity->name, "' has ",
                                                    identity->roles.empty() ? "no role" : identity->roles.ToString(", ")));
  }
  return identity;
}

std::optional<Roles> AccessPolicy::Allowed(absl::string_view path, bool* open) const {
  *open = absl::StartsWith(path, kHealthPrefix);
  if (*open) return Roles::All();
  if (absl::StartsWith(path, kReflectionPrefix)) return Roles::All();
  absl::string_view full = path;
  if (absl::StartsWith(full, "/")) full.remove_prefix(1);
  if (auto it = methods_.find(full); it != methods_.end()) return it->second;
  const size_t slash = full.find('/');
  if (slash == absl::string_view::npos) return std::nullopt;
  if (auto it = services_.find(full.substr(0, slash)); it != services_.end()) return it->second;
  if (auto it = services_.find("*"); it != services_.end()) return it->second;
  return std::nullopt;
}

std::shared_ptr<grpc::ServerCredentials> SecureServerCredentials(std::shared_ptr<const Authenticator> authenticator,
                                                                 std::shared_ptr<const AccessPolicy> policy,
                                                                 ServerTls tls) {
  return std::make_shared<AuthenticatingCredentials>(std::move(authenticator), std::move(policy), std::move(tls));
}

std::string CallerOf(const grpc::ServerContext& context) {
  auto auth = context.auth_context();
  if (auth) {
    absl::MutexLock lock(&g_identity_mu);  // see g_identity_mu
    auto values = auth->FindPropertyValues(kIdentityProperty);
    if (!values.empty()) return std::string(values[0].data(), values[0].size());
  }
  return "anonymous";
}

}  // namespace tasker
