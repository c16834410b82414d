#include "services/executor/http_compat.h"

#include <httplib.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "tasker/v1/keystore.grpc.pb.h"
#include "runtime/client/channel.h"
#include "runtime/common/log.h"
#include "services/executor/http_body.h"

namespace tasker::services {
namespace {

using google::protobuf::util::TimeUtil;

bool IsSet(const google::protobuf::Timestamp& t) { return t.seconds() != 0 || t.nanos() != 0; }

// SQLite's CURRENT_TIMESTAMP form, UTC, as the old API wrote times.
std::string OldTime(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixSeconds(t.seconds()), absl::UTCTimeZone());
}

void TimeField(JsonWriter& w, absl::string_view key, const google::protobuf::Timestamp& t) {
  if (IsSet(t)) {
    w.String(key, OldTime(t));
  } else {
    w.Null(key);
  }
}

std::string OldStackStatus(v1::StackRunStatus status) {
  switch (status) {
    case v1::STACK_RUN_STATUS_PENDING: return "pending";
    case v1::STACK_RUN_STATUS_RUNNING: return "processing";
    case v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD: return "suspended_waiting_child";
    case v1::STACK_RUN_STATUS_READY_TO_RESUME: return "pending_resume";
    case v1::STACK_RUN_STATUS_COMPLETED: return "completed";
    case v1::STACK_RUN_STATUS_FAILED: return "failed";
    case v1::STACK_RUN_STATUS_CANCELLED: return "cancelled";
    default: return "unknown";
  }
}

std::string ErrorJson(const v1::ErrorInfo& e) {
  JsonWriter w;
  w.String("message", e.message()).String("code", e.code());
  if (!e.stack().empty()) w.String("stack", e.stack());
  w.Bool("retryable", e.retryable());
  return w.Done();
}

int64_t DurationMs(const google::protobuf::Timestamp& from, const google::protobuf::Timestamp& to) {
  return (TimeUtil::TimestampToMilliseconds(to) - TimeUtil::TimestampToMilliseconds(from));
}

// One row of the old task_runs table (and what the old one lacked).
void RunFields(JsonWriter& w, const v1::TaskRun& run) {
  w.Int("id", run.number())
      .String("run_id", run.id())
      .String("task_identifier", run.task_identifier())
      .Int("task_version", run.task_version())
      .String("status", OldRunStatus(run.status()))
      .Raw("input", run.input_json())
      .Raw("result", run.status() == v1::RUN_STATUS_COMPLETED ? run.result_json() : "null");
  if (run.has_error()) {
    w.Raw("error", ErrorJson(run.error()));
  } else {
    w.Null("error");
  }
  w.Int("suspend_count", run.suspend_count());
  TimeField(w, "created_at", run.created_at());
  TimeField(w, "updated_at", run.updated_at());
  TimeField(w, "completed_at", run.completed_at());
}

std::string StackRunJson(const v1::StackRun& s, const v1::TaskRun& run,
                         const std::map<std::string, int64_t>& numbers) {
  JsonWriter w;
  const bool root = s.parent_id().empty();
  w.Int("id", s.number()).String("stack_run_id", s.id()).Int("task_run_id", run.number());
  auto parent = numbers.find(s.parent_id());
  if (root || parent == numbers.end()) {
    w.Null("parent_stack_run_id");
  } else {
    w.Int("parent_stack_run_id", parent->second);
  }
  w.String("operation", root ? std::string("task_init") : absl::StrCat(s.service(), ".", s.method()))
      .String("service_name", s.service())
      .String("method_name", s.method())
      .Int("call_index", s.call_index())
      .String("status", OldStackStatus(s.status()))
      .Raw("input", root ? run.input_json() : s.args_json())
      .Raw("result", s.status() == v1::STACK_RUN_STATUS_COMPLETED && !root ? s.result_json() : "null");
  if (s.has_error()) {
    w.Raw("error", ErrorJson(s.error()));
  } else {
    w.Null("error");
  }
  w.Int("attempts", s.attempt());
  TimeField(w, "created_at", s.created_at());
  TimeField(w, "updated_at", s.updated_at());
  TimeField(w, "completed_at", s.completed_at());
  if (IsSet(s.completed_at())) {
    w.Int("duration_ms", DurationMs(s.created_at(), s.completed_at()));
  } else {
    w.Null("duration_ms");
  }
  return w.Done();
}

std::map<std::string, int64_t> NumbersOf(const v1::GetRunResponse& run) {
  std::map<std::string, int64_t> numbers;
  for (const auto& s : run.stack_runs()) numbers[s.id()] = s.number();
  return numbers;
}

bool Ended(v1::RunStatus s) {
  return s == v1::RUN_STATUS_COMPLETED || s == v1::RUN_STATUS_FAILED || s == v1::RUN_STATUS_CANCELLED;
}

absl::StatusOr<v1::RunStatus> RunStatusFromOld(absl::string_view name) {
  for (int s = v1::RUN_STATUS_PENDING; s <= v1::RUN_STATUS_CANCELLED; ++s) {
    if (OldRunStatus(static_cast<v1::RunStatus>(s)) == name) return static_cast<v1::RunStatus>(s);
  }
  if (name == "queued") return v1::RUN_STATUS_PENDING;
  return absl::InvalidArgumentError(absl::StrCat("status: unknown status '", name, "'"));
}

// --- PostgREST subset ------------------------------------------------------

struct Condition {
  std::string column;
  std::string op;  // eq neq gt gte lt lte in is
  std::vector<std::string> values;
};

struct RestQuery {
  std::vector<std::string> select;  // empty: all
  std::vector<Condition> where;
  std::string order_column;
  bool descending = false;
  int limit = 100;
  int offset = 0;
};

absl::StatusOr<RestQuery> ParseRestQuery(const httplib::Request& req, const std::vector<std::string>& columns) {
  RestQuery q;
  auto known = [&](const std::string& c) { return std::find(columns.begin(), columns.end(), c) != columns.end(); };
  for (const auto& [key, value] : req.params) {
    if (key == "select") {
      if (value == "*") continue;
      for (absl::string_view c : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        if (!known(std::string(c))) {
          return absl::InvalidArgumentError(absl::StrCat("select: column '", c, "' does not exist"));
        }
        q.select.emplace_back(c);
      }
    } else if (key == "order") {
      std::vector<std::string> parts = absl::StrSplit(value, '.');
      if (parts.empty() || !known(parts[0]) || parts.size() > 3 ||
          (parts.size() >= 2 && parts[1] != "asc" && parts[1] != "desc")) {
        return absl::InvalidArgumentError(absl::StrCat("order: expected <column>.asc or <column>.desc, got '",
                                                       value, "'"));
      }
      q.order_column = parts[0];
      q.descending = parts.size() >= 2 && parts[1] == "desc";
    } else if (key == "limit" || key == "offset") {
      int n = 0;
      if (!absl::SimpleAtoi(value, &n) || n < 0 || n > 1000) {
        return absl::InvalidArgumentError(absl::StrCat(key, ": an integer within 0..1000"));
      }
      (key == "limit" ? q.limit : q.offset) = n;
    } else {
      if (!known(key)) return absl::InvalidArgumentError(absl::StrCat(key, ": column '", key, "' does not exist"));
      const auto dot = value.find('.');
      Condition c{key, value.substr(0, dot == std::string::npos ? value.size() : dot), {}};
      const std::string operand = dot == std::string::npos ? "" : value.substr(dot + 1);
      if (c.op == "in") {
        if (operand.size() < 2 || operand.front() != '(' || operand.back() != ')') {
          return absl::InvalidArgumentError(absl::StrCat(key, ": in. takes a list: in.(a,b)"));
        }
        c.values = absl::StrSplit(operand.substr(1, operand.size() - 2), ',');
      } else if (c.op == "eq" || c.op == "neq" || c.op == "gt" || c.op == "gte" || c.op == "lt" ||
                 c.op == "lte" || c.op == "is") {
        c.values = {operand};
      } else {
        return absl::InvalidArgumentError(absl::StrCat(
            key, ": unsupported operator in '", value, "' (eq, neq, gt, gte, lt, lte, in, is)"));
      }
      q.where.push_back(std::move(c));
    }
  }
  return q;
}

// The text form of a row's column for comparisons ("" for null).
std::string ColumnText(const nlohmann::ordered_json& row, const std::string& column, bool* is_null) {
  auto it = row.find(column);
  *is_null = it == row.end() || it->is_null();
  if (*is_null) return "";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

bool Compare(const nlohmann::ordered_json& row, const Condition& c) {
  bool is_null = false;
  const std::string text = ColumnText(row, c.column, &is_null);
  if (c.op == "is") return (c.values[0] == "null") == is_null;
  if (is_null) return false;
  auto cmp = [&](const std::string& v) -> int {
    double a = 0, b = 0;
    if (absl::SimpleAtod(text, &a) && absl::SimpleAtod(v, &b)) return a < b ? -1 : a > b ? 1 : 0;
    return text.compare(v) < 0 ? -1 : text.compare(v) > 0 ? 1 : 0;
  };
  if (c.op == "in") {
    for (const auto& v : c.values) if (cmp(v) == 0) return true;
    return false;
  }
  const int r = cmp(c.values[0]);
  if (c.op == "eq") return r == 0;
  if (c.op == "neq") return r != 0;
  if (c.op == "gt") return r > 0;
  if (c.op == "gte") return r >= 0;
  if (c.op == "lt") return r < 0;
  return r <= 0;  // lte
}

std::string ApplyRestQuery(std::vector<nlohmann::ordered_json> rows, const RestQuery& q) {
  std::vector<nlohmann::ordered_json> kept;
  for (auto& row : rows) {
    bool ok = true;
    for (const auto& c : q.where) ok = ok && Compare(row, c);
    if (ok) kept.push_back(std::move(row));
  }
  const std::string order = q.order_column.empty() ? "id" : q.order_column;
  const bool descending = q.order_column.empty() ? false : q.descending;
  std::stable_sort(kept.begin(), kept.end(), [&](const auto& a, const auto& b) {
    bool null_a = false, null_b = false;
    const std::string ta = ColumnText(a, order, &null_a), tb = ColumnText(b, order, &null_b);
    double da = 0, db = 0;
    const bool numeric = absl::SimpleAtod(ta, &da) && absl::SimpleAtod(tb, &db);
    const bool less = numeric ? da < db : ta < tb;
    const bool greater = numeric ? da > db : ta > tb;
    return descending ? greater : less;
  });
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (size_t i = q.offset; i < kept.size() && out.size() < static_cast<size_t>(q.limit); ++i) {
    if (q.select.empty()) {
      out.push_back(std::move(kept[i]));
    } else {
      nlohmann::ordered_json picked = nlohmann::ordered_json::object();
      for (const auto& c : q.select) picked[c] = kept[i].contains(c) ? kept[i][c] : nullptr;
      out.push_back(std::move(picked));
    }
  }
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const std::vector<std::string> kTaskRunColumns = {"id", "run_id", "task_identifier", "task_version", "status",
                                                  "input", "result", "error", "suspend_count", "created_at",
                                                  "updated_at", "completed_at"};
const std::vector<std::string> kStackRunColumns = {
    "id", "stack_run_id", "task_run_id", "parent_stack_run_id", "operation", "service_name", "method_name",
    "call_index", "status", "input", "result", "error", "attempts", "created_at", "updated_at", "completed_at",
    "duration_ms"};

// Services by their old edge-function names.
std::string ServiceOfWrapped(absl::string_view name) {
  static const std::map<std::string, std::string, std::less<>> kNames = {
      {"wrappedgapi", "gapi"},         {"wrappedkeystore", "keystore"},   {"wrappedsupabase", "database"},
      {"wrappedopenai", "openai"},     {"wrappedwebsearch", "websearch"}, {"wrappeddatabase", "database"}};
  auto it = kNames.find(name);
  if (it != kNames.end()) return it->second;
  if (absl::StartsWith(name, "wrapped") && name.size() > 7) return std::string(name.substr(7));
  return "";
}

// {chain:[{property,args}...]} or {method,args} -> service method and args.
struct DirectCall {
  std::string method;
  std::string args_json = "null";
};

absl::StatusOr<DirectCall> ParseDirectCall(const std::string& body_text) {
  const auto body = nlohmann::ordered_json::parse(body_text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return absl::InvalidArgumentError("body: must be a JSON object");
  DirectCall call;
  if (body.contains("chain")) {
    const auto& chain = body["chain"];
    if (!chain.is_array() || chain.empty()) return absl::InvalidArgumentError("chain: a non-empty array is required");
    std::vector<std::string> path;
    int calls = 0;
    for (size_t i = 0; i < chain.size(); ++i) {
      const auto& link = chain[i];
      if (!link.is_object() || !link.contains("property") || !link["property"].is_string() ||
          link["property"].get<std::string>().empty()) {
        return absl::InvalidArgumentError(absl::StrCat("chain[", i, "].property: a non-empty string is required"));
      }
      path.push_back(link["property"]);
      if (link.contains("args") || (link.contains("type") && link["type"] == "call")) ++calls;
    }
    const auto& last = chain.back();
    if (calls <= 1) {
      // One call at the end of a property path: service.method(args).
      call.method = absl::StrJoin(path, ".");
      if (last.contains("args")) call.args_json = last["args"].dump();
    } else {
      // Several calls (a supabase-style query): the provider takes the chain.
      call.method = "chain";
      call.args_json = nlohmann::ordered_json{{"chain", chain}}.dump();
    }
  } else if (body.contains("method") || body.contains("action")) {
    const auto& m = body.contains("method") ? body["method"] : body["action"];
    if (!m.is_string() || m.get<std::string>().empty()) {
      return absl::InvalidArgumentError("method: a non-empty string is required");
    }
    call.method = m;
    if (body.contains("args")) call.args_json = body["args"].dump();
  } else {
    return absl::InvalidArgumentError("chain: required ({\"chain\":[{\"property\":...,\"args\":[...]}]})");
  }
  return call;
}

int HttpStatusOfCallError(const std::string& code) {
  int n = 0;
  if (absl::StartsWith(code, "HTTP_") && absl::SimpleAtoi(code.substr(5), &n) && n >= 400 && n < 600) return n;
  absl::StatusCode parsed;
  for (int c = 1; c <= 16; ++c) {
    parsed = static_cast<absl::StatusCode>(c);
    if (absl::StatusCodeToString(parsed) == code) return HttpStatusFor(parsed);
  }
  return 502;
}

}  // namespace

std::string RouteList() {
  return R"json({"message":"Tasker","runtime":"tasker","ui":"open this URL in a browser","endpoints":{"GET /health":"Health check","POST /task/submit":"Submit a new task run","POST /task/store-function":"Store task code","POST /task/execute/:id":"Wait for a run: its result or the call it waits on","POST /task/process":"Stack runs are processed continuously","GET /task/status/:id":"A run with its stack runs and logs","GET /task/keystore/:key":"Get a keystore value","POST /task/keystore":"Set a keystore value","GET /functions/v1/tasks":"The task functions","POST /functions/v1/tasks/execute":"Submit a task run","POST /functions/v1/tasks/:name":"Submit a run of :name with the body as input","POST /functions/v1/wrapped<service>":"One wrapped-service call (admin)","GET /rest/v1/task_runs":"Runs (PostgREST filters)","GET /rest/v1/stack_runs":"A run's stack runs (PostgREST filters)","GET /api/tasks":"Tasks with their metadata (the web UI's)","POST /api/runs":"Submit a run (the web UI's)","GET /api/runs":"Recent runs","GET /api/runs/:id":"A run with its stack runs and logs"}})json";
}

std::string OldRunStatus(v1::RunStatus status) {
  switch (status) {
    case v1::RUN_STATUS_PENDING: return "pending";
    case v1::RUN_STATUS_RUNNING: return "processing";
    case v1::RUN_STATUS_SUSPENDED_WAITING_CHILD: return "suspended_waiting_child";
    case v1::RUN_STATUS_COMPLETED: return "completed";
    case v1::RUN_STATUS_FAILED: return "failed";
    case v1::RUN_STATUS_CANCELLED: return "cancelled";
    default: return "unknown";
  }
}

std::string OldRunView(const v1::GetRunResponse& response, bool with_details) {
  const v1::TaskRun& run = response.run();
  JsonWriter w;
  RunFields(w, run);
  if (with_details) {
    std::string logs = "[";
    for (int i = 0; i < run.logs_size(); ++i) {
      const auto& l = run.logs(i);
      absl::StrAppend(&logs, i ? "," : "",
                      JsonWriter()
                          .String("time", TimeUtil::ToString(l.time()))
                          .String("level", l.level())
                          .String("message", l.message())
                          .Done());
    }
    w.Raw("logs", absl::StrCat(logs, "]"));
    const auto numbers = NumbersOf(response);
    std::string stack_runs = "[";
    for (int i = 0; i < response.stack_runs_size(); ++i) {
      absl::StrAppend(&stack_runs, i ? "," : "", StackRunJson(response.stack_runs(i), run, numbers));
    }
    w.Raw("stack_runs", absl::StrCat(stack_runs, "]"));
  }
  return w.Done();
}

CompatRoutes::CompatRoutes(TaskApi* api, std::shared_ptr<const Authenticator> authenticator,
                           std::shared_ptr<grpc::Channel> keystore)
    : api_(api), authenticator_(std::move(authenticator)), keystore_(std::move(keystore)) {}

std::string CompatRoutes::CallerOf(const httplib::Request& req) const {
  auto identity = authenticator_->Authenticate(req.get_header_value("Authorization"));
  return identity.ok() ? identity->name : "anonymous";
}

absl::StatusOr<v1::GetRunResponse> CompatRoutes::AwaitRun(const std::string& id, absl::Duration wait) {
  const absl::Time deadline = absl::Now() + wait;
  v1::WatchRunRequest watch;
  watch.set_name(id);
  absl::Status watched = api_->Watch(
      watch, [](const v1::RunEvent& event) { return !event.final(); }, [deadline] { return absl::Now() > deadline; });
  if (!watched.ok() && watched.code() != absl::StatusCode::kCancelled) return watched;
  v1::GetRunRequest get;
  get.set_name(id);
  return api_->GetRun(get);
}

absl::Status CompatRoutes::EnsureDirectCallTask() {
  std::lock_guard<std::mutex> lock(direct_mu_);
  if (direct_published_) return absl::OkStatus();
  v1::PublishTaskRequest publish;
  publish.set_identifier(kDirectCallTask);
  // Failures come back as values: the route maps their code to a status.
  publish.set_code(R"(module.exports = async function (call) {
  try {
    return {ok: true, result: await __callHostTool__(call.service, call.method, call.args)};
  } catch (e) {
    return {ok: false, code: String(e.code || 'ERROR'), message: String(e.message)};
  }
};)");
  publish.set_metadata_json(
      R"({"description":"One host call made through the HTTP API's wrapped-service routes (admin only).","permissions":["*"]})");
  // Publishing the same code and metadata again is a no-op version-wise only
  // if storage dedupes; once per process keeps the versions few.
  auto published = api_->Publish(publish, "http-gateway");
  if (!published.ok()) return published.status();
  direct_published_ = true;
  return absl::OkStatus();
}

void CompatRoutes::Register(httplib::Server& s) {
  s.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    SendJson(res, JsonWriter()
                      .String("status", "ok")
                      .String("runtime", "tasker")
                      .String("timestamp", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()))
                      .Done());
  });

  s.Post("/task/store-function", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = Body::Parse(req.body);
    if (!body.ok()) return SendOldError(res, body.status());
    auto name = body->FirstString({"task_identifier", "identifier", "name"});
    if (!name.ok()) return SendOldError(res, name.status());
    auto code = body->String("code");
    if (!code.ok()) return SendOldError(res, code.status());
    v1::PublishTaskRequest request;
    request.set_identifier(*name);
    request.set_code(*code);
    if (const absl::string_view* metadata = body->Raw("metadata");
        metadata != nullptr && TypeOfJson(*metadata) != JsonType::kNull) {
      if (TypeOfJson(*metadata) != JsonType::kObject) {
        return SendOldError(res, absl::InvalidArgumentError(absl::StrCat(
                                     "metadata: must be a JSON object, got ", JsonTypeName(TypeOfJson(*metadata)))));
      }
      request.set_metadata_json(std::string(*metadata));
    }
    std::string warning;
    auto published = api_->Publish(request, CallerOf(req), &warning);
    if (!published.ok()) return SendOldError(res, published.status());
    if (!warning.empty()) res.set_header("X-Tasker-Warning", warning);
    SendJson(res, JsonWriter()
                      .Bool("success", true)
                      .String("message", "Function stored")
                      .String("identifier", published->identifier())
                      .Int("version", published->version())
                      .Done());
  });

  // Submits; answers the old shape plus the current one's fields.
  auto submit = [this](const std::string& name, absl::string_view input, const std::string& key)
      -> absl::StatusOr<v1::SubmitRunResponse> {
    if (name.empty()) return absl::InvalidArgumentError("task_identifier: required");
    v1::SubmitRunRequest request;
    request.set_task_identifier(name);
    request.set_idempotency_key(key);
    request.set_input_json(std::string(input));
    return api_->Submit(request);
  };
  auto submit_body = [submit](const httplib::Request& req) -> absl::StatusOr<v1::SubmitRunResponse> {
    auto body = Body::Parse(req.body);
    if (!body.ok()) return body.status();
    auto name = body->FirstString({"task_identifier", "name", "taskName"});
    if (!name.ok()) return name.status();
    auto key = body->FirstString({"idempotencyKey", "idempotency_key"});
    if (!key.ok()) return key.status();
    if (key->empty()) key = req.get_header_value("Idempotency-Key");
    const absl::string_view* input = body->Raw("input");
    return submit(*name, input ? *input : absl::string_view("{}"), *key);
  };
  s.Post("/task/submit", [submit_body](const httplib::Request& req, httplib::Response& res) {
    auto submitted = submit_body(req);
    if (!submitted.ok()) return SendOldError(res, submitted.status());
    const v1::TaskRun& run = submitted->run();
    SendJson(res, JsonWriter()
                      .Bool("success", true)
                      .Int("taskRunId", run.number())
                      .Raw("data", absl::StrCat(R"({"result":{"taskRunId":)", run.number(), "}}"))
                      .String("runId", run.id())
                      .String("status", OldRunStatus(run.status()))
                      .Bool("created", submitted->created())
                      .Done());
  });

  auto status = [this](const std::string& id, httplib::Response& res, bool envelope) {
    v1::GetRunRequest get;
    get.set_name(id);
    auto run = api_->GetRun(get);
    if (!run.ok()) return SendOldError(res, run.status());
    const std::string view = OldRunView(*run, true);
    SendJson(res, envelope ? absl::StrCat(R"({"success":true,"data":)", view, "}") : view);
  };
  s.Get(R"(/task/status/([^/]+))", [status](const httplib::Request& req, httplib::Response& res) {
    status(req.matches[1], res, false);
  });

  // Execute: the run goes on by itself here; these wait for it.
  auto execute_answer = [this](const std::string& id, const httplib::Request& req, httplib::Response& res) {
    int wait_s = 30;
    if (req.has_param("wait") && (!absl::SimpleAtoi(req.get_param_value("wait"), &wait_s) || wait_s < 0 ||
                                  wait_s > 300)) {
      return SendOldError(res, absl::InvalidArgumentError("wait: seconds within 0..300"));
    }
    auto run = AwaitRun(id, absl::Seconds(wait_s));
    if (!run.ok()) return SendOldError(res, run.status());
    const v1::TaskRun& r = run->run();
    if (r.status() == v1::RUN_STATUS_COMPLETED) {
      return SendJson(res, JsonWriter()
                               .Bool("success", true)
                               .Raw("result", r.result_json())
                               .Int("taskRunId", r.number())
                               .String("status", "completed")
                               .Done());
    }
    if (r.status() == v1::RUN_STATUS_FAILED || r.status() == v1::RUN_STATUS_CANCELLED) {
      return SendJson(res,
                      JsonWriter()
                          .Bool("success", false)
                          .String("error", r.error().message())
                          .String("code", r.error().code())
                          .Int("taskRunId", r.number())
                          .String("status", OldRunStatus(r.status()))
                          .Done(),
                      500);
    }
    // Still going: the call it waits on, as the old suspension data.
    JsonWriter suspension;
    suspension.Int("taskRunId", r.number());
    const auto numbers = NumbersOf(*run);
    const v1::StackRun* waiting = nullptr;
    for (const auto& sr : run->stack_runs()) {
      if (!sr.parent_id().empty() && sr.status() != v1::STACK_RUN_STATUS_COMPLETED &&
          sr.status() != v1::STACK_RUN_STATUS_FAILED && (!waiting || sr.call_index() < waiting->call_index())) {
        waiting = &sr;
      }
    }
    if (waiting) {
      nlohmann::json path = nlohmann::json::array();
      for (absl::string_view part : absl::StrSplit(waiting->method(), '.')) path.push_back(std::string(part));
      suspension.Int("childStackRunId", waiting->number())
          .String("serviceName", waiting->service())
          .Raw("methodPath", path.dump())
          .Raw("args", waiting->args_json());
    }
    SendJson(res, JsonWriter()
                      .Bool("suspended", true)
                      .String("status", OldRunStatus(r.status()))
                      .Raw("suspensionData", suspension.Done())
                      .Done());
  };
  s.Post(R"(/task/execute/([^/]+))", [execute_answer](const httplib::Request& req, httplib::Response& res) {
    execute_answer(req.matches[1], req, res);
  });
  s.Post("/task/execute", [submit_body, execute_answer](const httplib::Request& req, httplib::Response& res) {
    auto submitted = submit_body(req);
    if (!submitted.ok()) return SendOldError(res, submitted.status());
    execute_answer(submitted->run().id(), req, res);
  });

  s.Post("/task/process", [this](const httplib::Request&, httplib::Response& res) {
    v1::ListRunsRequest list;
    for (auto st : {v1::RUN_STATUS_PENDING, v1::RUN_STATUS_RUNNING, v1::RUN_STATUS_SUSPENDED_WAITING_CHILD}) {
      list.add_statuses(st);
    }
    list.set_page_size(1000);
    auto active = api_->ListRuns(list);
    if (!active.ok()) return SendOldError(res, active.status());
    SendJson(res, JsonWriter()
                      .Bool("success", true)
                      .String("message", "Processed pending stack runs")
                      .String("note", "stack runs are processed continuously by the stack processors; "
                                      "nothing needs to be triggered")
                      .Int("activeRuns", active->runs_size())
                      .Done());
  });

  // The keystore, as the HTTP caller (its token is passed on).
  auto keystore_context = [](const httplib::Request& req) {
    auto context = MakeContext(absl::Seconds(10));
    const std::string auth = req.get_header_value("Authorization");
    if (!auth.empty()) context->AddMetadata("authorization", auth);
    return context;
  };
  s.Get(R"(/task/keystore/([^/]+))", [this, keystore_context](const httplib::Request& req, httplib::Response& res) {
    if (!keystore_) return SendOldError(res, absl::UnavailableError("the executor was started without --keystore"));
    v1::GetKeyRequest get;
    get.set_namespace_(req.has_param("namespace") ? req.get_param_value("namespace") : "global");
    get.set_key(req.matches[1]);
    v1::GetKeyResponse got;
    auto context = keystore_context(req);
    grpc::Status rpc = v1::Keystore::NewStub(keystore_)->GetKey(context.get(), get, &got);
    if (!rpc.ok()) {
      if (rpc.error_code() == grpc::StatusCode::NOT_FOUND) {
        return SendJson(res,
                        JsonWriter().Bool("success", false).String("error", "Key not found").String("key", get.key()).Done(),
                        404);
      }
      return SendOldError(res, absl::Status(static_cast<absl::StatusCode>(rpc.error_code()), rpc.error_message()));
    }
    SendJson(res, JsonWriter()
                      .Bool("success", true)
                      .String("key", get.key())
                      .String("namespace", get.namespace_())
                      .String("value", got.value())
                      .Done());
  });
  s.Post("/task/keystore", [this, keystore_context](const httplib::Request& req, httplib::Response& res) {
    if (!keystore_) return SendOldError(res, absl::UnavailableError("the executor was started without --keystore"));
    auto body = Body::Parse(req.body);
    if (!body.ok()) return SendOldError(res, body.status());
    auto key = body->String("key");
    auto value = body->String("value");
    auto ns = body->String("namespace", "global");
    for (const auto* v : {&key, &value, &ns}) {
      if (!v->ok()) return SendOldError(res, v->status());
    }
    if (key->empty() || body->Raw("value") == nullptr) {
      return SendOldError(res, absl::InvalidArgumentError("key and value are required"));
    }
    v1::SetKeyRequest set;
    set.set_namespace_(*ns);
    set.set_key(*key);
    set.set_value(*value);
    v1::SetKeyResponse done;
    auto context = keystore_context(req);
    grpc::Status rpc = v1::Keystore::NewStub(keystore_)->SetKey(context.get(), set, &done);
    if (!rpc.ok()) {
      return SendOldError(res, absl::Status(static_cast<absl::StatusCode>(rpc.error_code()), rpc.error_message()));
    }
    // Optionally opens the namespace to task code (SetNamespacePolicy: the
    // keystore asks for admin).
    if (const absl::string_view* readable = body->Raw("task_readable"); readable && TypeOfJson(*readable) != JsonType::kNull) {
      if (TypeOfJson(*readable) != JsonType::kBool) {
        return SendOldError(res, absl::InvalidArgumentError("task_readable: must be a boolean"));
      }
      v1::SetNamespacePolicyRequest policy;
      policy.set_namespace_(*ns);
      policy.set_task_readable(*readable == "true");
      v1::NamespacePolicy applied;
      auto policy_context = keystore_context(req);
      rpc = v1::Keystore::NewStub(keystore_)->SetNamespacePolicy(policy_context.get(), policy, &applied);
      if (!rpc.ok()) {
        return SendOldError(res, absl::Status(static_cast<absl::StatusCode>(rpc.error_code()), rpc.error_message()));
      }
    }
    // The value never reaches a log; the key does, for audit.
    LogInfo("audit", {{"event", "keystore_write"}, {"identity", CallerOf(req)}, {"namespace", *ns}, {"key", *key}});
    SendJson(res, JsonWriter().Bool("success", true).String("message", absl::StrCat("Stored ", *key)).Done());
  });

  // The edge functions' task routes. Registered before /functions/v1/tasks/:name
  // (submit by path), so these words are not task names there.
  s.Post("/functions/v1/tasks/execute", [submit_body](const httplib::Request& req, httplib::Response& res) {
    auto submitted = submit_body(req);
    if (!submitted.ok()) return SendOldError(res, submitted.status());
    const v1::TaskRun& run = submitted->run();
    JsonWriter result;
    result.Int("taskRunId", run.number())
        .String("runId", run.id())
        .String("status", "submitted")
        .String("message", "Task submitted for background processing");
    SendJson(res, JsonWriter()
                      .Bool("success", true)
                      .Raw("data", JsonWriter()
                                       .Raw("result", result.Done())
                                       .String("task_identifier", run.task_identifier())
                                       .Done())
                      .Raw("logs", "[]")
                      .Done());
  });
  auto recent = [this](const httplib::Request&, httplib::Response& res) {
    v1::ListRunsRequest list;
    list.set_page_size(10);
    auto runs = api_->ListRuns(list);
    if (!runs.ok()) return SendOldError(res, runs.status());
    std::string rows = "[";
    for (int i = 0; i < runs->runs_size(); ++i) {
      const auto& r = runs->runs(i);
      JsonWriter w;
      w.Int("id", r.number()).String("task_identifier", r.task_identifier()).String("status", OldRunStatus(r.status()));
      TimeField(w, "created_at", r.created_at());
      TimeField(w, "updated_at", r.updated_at());
      absl::StrAppend(&rows, i ? "," : "", w.Done());
    }
    SendJson(res, absl::StrCat(R"({"success":true,"data":{"task_runs":)", rows, "]}}"));
  };
  s.Get("/functions/v1/tasks/status", recent);
  s.Post("/functions/v1/tasks/status", recent);
  s.Get(R"(/functions/v1/tasks/status/([^/]+))", [status](const httplib::Request& req, httplib::Response& res) {
    status(req.matches[1], res, true);
  });
  s.Get("/functions/v1/tasks/logs", [this](const httplib::Request& req, httplib::Response& res) {
    if (!req.has_param("task_id")) return SendOldError(res, absl::InvalidArgumentError("Missing task_id parameter"));
    int limit = 50;
    if (req.has_param("limit") && (!absl::SimpleAtoi(req.get_param_value("limit"), &limit) || limit < 1)) {
      return SendOldError(res, absl::InvalidArgumentError("limit: a positive integer"));
    }
    v1::GetRunRequest get;
    get.set_name(req.get_param_value("task_id"));
    auto run = api_->GetRun(get);
    if (!run.ok()) return SendOldError(res, run.status());
    std::string logs = "[";
    const int n = run->run().logs_size();
    for (int i = std::max(0, n - limit); i < n; ++i) {
      const auto& l = run->run().logs(i);
      absl::StrAppend(&logs, logs.size() > 1 ? "," : "",
                      JsonWriter()
                          .String("time", TimeUtil::ToString(l.time()))
                          .String("level", l.level())
                          .String("message", l.message())
                          .Done());
    }
    SendJson(res, absl::StrCat(R"({"success":true,"data":{"logs":)", logs, "]}}"));
  });
  s.Get("/functions/v1/tasks/list", [this](const httplib::Request&, httplib::Response& res) {
    v1::ListTaskFunctionsRequest list;
    list.set_omit_code(true);
    list.set_page_size(1000);
    auto functions = api_->ListTaskFunctions(list);
    if (!functions.ok()) return SendOldError(res, functions.status());
    std::string tasks = "[";
    for (int i = 0; i < functions->functions_size(); ++i) {
      const auto& f = functions->functions(i);
      const auto metadata = nlohmann::json::parse(f.metadata_json().empty() ? "{}" : f.metadata_json(), nullptr, false);
      std::string description;
      if (metadata.is_object() && metadata.contains("description") && metadata["description"].is_string()) {
        description = metadata["description"];
      }
      absl::StrAppend(&tasks, i ? "," : "",
                      JsonWriter()
                          .String("name", f.identifier())
                          .String("type", "basic")
                          .Int("version", f.version())
                          .String("description", description)
                          .Done());
    }
    SendJson(res, absl::StrCat(R"({"success":true,"data":{"tasks":)", tasks, "]}}"));
  });

  // One host call through a wrapped service, as the old edge functions took
  // it; performed as a run of kDirectCallTask (journaled, audited,
  // retried like any call). Admin only: it reaches every service.
  auto direct = [this](const std::string& wrapped, const httplib::Request& req, httplib::Response& res) {
    const std::string service = ServiceOfWrapped(wrapped);
    if (service.empty()) return SendOldError(res, absl::NotFoundError(absl::StrCat("no such service '", wrapped, "'")));
    auto admin = authenticator_->Authorize(req.get_header_value("Authorization"), Roles{Role::kAdmin},
                                           absl::StrCat(req.method, " ", req.path));
    if (!admin.ok()) return SendOldError(res, admin.status());
    auto call = ParseDirectCall(req.body);
    if (!call.ok()) return SendOldError(res, call.status());
    if (absl::Status ready = EnsureDirectCallTask(); !ready.ok()) return SendOldError(res, ready);
    const std::string input = JsonWriter()
                                  .String("service", service)
                                  .String("method", call->method)
                                  .Raw("args", call->args_json)
                                  .Done();
    v1::SubmitRunRequest request;
    request.set_task_identifier(kDirectCallTask);
    request.set_input_json(input);
    auto submitted = api_->Submit(request);
    if (!submitted.ok()) return SendOldError(res, submitted.status());
    auto run = AwaitRun(submitted->run().id(), absl::Seconds(120));
    if (!run.ok()) return SendOldError(res, run.status());
    if (run->run().status() != v1::RUN_STATUS_COMPLETED) {
      return SendOldError(res, Ended(run->run().status())
                                   ? absl::InternalError(run->run().error().message())
                                   : absl::DeadlineExceededError(absl::StrCat(
                                         "the call did not finish within 120 s; follow run ", run->run().number())));
    }
    const auto outcome = nlohmann::ordered_json::parse(run->run().result_json(), nullptr, false);
    if (!outcome.is_object() || !outcome.value("ok", false)) {
      const std::string code = outcome.is_object() ? outcome.value("code", "ERROR") : "ERROR";
      const std::string message = outcome.is_object() ? outcome.value("message", "") : run->run().result_json();
      return SendJson(res, JsonWriter().Bool("success", false).String("error", message).String("code", code).Done(),
                      HttpStatusOfCallError(code));
    }
    const std::string result = outcome["result"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    SendJson(res, JsonWriter()
                      .Bool("success", true)
                      .Raw("data", result)
                      .Raw("result", result)
                      .Int("taskRunId", run->run().number())
                      .Done());
  };
  s.Post(R"(/functions/v1/(wrapped[A-Za-z0-9_-]+))", [direct](const httplib::Request& req, httplib::Response& res) {
    direct(req.matches[1], req, res);
  });
  s.Post(R"(/(wrapped[A-Za-z0-9_-]+))", [direct](const httplib::Request& req, httplib::Response& res) {
    direct(req.matches[1], req, res);
  });

  // Read-only PostgREST views of the old tables.
  s.Get("/rest/v1/task_runs", [this](const httplib::Request& req, httplib::Response& res) {
    auto query = ParseRestQuery(req, kTaskRunColumns);
    if (!query.ok()) return SendOldError(res, query.status());
    v1::ListRunsRequest list;
    for (const auto& c : query->where) {
      if (c.column == "task_identifier" && c.op == "eq") list.set_task_identifier(c.values[0]);
      if (c.column == "status" && (c.op == "eq" || c.op == "in")) {
        for (const auto& v : c.values) {
          auto st = RunStatusFromOld(v);
          if (!st.ok()) return SendOldError(res, st.status());
          list.add_statuses(*st);
        }
      }
    }
    list.set_page_size(1000);
    std::vector<nlohmann::ordered_json> rows;
    for (int pages = 0; pages < 10; ++pages) {
      auto runs = api_->ListRuns(list);
      if (!runs.ok()) return SendOldError(res, runs.status());
      for (const auto& r : runs->runs()) {
        JsonWriter w;
        RunFields(w, r);
        rows.push_back(nlohmann::ordered_json::parse(w.Done(), nullptr, false));
      }
      if (runs->next_page_token().empty()) break;
      list.set_page_token(runs->next_page_token());
    }
    SendJson(res, ApplyRestQuery(std::move(rows), *query));
  });
  s.Get("/rest/v1/stack_runs", [this](const httplib::Request& req, httplib::Response& res) {
    auto query = ParseRestQuery(req, kStackRunColumns);
    if (!query.ok()) return SendOldError(res, query.status());
    std::string run_id;
    for (const auto& c : query->where) {
      if (c.column == "task_run_id" && c.op == "eq") run_id = c.values[0];
    }
    if (run_id.empty()) {
      return SendOldError(res, absl::InvalidArgumentError(
                                   "task_run_id: stack_runs are read per run: add task_run_id=eq.<run id>"));
    }
    v1::GetRunRequest get;
    get.set_name(run_id);
    auto run = api_->GetRun(get);
    if (!run.ok()) return SendOldError(res, run.status());
    const auto numbers = NumbersOf(*run);
    std::vector<nlohmann::ordered_json> rows;
    for (const auto& sr : run->stack_runs()) {
      rows.push_back(nlohmann::ordered_json::parse(StackRunJson(sr, run->run(), numbers), nullptr, false));
    }
    // The run may have been named by its string id: compare by number.
    RestQuery q = *query;
    for (auto& c : q.where) {
      if (c.column == "task_run_id") c = {"task_run_id", "eq", {std::to_string(run->run().number())}};
    }
    SendJson(res, ApplyRestQuery(std::move(rows), q));
  });
}

}  // namespace tasker::services
