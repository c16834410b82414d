#include "services/executor/http_gateway.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>


#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/common/json.h"
#include "runtime/common/json_text.h"
#include "runtime/common/log.h"
#include "runtime/common/trace.h"
#include "services/executor/http_body.h"
#include "services/executor/web_ui.h"

namespace tasker::services {
namespace {

using Json = nlohmann::json;

void SendMessage(httplib::Response& res, const google::protobuf::Message& message) {
  res.status = 200;
  res.set_content(ProtoToJsonWithPayloads(message), "application/json");
}

// The oldest error OpenSSL queued (the root cause), and the queue cleared.
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// An SSL_CTX set up from `tls`; `error` names the option that failed.
bool SetUpTls(SSL_CTX& ctx, const HttpTlsOptions& tls, std::string* error) {
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(&ctx, tls.cert_file.c_str()) != 1) {
    *error = absl::StrCat("http_tls_cert: cannot load a PEM certificate from '", tls.cert_file, "': ", OpenSslError());
    return false;
  }
  const std::string mismatch =
      absl::StrCat("http_tls_key: '", tls.key_file, "' is not the key of the certificate in '", tls.cert_file, "'");
  if (SSL_CTX_use_PrivateKey_file(&ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    // OpenSSL 3 checks the pair here already.
    const unsigned long code = ERR_peek_error();
    *error = ERR_GET_LIB(code) == ERR_LIB_X509 && ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH
                 ? mismatch
                 : absl::StrCat("http_tls_key: cannot load a PEM private key from '", tls.key_file, "': ",
                                OpenSslError());
    ERR_clear_error();
    return false;
  }
  if (SSL_CTX_check_private_key(&ctx) != 1) {
    *error = mismatch;
    ERR_clear_error();
    return false;
  }
  if (!tls.client_ca_file.empty()) {
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names == nullptr || SSL_CTX_load_verify_locations(&ctx, tls.client_ca_file.c_str(), nullptr) != 1) {
      if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
      *error = absl::StrCat("http_tls_client_ca: cannot load PEM CA certificates from '", tls.client_ca_file,
                            "': ", OpenSslError());
      return false;
    }
    // Tells clients which CAs are accepted; the context owns `names`.
    SSL_CTX_set_client_CA_list(&ctx, names);
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return true;
}

}  // namespace

HttpGateway::HttpGateway(TaskApi* api, std::shared_ptr<const Authenticator> authenticator,
                         std::shared_ptr<grpc::Channel> keystore)
    : api_(api),
      authenticator_(authenticator),
      compat_(std::make_unique<CompatRoutes>(api, authenticator, std::move(keystore))) {}

HttpGateway::~HttpGateway() { Stop(); }

absl::Status HttpGateway::Start(const std::string& listen, const HttpTlsOptions& tls) {
  if (server_) return absl::FailedPreconditionError("the HTTP gateway was already started");
  const auto colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError("http listen address must be host:port");
  }
  const std::string host = listen.substr(0, colon);
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError("http_tls_cert, http_tls_key: give both or neither");
  }
  if (tls.cert_file.empty() && !tls.client_ca_file.empty()) {
    return absl::InvalidArgumentError("http_tls_client_ca: needs http_tls_cert and http_tls_key");
  }
  if (tls.cert_file.empty()) {
    server_ = std::make_unique<httplib::Server>();
  } else {
    // The context is set up here rather than by SSLServer's file constructor,
    // which accepts TLS 1.1, a key that does not match the certificate and an
    // unreadable client CA file without a word.
    std::string error;
    auto server = std::make_unique<httplib::SSLServer>(
        [&](SSL_CTX& ctx) { return SetUpTls(ctx, tls, &error); });
    if (!server->is_valid()) {
      return absl::InvalidArgumentError(error.empty() ? absl::StrCat("http tls: ", OpenSslError()) : error);
    }
    server_ = std::move(server);
  }
  auto& s = *server_;
  // Browsers: any origin may call (requests carry a bearer token, never
  // cookies); preflights are answered without one.
  s.set_default_headers({{"Access-Control-Allow-Origin", "*"},
                         {"Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS"},
                         {"Access-Control-Allow-Headers",
                          "authorization, content-type, idempotency-key, x-client-info, apikey, traceparent"},
                         {"Access-Control-Expose-Headers", "X-Tasker-Warning"},
                         {"Access-Control-Max-Age", "600"}});
  s.Options(R"(.*)", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // The client's W3C traceparent, as over gRPC: this request's log lines
    // and calls carry its trace (set anew for each request on this thread).
    LogContext log_context;
    const std::string traceparent = req.get_header_value("traceparent");
    if (auto parent = ParseTraceParent(traceparent)) {
      log_context.trace_id = std::move(parent->trace_id);
      log_context.traceparent = traceparent;
    }
    SetThreadLogContext(std::move(log_context));
    // Open: health, CORS preflights, and the web UI's page and assets (they
    // hold no data; the page asks for a token when the API answers 401).
    if (req.path == "/health" || req.method == "OPTIONS" ||
        (req.method == "GET" && (req.path == "/" || absl::StartsWith(req.path, "/ui/")))) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    auto identity = authenticator_->Authorize(req.get_header_value("Authorization"),
                                              Roles{Role::kClient, Role::kAdmin},
                                              absl::StrCat(req.method, " ", req.path));
    if (!identity.ok()) {
      SendError(res, identity.status());
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  compat_->Register(s);
  s.Post(R"(/functions/v1/tasks/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    // The whole body is the input.
    const bool empty = req.body.find_first_not_of(" \t\r\n") == std::string::npos;
    if (!empty) {
      if (absl::Status valid = ValidateJson(req.body, "body"); !valid.ok()) return SendError(res, valid);
    }
    v1::SubmitRunRequest request;
    request.set_task_identifier(req.matches[1]);
    request.set_idempotency_key(req.get_header_value("Idempotency-Key"));
    request.set_input_json(empty ? std::string("{}") : req.body);
    auto submitted = api_->Submit(request);
    if (!submitted.ok()) return SendError(res, submitted.status());
    SendJson(res, JsonWriter()
                      .String("runId", submitted->run().id())
                      .Int("taskRunId", submitted->run().number())
                      .String("status", v1::RunStatus_Name(submitted->run().status()))
                      .Bool("created", submitted->created())
                      .Done());
  });
  s.Get("/functions/v1/tasks", [this](const httplib::Request&, httplib::Response& res) {
    v1::ListTaskFunctionsRequest request;
    request.set_omit_code(true);
    request.set_page_size(1000);
    auto functions = api_->ListTaskFunctions(request);
    if (!functions.ok()) return SendError(res, functions.status());
    SendMessage(res, *functions);
  });
  RegisterWebUi(s, api_, [auth = authenticator_](const httplib::Request& req) {
    auto identity = auth->Authenticate(req.get_header_value("Authorization"));
    return identity.ok() ? identity->name : std::string("anonymous");
  });
  s.set_payload_max_length(Body::kMaxBodyBytes);
  // httplib's own refusals (413 for a body above the limit, 404, ...) answer
  // in the same JSON shape as ours.
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    absl::Status status = res.status == 413
                              ? absl::InvalidArgumentError(absl::StrCat("body: larger than the limit of ",
                                                                        Body::kMaxBodyBytes, " bytes"))
                          : res.status == 404 ? absl::NotFoundError("no such route")
                                              : absl::UnknownError(absl::StrCat("HTTP ", res.status));
    const int code = res.status;
    SendError(res, status);
    res.status = code;
  });
  // A handler that throws answers 500 with a JSON error instead of an empty body.
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    SendError(res, absl::InternalError("the request could not be handled"));
  });
  if (port == 0) {
    port_ = s.bind_to_any_port(host);
  } else {
    port_ = s.bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) return absl::UnavailableError("cannot listen for HTTP on " + listen);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() does nothing before the server runs: a Stop right after
  // Start would otherwise leave the thread listening and the join hanging.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) absl::SleepFor(absl::Milliseconds(1));
  return absl::OkStatus();
}

void HttpGateway::Stop() {
  if (server_ && thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace tasker::services
