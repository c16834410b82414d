#include "services/executor/http_gateway.h"

#include <httplib.h>
#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/common/json.h"

namespace tasker::services {
namespace {

using Json = nlohmann::json;

void SendError(httplib::Response& res, const absl::Status& status) {
  res.status = HttpStatusFor(status.code());
  res.set_content(Json{{"error", {{"code", absl::StatusCodeToString(status.code())},
                                  {"message", std::string(status.message())}}}}
                      .dump(),
                  "application/json");
}

void SendMessage(httplib::Response& res, const google::protobuf::Message& message) {
  res.status = 200;
  res.set_content(ProtoToJson(message), "application/json");
}

absl::StatusOr<Json> Body(const httplib::Request& req) {
  if (req.body.empty()) return Json::object();
  Json body = Json::parse(req.body, nullptr, false);
  if (body.is_discarded()) return absl::InvalidArgumentError("body: not valid JSON");
  return body;
}


}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kFailedPrecondition: return 412;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

HttpGateway::HttpGateway(TaskApi* api, std::string auth_token)
    : api_(api), auth_token_(std::move(auth_token)), server_(std::make_unique<httplib::Server>()) {}

HttpGateway::~HttpGateway() { Stop(); }

absl::Status HttpGateway::Start(const std::string& listen) {
  const auto colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError("http listen address must be host:port");
  }
  const std::string host = listen.substr(0, colon);
  auto& s = *server_;
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (auth_token_.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string expected = "Bearer " + auth_token_;
    const std::string got = req.get_header_value("Authorization");
    if (got.size() != expected.size() || CRYPTO_memcmp(got.data(), expected.data(), got.size()) != 0) {
      SendError(res, absl::UnauthenticatedError("missing or invalid bearer token"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  s.Post("/task/store-function", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = Body(req);
    if (!body.ok()) return SendError(res, body.status());
    v1::PublishTaskRequest request;
    request.set_identifier(body->value("name", body->value("identifier", "")));
    request.set_code(body->value("code", ""));
    if (body->contains("metadata")) {
      auto metadata = NlohmannToValue((*body)["metadata"], "metadata");
      if (!metadata.ok() || !metadata->has_struct_value()) {
        return SendError(res, absl::InvalidArgumentError("metadata: must be a JSON object"));
      }
      *request.mutable_metadata() = metadata->struct_value();
    }
    auto published = api_->Publish(request);
    if (!published.ok()) return SendError(res, published.status());
    SendMessage(res, *published);
  });
  auto submit = [this](httplib::Response& res, const std::string& name, const Json& input, const std::string& key) {
    v1::SubmitRunRequest request;
    request.set_task_identifier(name);
    request.set_idempotency_key(key);
    auto value = NlohmannToValue(input, "input");
    if (!value.ok()) return SendError(res, value.status());
    *request.mutable_input() = *value;
    auto submitted = api_->Submit(request);
    if (!submitted.ok()) return SendError(res, submitted.status());
    res.set_content(Json{{"runId", submitted->run().id()},
                         {"status", v1::RunStatus_Name(submitted->run().status())},
                         {"created", submitted->created()}}
                        .dump(),
                    "application/json");
  };
  s.Post("/task/submit", [submit](const httplib::Request& req, httplib::Response& res) {
    auto body = Body(req);
    if (!body.ok()) return SendError(res, body.status());
    const std::string name = body->value("name", body->value("taskName", ""));
    submit(res, name, body->contains("input") ? (*body)["input"] : Json(nullptr), body->value("idempotencyKey", ""));
  });
  s.Post(R"(/functions/v1/tasks/([^/]+))", [submit](const httplib::Request& req, httplib::Response& res) {
    auto body = Body(req);
    if (!body.ok()) return SendError(res, body.status());
    submit(res, req.matches[1], *body, req.get_header_value("Idempotency-Key"));
  });
  s.Get(R"(/task/status/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    v1::GetRunRequest request;
    request.set_id(req.matches[1]);
    auto run = api_->GetRun(request);
    if (!run.ok()) return SendError(res, run.status());
    SendMessage(res, run->run());
  });
  s.Get("/functions/v1/tasks", [this](const httplib::Request&, httplib::Response& res) {
    v1::ListTaskFunctionsRequest request;
    request.set_omit_code(true);
    request.mutable_page()->set_limit(1000);
    auto functions = api_->ListTaskFunctions(request);
    if (!functions.ok()) return SendError(res, functions.status());
    SendMessage(res, *functions);
  });
  s.set_payload_max_length(4 << 20);
  if (port == 0) {
    port_ = s.bind_to_any_port(host);
  } else {
    port_ = s.bind_to_port(host, port) ? port : -1;
  }
  if (port_ <= 0) return absl::UnavailableError("cannot listen for HTTP on " + listen);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return absl::OkStatus();
}

void HttpGateway::Stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

}  // namespace tasker::services
