#include "storage/sql_store.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <regex>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/common/status.h"
#include "storage/migrations.h"
#include "storage/sql/postgres_database.h"
#include "storage/sql/sqlite_database.h"

namespace tasker::storage {
namespace {

using google::protobuf::util::TimeUtil;
using sql::Bytes;
using sql::Param;
using sql::Row;
using sql::Rows;
using sql::Tx;

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

constexpr char kStackRunColumns[] =
    "id, task_run_id, parent_id, kind, status, service, method, args, call_index, "
    "call_id, result, error, attempt, next_attempt_at, lease_owner, lease_expires_at, "
    "fencing_token, waiting, suspension, created_at, updated_at, completed_at";

constexpr char kTaskRunColumns[] =
    "id, task_identifier, task_version, status, input, result, error, idempotency_key, "
    "root_stack_run_id, suspend_count, created_at, updated_at, suspended_at, completed_at";

constexpr char kFunctionColumns[] =
    "identifier, version, code, metadata, code_sha256, created_at";

google::protobuf::Timestamp Ts(int64_t micros) {
  return TimeUtil::MicrosecondsToTimestamp(micros);
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

template <typename M>
absl::StatusOr<M> FromJson(const std::string& json, absl::string_view what) {
  M message;
  auto status = google::protobuf::util::JsonStringToMessage(json, &message);
  if (!status.ok()) {
    return absl::DataLossError(absl::StrCat("stored ", what, " is not valid JSON"));
  }
  return message;
}

// Parses a stored JSON value; NULL/empty -> unset.
absl::Status ParseValueInto(const Row& row, size_t i, google::protobuf::Value* out) {
  if (row.IsNull(i)) return absl::OkStatus();
  ASSIGN_OR_RETURN(*out, FromJson<google::protobuf::Value>(row.Str(i), "value"));
  return absl::OkStatus();
}

absl::Status ParseErrorInto(const Row& row, size_t i, v1::ErrorInfo* out) {
  if (row.IsNull(i)) return absl::OkStatus();
  ASSIGN_OR_RETURN(*out, FromJson<v1::ErrorInfo>(row.Str(i), "error"));
  return absl::OkStatus();
}

absl::StatusOr<v1::StackRun> ParseStackRun(const Row& r) {
  v1::StackRun s;
  s.set_id(r.Str(0));
  s.set_task_run_id(r.Str(1));
  s.set_parent_id(r.Str(2));
  s.set_kind(static_cast<v1::StackRunKind>(r.Int(3)));
  s.set_status(static_cast<v1::StackRunStatus>(r.Int(4)));
  s.set_service(r.Str(5));
  s.set_method(r.Str(6));
  RETURN_IF_ERROR(ParseValueInto(r, 7, s.mutable_args()));
  if (r.IsNull(7)) s.clear_args();
  s.set_call_index(static_cast<int32_t>(r.Int(8)));
  s.set_call_id(r.Str(9));
  RETURN_IF_ERROR(ParseValueInto(r, 10, s.mutable_result()));
  if (r.IsNull(10)) s.clear_result();
  RETURN_IF_ERROR(ParseErrorInto(r, 11, s.mutable_error()));
  if (r.IsNull(11)) s.clear_error();
  s.set_attempt(static_cast<int32_t>(r.Int(12)));
  *s.mutable_next_attempt_at() = Ts(r.Int(13));
  s.set_lease_owner(r.Str(14));
  if (!r.IsNull(15)) *s.mutable_lease_expires_at() = Ts(r.Int(15));
  s.set_fencing_token(r.Int(16));
  s.set_waiting(static_cast<int32_t>(r.Int(17)));
  s.set_suspension(static_cast<int32_t>(r.Int(18)));
  *s.mutable_created_at() = Ts(r.Int(19));
  *s.mutable_updated_at() = Ts(r.Int(20));
  if (!r.IsNull(21)) *s.mutable_completed_at() = Ts(r.Int(21));
  return s;
}

absl::StatusOr<v1::TaskRun> ParseTaskRun(const Row& r) {
  v1::TaskRun t;
  t.set_id(r.Str(0));
  t.set_task_identifier(r.Str(1));
  t.set_task_version(r.Int(2));
  t.set_status(static_cast<v1::RunStatus>(r.Int(3)));
  RETURN_IF_ERROR(ParseValueInto(r, 4, t.mutable_input()));
  RETURN_IF_ERROR(ParseValueInto(r, 5, t.mutable_result()));
  if (r.IsNull(5)) t.clear_result();
  RETURN_IF_ERROR(ParseErrorInto(r, 6, t.mutable_error()));
  if (r.IsNull(6)) t.clear_error();
  t.set_idempotency_key(r.Str(7));
  t.set_root_stack_run_id(r.Str(8));
  t.set_suspend_count(static_cast<int32_t>(r.Int(9)));
  *t.mutable_created_at() = Ts(r.Int(10));
  *t.mutable_updated_at() = Ts(r.Int(11));
  if (!r.IsNull(12)) *t.mutable_suspended_at() = Ts(r.Int(12));
  if (!r.IsNull(13)) *t.mutable_completed_at() = Ts(r.Int(13));
  return t;
}

absl::StatusOr<v1::TaskFunction> ParseFunction(const Row& r, bool with_code) {
  v1::TaskFunction f;
  f.set_identifier(r.Str(0));
  f.set_version(r.Int(1));
  if (with_code) f.set_code(r.Str(2));
  ASSIGN_OR_RETURN(*f.mutable_metadata(), FromJson<google::protobuf::Struct>(r.Str(3), "metadata"));
  f.set_code_sha256(r.Str(4));
  *f.mutable_created_at() = Ts(r.Int(5));
  return f;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string NewId(absl::string_view prefix) {
  unsigned char bytes[12];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // RAND_bytes failing means the process cannot be trusted to make ids.
    std::abort();
  }
  return absl::StrCat(prefix, absl::BytesToHexString(absl::string_view(
                                  reinterpret_cast<const char*>(bytes), sizeof(bytes))));
}

bool ValidName(const std::string& s, size_t max) {
  static const std::regex kName("^[A-Za-z0-9_.-]+$");
  return !s.empty() && s.size() <= max && std::regex_match(s, kName);
}

absl::Status RequireId(const std::string& value, absl::string_view field) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": must not be empty"));
  if (value.size() > 128) return absl::InvalidArgumentError(absl::StrCat(field, ": too long"));
  return absl::OkStatus();
}

absl::Status RequireOwner(const std::string& owner) {
  if (owner.empty() || owner.size() > 256) {
    return absl::InvalidArgumentError("owner: must be 1..256 characters");
  }
  return absl::OkStatus();
}

int PageLimit(const v1::PageRequest& page, absl::Status* status) {
  if (page.limit() < 0 || page.limit() > kMaxPageSize) {
    *status = absl::InvalidArgumentError("page.limit: must be within 0..1000");
    return 0;
  }
  return page.limit() == 0 ? kDefaultPageSize : page.limit();
}

// Page tokens: base64 of "<int>\x1f<string>" keyset positions.
std::string EncodeToken(int64_t number, const std::string& text) {
  return absl::WebSafeBase64Escape(absl::StrCat(number, "\x1f", text));
}

absl::Status DecodeToken(const std::string& token, int64_t* number, std::string* text) {
  std::string raw;
  std::vector<std::string> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, '\x1f');
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], number)) {
    return absl::InvalidArgumentError("page.page_token: malformed");
  }
  *text = parts[1];
  return absl::OkStatus();
}

bool IsTerminalRun(v1::RunStatus s) {
  return s == v1::RUN_STATUS_COMPLETED || s == v1::RUN_STATUS_FAILED ||
         s == v1::RUN_STATUS_CANCELLED;
}

std::string StatusList(const std::vector<int>& statuses) {
  return absl::StrJoin(statuses, ",");
}

const std::string& TerminalStackStatuses() {
  static const std::string s = StatusList(
      {v1::STACK_RUN_STATUS_COMPLETED, v1::STACK_RUN_STATUS_FAILED, v1::STACK_RUN_STATUS_CANCELLED});
  return s;
}

class SqlStoreImpl : public Store {
 public:
  SqlStoreImpl(std::unique_ptr<sql::Database> db, StoreOptions options)
      : db_(std::move(db)), options_(std::move(options)) {}

  int64_t NowMicros() const { return absl::ToUnixMicros(options_.clock()); }

  // ---------------------------------------------------------------------------
  absl::StatusOr<v1::TaskFunction> PublishTaskFunction(
      const v1::PublishTaskFunctionRequest& request) override {
    if (!ValidName(request.identifier(), 128)) {
      return absl::InvalidArgumentError(
          "identifier: must be 1..128 characters of [A-Za-z0-9_.-]");
    }
    if (request.code().empty()) return absl::InvalidArgumentError("code: must not be empty");
    if (static_cast<int64_t>(request.code().size()) > options_.limits.max_code_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "code: ", request.code().size(), " bytes exceeds the limit of ",
          options_.limits.max_code_bytes));
    }
    const std::string metadata = ToJson(request.metadata());
    const std::string sha = Sha256Hex(request.code());
    v1::TaskFunction out;
    absl::Status status;
    // Concurrent publishers of one identifier may pick the same version: the
    // primary key refuses the loser, which retries with the next number.
    for (int attempt = 0; attempt < 10; ++attempt) {
      status = db_->Transact(true, [&](Tx& tx) -> absl::Status {
        ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT COALESCE(MAX(version), 0) FROM task_functions "
                                             "WHERE identifier = ?",
                                             {request.identifier()}));
        const int64_t version = rows[0].Int(0) + 1;
        const int64_t now = NowMicros();
        RETURN_IF_ERROR(tx.Exec(absl::StrCat("INSERT INTO task_functions (", kFunctionColumns,
                                             ") VALUES (?, ?, ?, ?, ?, ?)"),
                                {request.identifier(), version, request.code(), metadata, sha, now})
                            .status());
        out.set_identifier(request.identifier());
        out.set_version(version);
        out.set_code(request.code());
        *out.mutable_metadata() = request.metadata();
        out.set_code_sha256(sha);
        *out.mutable_created_at() = Ts(now);
        return absl::OkStatus();
      });
      if (status.code() != absl::StatusCode::kAlreadyExists) break;
    }
    RETURN_IF_ERROR(status);
    return out;
  }

  absl::StatusOr<v1::TaskFunction> GetTaskFunction(const v1::GetTaskFunctionRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.identifier(), "identifier"));
    if (request.version() < 0) return absl::InvalidArgumentError("version: must be >= 0");
    v1::TaskFunction out;
    RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(out, LoadFunction(tx, request.identifier(), request.version()));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<v1::TaskFunction> LoadFunction(Tx& tx, const std::string& identifier,
                                                int64_t version) {
    Rows rows;
    if (version == 0) {
      ASSIGN_OR_RETURN(rows, tx.Query(absl::StrCat("SELECT ", kFunctionColumns,
                                                   " FROM task_functions WHERE identifier = ? "
                                                   "ORDER BY version DESC LIMIT 1"),
                                      {identifier}));
    } else {
      ASSIGN_OR_RETURN(rows, tx.Query(absl::StrCat("SELECT ", kFunctionColumns,
                                                   " FROM task_functions WHERE identifier = ? "
                                                   "AND version = ?"),
                                      {identifier, version}));
    }
    if (rows.empty()) {
      return absl::NotFoundError(version == 0
                                     ? absl::StrCat("task function '", identifier, "' not found")
                                     : absl::StrCat("task function '", identifier, "' version ",
                                                    version, " not found"));
    }
    return ParseFunction(rows[0], true);
  }

  absl::StatusOr<v1::ListTaskFunctionsResponse> ListTaskFunctions(
      const v1::ListTaskFunctionsRequest& request) override {
    absl::Status status;
    const int limit = PageLimit(request.page(), &status);
    RETURN_IF_ERROR(status);
    int64_t after_version = 0;
    std::string after_identifier;
    if (!request.page().page_token().empty()) {
      RETURN_IF_ERROR(DecodeToken(request.page().page_token(), &after_version, &after_identifier));
    }
    v1::ListTaskFunctionsResponse out;
    RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
      Rows rows;
      if (!request.identifier().empty()) {
        // Every version of one function, newest first.
        std::string sql = absl::StrCat("SELECT ", kFunctionColumns,
                                       " FROM task_functions WHERE identifier = ?");
        std::vector<Param> params = {request.identifier()};
        if (!request.page().page_token().empty()) {
          sql += " AND version < ?";
          params.push_back(after_version);
        }
        sql += " ORDER BY version DESC LIMIT ?";
        params.push_back(int64_t{limit + 1});
        ASSIGN_OR_RETURN(rows, tx.Query(sql, params));
      } else {
        // The latest version of every function, by identifier.
        std::string sql = absl::StrCat(
            "SELECT ", kFunctionColumns,
            " FROM task_functions f WHERE version = (SELECT MAX(version) FROM task_functions g "
            "WHERE g.identifier = f.identifier)");
        std::vector<Param> params;
        if (!request.page().page_token().empty()) {
          sql += " AND identifier > ?";
          params.push_back(after_identifier);
        }
        sql += " ORDER BY identifier LIMIT ?";
        params.push_back(int64_t{limit + 1});
        ASSIGN_OR_RETURN(rows, tx.Query(sql, params));
      }
      for (size_t i = 0; i < rows.size() && static_cast<int>(i) < limit; ++i) {
        ASSIGN_OR_RETURN(*out.add_functions(), ParseFunction(rows[i], !request.omit_code()));
      }
      if (static_cast<int>(rows.size()) > limit) {
        const auto& last = out.functions(limit - 1);
        out.set_next_page_token(EncodeToken(last.version(), last.identifier()));
      }
      return absl::OkStatus();
    }));
    return out;
  }

  // ---------------------------------------------------------------------------
  absl::StatusOr<v1::SubmitRunResponse> SubmitRun(const v1::SubmitRunRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.task_identifier(), "task_identifier"));
    if (request.task_version() < 0) return absl::InvalidArgumentError("task_version: must be >= 0");
    if (request.idempotency_key().size() > 256) {
      return absl::InvalidArgumentError("idempotency_key: at most 256 characters");
    }
    const std::string input = request.has_input() ? ToJson(request.input()) : "null";
    if (static_cast<int64_t>(input.size()) > options_.limits.max_input_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("input: ", input.size(),
                                                     " bytes of JSON exceeds the limit of ",
                                                     options_.limits.max_input_bytes));
    }
    v1::SubmitRunResponse out;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      out.Clear();
      if (!request.idempotency_key().empty()) {
        ASSIGN_OR_RETURN(auto existing,
                         tx.Query(absl::StrCat("SELECT ", kTaskRunColumns,
                                               " FROM task_runs WHERE idempotency_key = ?"),
                                  {request.idempotency_key()}));
        if (!existing.empty()) return ExistingRun(tx, existing[0], request, &out);
      }
      ASSIGN_OR_RETURN(v1::TaskFunction function,
                       LoadFunction(tx, request.task_identifier(), request.task_version()));
      const int64_t now = NowMicros();
      const std::string run_id = NewId("run_");
      const std::string root_id = NewId("sr_");
      Param key = request.idempotency_key().empty() ? Param(nullptr) : Param(request.idempotency_key());
      ASSIGN_OR_RETURN(int64_t inserted,
                       tx.Exec(absl::StrCat("INSERT INTO task_runs (", kTaskRunColumns,
                                            ") VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?, 0, ?, ?, NULL, "
                                            "NULL) ON CONFLICT (idempotency_key) DO NOTHING"),
                               {run_id, function.identifier(), function.version(),
                                int64_t{v1::RUN_STATUS_PENDING}, input, key, root_id, now, now}));
      if (inserted == 0) {
        // A concurrent submit with the same key won the race.
        ASSIGN_OR_RETURN(auto existing,
                         tx.Query(absl::StrCat("SELECT ", kTaskRunColumns,
                                               " FROM task_runs WHERE idempotency_key = ?"),
                                  {request.idempotency_key()}));
        if (existing.empty()) return absl::AbortedError("postgres: idempotency race, retry");
        return ExistingRun(tx, existing[0], request, &out);
      }
      RETURN_IF_ERROR(tx.Exec(absl::StrCat("INSERT INTO stack_runs (id, task_run_id, parent_id, kind, "
                                           "status, next_attempt_at, created_at, updated_at) VALUES "
                                           "(?, ?, NULL, ?, ?, ?, ?, ?)"),
                              {root_id, run_id, int64_t{v1::STACK_RUN_KIND_ROOT},
                               int64_t{v1::STACK_RUN_STATUS_PENDING}, now, now, now})
                          .status());
      ASSIGN_OR_RETURN(*out.mutable_run(), LoadRun(tx, run_id));
      ASSIGN_OR_RETURN(*out.mutable_root(), LoadStackRun(tx, root_id));
      out.set_created(true);
      return absl::OkStatus();
    }));
    return out;
  }

  absl::Status ExistingRun(Tx& tx, const Row& row, const v1::SubmitRunRequest& request,
                           v1::SubmitRunResponse* out) {
    ASSIGN_OR_RETURN(*out->mutable_run(), ParseTaskRun(row));
    if (out->run().task_identifier() != request.task_identifier()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "idempotency_key: already used for a run of task '", out->run().task_identifier(), "'"));
    }
    ASSIGN_OR_RETURN(*out->mutable_root(), LoadStackRun(tx, out->run().root_stack_run_id()));
    out->set_created(false);
    return absl::OkStatus();
  }

  absl::StatusOr<v1::TaskRun> LoadRun(Tx& tx, const std::string& id) {
    ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT ", kTaskRunColumns,
                                                      " FROM task_runs WHERE id = ?"),
                                         {id}));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("task run '", id, "' not found"));
    return ParseTaskRun(rows[0]);
  }

  absl::StatusOr<v1::StackRun> LoadStackRun(Tx& tx, const std::string& id) {
    ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT ", kStackRunColumns,
                                                      " FROM stack_runs WHERE id = ?"),
                                         {id}));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("stack run '", id, "' not found"));
    return ParseStackRun(rows[0]);
  }

  absl::StatusOr<v1::TaskRun> GetTaskRun(const v1::GetTaskRunRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.id(), "id"));
    v1::TaskRun out;
    RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(out, LoadRun(tx, request.id()));
      if (request.include_logs()) {
        ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT time, level, message FROM run_logs WHERE "
                                             "task_run_id = ? ORDER BY seq",
                                             {request.id()}));
        for (const auto& r : rows) {
          auto* log = out.add_logs();
          *log->mutable_time() = Ts(r.Int(0));
          log->set_level(r.Str(1));
          log->set_message(r.Str(2));
        }
      }
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<v1::ListTaskRunsResponse> ListTaskRuns(const v1::ListTaskRunsRequest& request) override {
    absl::Status status;
    const int limit = PageLimit(request.page(), &status);
    RETURN_IF_ERROR(status);
    std::string sql = absl::StrCat("SELECT ", kTaskRunColumns, " FROM task_runs WHERE 1=1");
    std::vector<Param> params;
    const auto& f = request.filter();
    if (f.statuses_size() > 0) {
      std::vector<int> statuses;
      for (int s : f.statuses()) {
        if (!v1::RunStatus_IsValid(s) || s == 0) {
          return absl::InvalidArgumentError("filter.statuses: unknown status");
        }
        statuses.push_back(s);
      }
      absl::StrAppend(&sql, " AND status IN (", StatusList(statuses), ")");
    }
    if (!f.task_identifier().empty()) {
      sql += " AND task_identifier = ?";
      params.push_back(f.task_identifier());
    }
    if (f.has_created_after()) {
      sql += " AND created_at >= ?";
      params.push_back(TimeUtil::TimestampToMicroseconds(f.created_after()));
    }
    if (f.has_created_before()) {
      sql += " AND created_at < ?";
      params.push_back(TimeUtil::TimestampToMicroseconds(f.created_before()));
    }
    if (!request.page().page_token().empty()) {
      int64_t created = 0;
      std::string id;
      RETURN_IF_ERROR(DecodeToken(request.page().page_token(), &created, &id));
      sql += " AND (created_at < ? OR (created_at = ? AND id < ?))";
      params.push_back(created);
      params.push_back(created);
      params.push_back(id);
    }
    sql += " ORDER BY created_at DESC, id DESC LIMIT ?";
    params.push_back(int64_t{limit + 1});
    v1::ListTaskRunsResponse out;
    RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(auto rows, tx.Query(sql, params));
      for (size_t i = 0; i < rows.size() && static_cast<int>(i) < limit; ++i) {
        ASSIGN_OR_RETURN(*out.add_runs(), ParseTaskRun(rows[i]));
      }
      if (static_cast<int>(rows.size()) > limit) {
        const auto& last = out.runs(limit - 1);
        out.set_next_page_token(
            EncodeToken(TimeUtil::TimestampToMicroseconds(last.created_at()), last.id()));
      }
      return absl::OkStatus();
    }));
    return out;
  }

  // Checks that the caller still holds `id` with `token` and that it is
  // RUNNING (and of `kind`, unless UNSPECIFIED); returns the row. ABORTED for a stale token, FAILED_PRECONDITION
  // when the item is no longer running (e.g. cancelled).
  absl::StatusOr<v1::StackRun> CheckHeld(Tx& tx, const std::string& id, int64_t token,
                                         v1::StackRunKind kind) {
    ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT ", kStackRunColumns,
                                                      " FROM stack_runs WHERE id = ?",
                                                      db_->dialect() == sql::Dialect::kPostgres
                                                          ? " FOR UPDATE"
                                                          : ""),
                                         {id}));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("stack run '", id, "' not found"));
    ASSIGN_OR_RETURN(v1::StackRun s, ParseStackRun(rows[0]));
    if (kind != v1::STACK_RUN_KIND_UNSPECIFIED && s.kind() != kind) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stack_run_id: '", id, "' is a ", v1::StackRunKind_Name(s.kind()), ", not a ",
          v1::StackRunKind_Name(kind)));
    }
    if (s.fencing_token() != token) {
      return absl::AbortedError(absl::StrCat("fencing_token: stale (", token, " < ",
                                             s.fencing_token(), "); the lease on '", id,
                                             "' was lost"));
    }
    if (s.status() != v1::STACK_RUN_STATUS_RUNNING) {
      return absl::FailedPreconditionError(absl::StrCat("stack run '", id, "' is ",
                                                        v1::StackRunStatus_Name(s.status()),
                                                        ", not RUNNING"));
    }
    return s;
  }

  absl::StatusOr<v1::TaskRun> FinishRun(const std::string& root_id, int64_t token,
                                        const google::protobuf::Value* result,
                                        const v1::ErrorInfo* error) {
    RETURN_IF_ERROR(RequireId(root_id, "root_stack_run_id"));
    std::string result_json, error_json;
    if (result) {
      result_json = ToJson(*result);
      if (static_cast<int64_t>(result_json.size()) > options_.limits.max_result_bytes) {
        return absl::InvalidArgumentError(absl::StrCat("result: ", result_json.size(),
                                                       " bytes of JSON exceeds the limit of ",
                                                       options_.limits.max_result_bytes));
      }
    } else {
      if (error->message().empty()) return absl::InvalidArgumentError("error.message: must not be empty");
      error_json = ToJson(*error);
    }
    v1::TaskRun out;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(v1::StackRun root, CheckHeld(tx, root_id, token, v1::STACK_RUN_KIND_ROOT));
      const int64_t now = NowMicros();
      const int64_t stack_status = result ? v1::STACK_RUN_STATUS_COMPLETED : v1::STACK_RUN_STATUS_FAILED;
      const int64_t run_status = result ? v1::RUN_STATUS_COMPLETED : v1::RUN_STATUS_FAILED;
      Param result_param = result ? Param(result_json) : Param(nullptr);
      Param error_param = result ? Param(nullptr) : Param(error_json);
      RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, result = ?, error = ?, lease_owner "
                              "= NULL, lease_expires_at = NULL, updated_at = ?, completed_at = ? "
                              "WHERE id = ?",
                              {stack_status, result_param, error_param, now, now, root_id})
                          .status());
      ASSIGN_OR_RETURN(int64_t changed,
                       tx.Exec(absl::StrCat("UPDATE task_runs SET status = ?, result = ?, error = ?, "
                                            "updated_at = ?, completed_at = ? WHERE id = ? AND "
                                            "status NOT IN (",
                                            StatusList({v1::RUN_STATUS_COMPLETED, v1::RUN_STATUS_FAILED,
                                                        v1::RUN_STATUS_CANCELLED}),
                                            ")"),
                               {run_status, result_param, error_param, now, now, root.task_run_id()}));
      if (changed != 1) {
        return absl::FailedPreconditionError(
            absl::StrCat("task run '", root.task_run_id(), "' has already finished"));
      }
      ASSIGN_OR_RETURN(out, LoadRun(tx, root.task_run_id()));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<v1::TaskRun> CompleteRun(const v1::CompleteRunRequest& request) override {
    google::protobuf::Value null_value;
    null_value.set_null_value(google::protobuf::NULL_VALUE);
    return FinishRun(request.root_stack_run_id(), request.fencing_token(),
                     request.has_result() ? &request.result() : &null_value, nullptr);
  }

  absl::StatusOr<v1::TaskRun> FailRun(const v1::FailRunRequest& request) override {
    return FinishRun(request.root_stack_run_id(), request.fencing_token(), nullptr, &request.error());
  }

  absl::StatusOr<v1::TaskRun> CancelRun(const v1::CancelRunRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.id(), "id"));
    if (request.reason().size() > 1024) return absl::InvalidArgumentError("reason: at most 1024 characters");
    v1::TaskRun out;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(v1::TaskRun run, LoadRun(tx, request.id()));
      if (IsTerminalRun(run.status())) {
        return absl::FailedPreconditionError(absl::StrCat(
            "task run '", request.id(), "' is already ", v1::RunStatus_Name(run.status())));
      }
      const int64_t now = NowMicros();
      v1::ErrorInfo error;
      error.set_code("CANCELLED");
      error.set_message(request.reason().empty() ? "cancelled" : request.reason());
      RETURN_IF_ERROR(tx.Exec("UPDATE task_runs SET status = ?, error = ?, updated_at = ?, "
                              "completed_at = ? WHERE id = ?",
                              {int64_t{v1::RUN_STATUS_CANCELLED}, ToJson(error), now, now, request.id()})
                          .status());
      RETURN_IF_ERROR(tx.Exec(absl::StrCat("UPDATE stack_runs SET status = ?, lease_owner = NULL, "
                                           "lease_expires_at = NULL, updated_at = ?, completed_at = ? "
                                           "WHERE task_run_id = ? AND status NOT IN (",
                                           TerminalStackStatuses(), ")"),
                              {int64_t{v1::STACK_RUN_STATUS_CANCELLED}, now, now, request.id()})
                          .status());
      ASSIGN_OR_RETURN(out, LoadRun(tx, request.id()));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<int> AppendRunLogs(const v1::AppendRunLogsRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.task_run_id(), "task_run_id"));
    int stored = 0;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      stored = 0;
      RETURN_IF_ERROR(LoadRun(tx, request.task_run_id()).status());
      ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT COALESCE(MAX(seq), 0) FROM run_logs WHERE "
                                           "task_run_id = ?",
                                           {request.task_run_id()}));
      int64_t seq = rows[0].Int(0);
      for (const auto& log : request.logs()) {
        if (seq >= options_.limits.max_logs_per_run) break;  // bounded; extra lines dropped
        RETURN_IF_ERROR(tx.Exec("INSERT INTO run_logs (task_run_id, seq, time, level, message) "
                                "VALUES (?, ?, ?, ?, ?)",
                                {request.task_run_id(), ++seq,
                                 log.has_time() ? TimeUtil::TimestampToMicroseconds(log.time())
                                                : NowMicros(),
                                 log.level().empty() ? std::string("log") : log.level(),
                                 log.message().substr(0, 64 * 1024)})
                            .status());
        ++stored;
      }
      return absl::OkStatus();
    }));
    return stored;
  }

  // ---------------------------------------------------------------------------
  absl::StatusOr<v1::StackRun> GetStackRun(const std::string& id) override {
    RETURN_IF_ERROR(RequireId(id, "id"));
    v1::StackRun out;
    RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(out, LoadStackRun(tx, id));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<v1::ListStackRunsResponse> ListStackRuns(
      const v1::ListStackRunsRequest& request) override {
    absl::Status status;
    const int limit = PageLimit(request.page(), &status);
    RETURN_IF_ERROR(status);
    std::string sql = absl::StrCat("SELECT ", kStackRunColumns, " FROM stack_runs WHERE 1=1");
    std::vector<Param> params;
    const auto& f = request.filter();
    if (!f.task_run_id().empty()) {
      sql += " AND task_run_id = ?";
      params.push_back(f.task_run_id());
    }
    if (!f.parent_id().empty()) {
      sql += " AND parent_id = ?";
      params.push_back(f.parent_id());
    }
    if (f.kind() != v1::STACK_RUN_KIND_UNSPECIFIED) {
      if (!v1::StackRunKind_IsValid(f.kind())) return absl::InvalidArgumentError("filter.kind: unknown");
      sql += " AND kind = ?";
      params.push_back(int64_t{f.kind()});
    }
    if (f.statuses_size() > 0) {
      std::vector<int> statuses;
      for (int s : f.statuses()) {
        if (!v1::StackRunStatus_IsValid(s) || s == 0) {
          return absl::InvalidArgumentError("filter.statuses: unknown status");
        }
        statuses.push_back(s);
      }
      absl::StrAppend(&sql, " AND status IN (", StatusList(statuses), ")");
    }
    if (!request.page().page_token().empty()) {
      int64_t created = 0;
      std::string id;
      RETURN_IF_ERROR(DecodeToken(request.page().page_token(), &created, &id));
      sql += " AND (created_at > ? OR (created_at = ? AND id > ?))";
      params.push_back(created);
      params.push_back(created);
      params.push_back(id);
    }
    sql += " ORDER BY created_at, id LIMIT ?";
    params.push_back(int64_t{limit + 1});
    v1::ListStackRunsResponse out;
    RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(auto rows, tx.Query(sql, params));
      for (size_t i = 0; i < rows.size() && static_cast<int>(i) < limit; ++i) {
        ASSIGN_OR_RETURN(*out.add_stack_runs(), ParseStackRun(rows[i]));
      }
      if (static_cast<int>(rows.size()) > limit) {
        const auto& last = out.stack_runs(limit - 1);
        out.set_next_page_token(
            EncodeToken(TimeUtil::TimestampToMicroseconds(last.created_at()), last.id()));
      }
      return absl::OkStatus();
    }));
    return out;
  }

  // The ready condition of each work kind, as SQL over stack_runs.
  std::string ReadyCondition(v1::WorkKind kind) {
    const std::string running_expired = absl::StrCat(
        "(status = ", v1::STACK_RUN_STATUS_RUNNING, " AND lease_expires_at < ?)");
    switch (kind) {
      case v1::WORK_KIND_EXECUTE_ROOT:
        return absl::StrCat("kind = ", v1::STACK_RUN_KIND_ROOT, " AND suspension = 0 AND (status = ",
                            v1::STACK_RUN_STATUS_PENDING, " OR ", running_expired, ")");
      case v1::WORK_KIND_RESUME_PARENT:
        return absl::StrCat("kind = ", v1::STACK_RUN_KIND_ROOT, " AND suspension > 0 AND (status = ",
                            v1::STACK_RUN_STATUS_READY_TO_RESUME, " OR ", running_expired, ")");
      case v1::WORK_KIND_PERFORM_CALL:
        return absl::StrCat("kind = ", v1::STACK_RUN_KIND_CALL, " AND ((status = ",
                            v1::STACK_RUN_STATUS_PENDING, " AND next_attempt_at <= ?) OR ",
                            running_expired, ")");
      default:
        return "";
    }
  }

  absl::StatusOr<v1::ClaimWorkResponse> ClaimWork(const v1::ClaimWorkRequest& request) override {
    if (request.kind() == v1::WORK_KIND_UNSPECIFIED || !v1::WorkKind_IsValid(request.kind())) {
      return absl::InvalidArgumentError(
          "kind: must be WORK_KIND_EXECUTE_ROOT, WORK_KIND_RESUME_PARENT or WORK_KIND_PERFORM_CALL");
    }
    RETURN_IF_ERROR(RequireOwner(request.owner()));
    if (request.lease_ms() < 100 || request.lease_ms() > 3600000) {
      return absl::InvalidArgumentError("lease_ms: must be within 100..3600000");
    }
    v1::ClaimWorkResponse out;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      out.Clear();
      const int64_t now = NowMicros();
      std::string where = ReadyCondition(request.kind());
      std::vector<Param> params;
      if (request.kind() == v1::WORK_KIND_PERFORM_CALL) params.push_back(now);
      params.push_back(now);
      std::string select;
      if (!request.stack_run_id().empty()) {
        select = absl::StrCat("SELECT id FROM stack_runs WHERE id = ? AND ", where, db_->SkipLocked());
        params.insert(params.begin(), request.stack_run_id());
      } else {
        const char* order = request.kind() == v1::WORK_KIND_PERFORM_CALL ? "next_attempt_at, call_index, id"
                                                                          : "updated_at, id";
        select = absl::StrCat("SELECT id FROM stack_runs WHERE ", where, " ORDER BY ", order,
                              " LIMIT 1", db_->SkipLocked());
      }
      ASSIGN_OR_RETURN(auto ids, tx.Query(select, params));
      if (ids.empty()) return absl::OkStatus();
      const std::string id = ids[0].Str(0);
      const int64_t expires = now + request.lease_ms() * 1000;
      RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, lease_owner = ?, lease_expires_at = ?, "
                              "fencing_token = fencing_token + 1, attempt = attempt + 1, updated_at = ? "
                              "WHERE id = ?",
                              {int64_t{v1::STACK_RUN_STATUS_RUNNING}, request.owner(), expires, now, id})
                          .status());
      ASSIGN_OR_RETURN(*out.mutable_stack_run(), LoadStackRun(tx, id));
      const v1::StackRun& s = out.stack_run();
      auto* lease = out.mutable_lease();
      lease->set_stack_run_id(id);
      lease->set_owner(request.owner());
      *lease->mutable_expires_at() = Ts(expires);
      lease->set_fencing_token(s.fencing_token());
      if (s.kind() == v1::STACK_RUN_KIND_ROOT) {
        RETURN_IF_ERROR(tx.Exec("UPDATE task_runs SET status = ?, updated_at = ? WHERE id = ?",
                                {int64_t{v1::RUN_STATUS_RUNNING}, now, s.task_run_id()})
                            .status());
        ASSIGN_OR_RETURN(*out.mutable_task_run(), LoadRun(tx, s.task_run_id()));
      }
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<v1::Lease> RenewLease(const v1::RenewLeaseRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.stack_run_id(), "stack_run_id"));
    RETURN_IF_ERROR(RequireOwner(request.owner()));
    if (request.lease_ms() < 100 || request.lease_ms() > 3600000) {
      return absl::InvalidArgumentError("lease_ms: must be within 100..3600000");
    }
    v1::Lease out;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(v1::StackRun s, CheckHeld(tx, request.stack_run_id(), request.fencing_token(),
                                                 v1::STACK_RUN_KIND_UNSPECIFIED));
      const int64_t now = NowMicros();
      const int64_t expires = now + request.lease_ms() * 1000;
      RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET lease_expires_at = ?, lease_owner = ?, updated_at = ? "
                              "WHERE id = ?",
                              {expires, request.owner(), now, s.id()})
                          .status());
      out.set_stack_run_id(s.id());
      out.set_owner(request.owner());
      *out.mutable_expires_at() = Ts(expires);
      out.set_fencing_token(request.fencing_token());
      return absl::OkStatus();
    }));
    return out;
  }

  absl::Status ReleaseLease(const v1::ReleaseLeaseRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.stack_run_id(), "stack_run_id"));
    return db_->Transact(true, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(v1::StackRun s, CheckHeld(tx, request.stack_run_id(), request.fencing_token(),
                                                 v1::STACK_RUN_KIND_UNSPECIFIED));
      int64_t back = v1::STACK_RUN_STATUS_PENDING;
      if (s.kind() == v1::STACK_RUN_KIND_ROOT && s.suspension() > 0) {
        back = v1::STACK_RUN_STATUS_READY_TO_RESUME;
      }
      const int64_t now = NowMicros();
      return tx.Exec("UPDATE stack_runs SET status = ?, lease_owner = NULL, lease_expires_at = NULL, "
                     "next_attempt_at = ?, updated_at = ? WHERE id = ?",
                     {back, now, now, s.id()})
          .status();
    });
  }

  absl::Status ValidateContinuation(const v1::Continuation& c, absl::string_view field) {
    if (c.data().empty()) return absl::InvalidArgumentError(absl::StrCat(field, ".data: must not be empty"));
    if (static_cast<int64_t>(c.data().size()) > options_.limits.max_continuation_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".data: ", c.data().size(),
                                                     " bytes exceeds the limit of ",
                                                     options_.limits.max_continuation_bytes));
    }
    if (c.format_version() <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".format_version: must be > 0"));
    }
    return absl::OkStatus();
  }

  absl::Status UpsertContinuation(Tx& tx, const std::string& stack_run_id, const v1::Continuation& c) {
    const int64_t now = NowMicros();
    return tx.Exec("INSERT INTO continuations (stack_run_id, data, format_version, v8_version, "
                   "checksum, raw_size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                   "(stack_run_id) DO UPDATE SET data = excluded.data, format_version = "
                   "excluded.format_version, v8_version = excluded.v8_version, checksum = "
                   "excluded.checksum, raw_size = excluded.raw_size, created_at = excluded.created_at",
                   {stack_run_id, Bytes{c.data()}, int64_t{c.format_version()}, c.v8_version(),
                    int64_t{c.checksum()}, c.raw_size(), now})
        .status();
  }

  absl::StatusOr<v1::SuspendRootResponse> SuspendRoot(const v1::SuspendRootRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.root_stack_run_id(), "root_stack_run_id"));
    RETURN_IF_ERROR(ValidateContinuation(request.continuation(), "continuation"));
    if (request.calls_size() == 0) return absl::InvalidArgumentError("calls: at least one call is required");
    if (request.calls_size() > options_.limits.max_calls_per_suspension) {
      return absl::InvalidArgumentError(absl::StrCat("calls: ", request.calls_size(),
                                                     " calls exceeds the limit of ",
                                                     options_.limits.max_calls_per_suspension));
    }
    std::vector<std::string> args_json;
    for (int i = 0; i < request.calls_size(); ++i) {
      const auto& call = request.calls(i);
      if (call.service().empty() || call.service().size() > 128) {
        return absl::InvalidArgumentError(absl::StrCat("calls[", i, "].service: must be 1..128 characters"));
      }
      if (call.method().empty() || call.method().size() > 512) {
        return absl::InvalidArgumentError(absl::StrCat("calls[", i, "].method: must be 1..512 characters"));
      }
      args_json.push_back(call.has_args() ? ToJson(call.args()) : "null");
      if (static_cast<int64_t>(args_json.back().size()) > options_.limits.max_input_bytes) {
        return absl::InvalidArgumentError(absl::StrCat("calls[", i, "].args: too large"));
      }
    }
    v1::SuspendRootResponse out;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      out.Clear();
      ASSIGN_OR_RETURN(v1::StackRun root, CheckHeld(tx, request.root_stack_run_id(),
                                                    request.fencing_token(), v1::STACK_RUN_KIND_ROOT));
      const int64_t now = NowMicros();
      const int suspension = root.suspension() + 1;
      RETURN_IF_ERROR(UpsertContinuation(tx, root.id(), request.continuation()));
      RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, waiting = ?, suspension = ?, "
                              "lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?",
                              {int64_t{v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD},
                               int64_t{request.calls_size()}, int64_t{suspension}, now, root.id()})
                          .status());
      RETURN_IF_ERROR(tx.Exec("UPDATE task_runs SET status = ?, suspended_at = ?, suspend_count = "
                              "suspend_count + 1, updated_at = ? WHERE id = ?",
                              {int64_t{v1::RUN_STATUS_SUSPENDED_WAITING_CHILD}, now, now,
                               root.task_run_id()})
                          .status());
      for (int i = 0; i < request.calls_size(); ++i) {
        const auto& call = request.calls(i);
        const std::string id = NewId("sr_");
        RETURN_IF_ERROR(tx.Exec("INSERT INTO stack_runs (id, task_run_id, parent_id, kind, status, "
                                "service, method, args, call_index, call_id, next_attempt_at, "
                                "suspension, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
                                "?, ?, ?, ?, ?, ?)",
                                {id, root.task_run_id(), root.id(), int64_t{v1::STACK_RUN_KIND_CALL},
                                 int64_t{v1::STACK_RUN_STATUS_PENDING}, call.service(), call.method(),
                                 args_json[i], int64_t{i}, call.call_id(), now, int64_t{suspension},
                                 now, now})
                            .status());
        ASSIGN_OR_RETURN(*out.add_children(), LoadStackRun(tx, id));
      }
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<v1::CompleteCallResponse> CompleteCall(const v1::CompleteCallRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.stack_run_id(), "stack_run_id"));
    std::string payload;
    bool success = false;
    if (request.outcome_case() == v1::CompleteCallRequest::kResult) {
      success = true;
      payload = ToJson(request.result());
      if (static_cast<int64_t>(payload.size()) > options_.limits.max_result_bytes) {
        return absl::InvalidArgumentError(absl::StrCat("result: ", payload.size(),
                                                       " bytes of JSON exceeds the limit of ",
                                                       options_.limits.max_result_bytes));
      }
    } else if (request.outcome_case() == v1::CompleteCallRequest::kError) {
      if (request.error().message().empty()) {
        return absl::InvalidArgumentError("error.message: must not be empty");
      }
      payload = ToJson(request.error());
    } else {
      return absl::InvalidArgumentError("outcome: one of result or error is required");
    }
    v1::CompleteCallResponse out;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      out.Clear();
      ASSIGN_OR_RETURN(v1::StackRun call, CheckHeld(tx, request.stack_run_id(), request.fencing_token(),
                                                    v1::STACK_RUN_KIND_CALL));
      const int64_t now = NowMicros();
      RETURN_IF_ERROR(
          tx.Exec(success ? "UPDATE stack_runs SET status = ?, result = ?, lease_owner = NULL, "
                            "lease_expires_at = NULL, updated_at = ?, completed_at = ? WHERE id = ?"
                          : "UPDATE stack_runs SET status = ?, error = ?, lease_owner = NULL, "
                            "lease_expires_at = NULL, updated_at = ?, completed_at = ? WHERE id = ?",
                  {int64_t{success ? v1::STACK_RUN_STATUS_COMPLETED : v1::STACK_RUN_STATUS_FAILED},
                   payload, now, now, call.id()})
              .status());
      // The countdown: the parent row is updated (and locked) by each
      // finishing sibling in turn.
      ASSIGN_OR_RETURN(auto rows,
                       tx.Query("UPDATE stack_runs SET waiting = waiting - 1, updated_at = ? WHERE id = ? "
                                "AND status = ? AND suspension = ? RETURNING waiting",
                                {now, call.parent_id(), int64_t{v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD},
                                 int64_t{call.suspension()}}));
      out.set_parent_id(call.parent_id());
      if (!rows.empty() && rows[0].Int(0) == 0) {
        RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, updated_at = ? WHERE id = ?",
                                {int64_t{v1::STACK_RUN_STATUS_READY_TO_RESUME}, now, call.parent_id()})
                            .status());
        out.set_parent_ready(true);
      }
      ASSIGN_OR_RETURN(*out.mutable_call(), LoadStackRun(tx, call.id()));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<v1::StackRun> RetryCall(const v1::RetryCallRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.stack_run_id(), "stack_run_id"));
    if (request.error().message().empty()) return absl::InvalidArgumentError("error.message: must not be empty");
    v1::StackRun out;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(v1::StackRun call, CheckHeld(tx, request.stack_run_id(), request.fencing_token(),
                                                    v1::STACK_RUN_KIND_CALL));
      const int64_t now = NowMicros();
      const int64_t next = request.has_next_attempt_at()
                               ? TimeUtil::TimestampToMicroseconds(request.next_attempt_at())
                               : now;
      RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, error = ?, next_attempt_at = ?, "
                              "lease_owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ?",
                              {int64_t{v1::STACK_RUN_STATUS_PENDING}, ToJson(request.error()), next, now,
                               call.id()})
                          .status());
      ASSIGN_OR_RETURN(out, LoadStackRun(tx, call.id()));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<v1::ResumeState> GetResumeState(const std::string& root_id) override {
    RETURN_IF_ERROR(RequireId(root_id, "root_stack_run_id"));
    v1::ResumeState out;
    RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(*out.mutable_root(), LoadStackRun(tx, root_id));
      if (out.root().kind() != v1::STACK_RUN_KIND_ROOT) {
        return absl::InvalidArgumentError("root_stack_run_id: not a root stack run");
      }
      if (out.root().suspension() == 0) {
        return absl::FailedPreconditionError(absl::StrCat("stack run '", root_id, "' never suspended"));
      }
      ASSIGN_OR_RETURN(*out.mutable_run(), LoadRun(tx, out.root().task_run_id()));
      ASSIGN_OR_RETURN(*out.mutable_continuation(), LoadContinuation(tx, root_id));
      ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT ", kStackRunColumns,
                                                        " FROM stack_runs WHERE parent_id = ? AND "
                                                        "suspension = ? ORDER BY call_index"),
                                           {root_id, int64_t{out.root().suspension()}}));
      for (const auto& r : rows) {
        ASSIGN_OR_RETURN(*out.add_children(), ParseStackRun(r));
      }
      return absl::OkStatus();
    }));
    return out;
  }

  // ---------------------------------------------------------------------------
  absl::StatusOr<v1::Continuation> LoadContinuation(Tx& tx, const std::string& id) {
    ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT stack_run_id, data, format_version, v8_version, "
                                         "checksum, raw_size, created_at FROM continuations WHERE "
                                         "stack_run_id = ?",
                                         {id}));
    if (rows.empty()) return absl::NotFoundError(absl::StrCat("no continuation for stack run '", id, "'"));
    const Row& r = rows[0];
    v1::Continuation c;
    c.set_stack_run_id(r.Str(0));
    c.set_data(r.Str(1));
    c.set_format_version(static_cast<int32_t>(r.Int(2)));
    c.set_v8_version(r.Str(3));
    c.set_checksum(static_cast<uint32_t>(r.Int(4)));
    c.set_raw_size(r.Int(5));
    *c.mutable_created_at() = Ts(r.Int(6));
    return c;
  }

  absl::Status PutContinuation(const v1::Continuation& continuation) override {
    RETURN_IF_ERROR(RequireId(continuation.stack_run_id(), "continuation.stack_run_id"));
    RETURN_IF_ERROR(ValidateContinuation(continuation, "continuation"));
    return db_->Transact(true, [&](Tx& tx) -> absl::Status {
      RETURN_IF_ERROR(LoadStackRun(tx, continuation.stack_run_id()).status());
      return UpsertContinuation(tx, continuation.stack_run_id(), continuation);
    });
  }

  absl::StatusOr<v1::Continuation> GetContinuation(const std::string& stack_run_id) override {
    RETURN_IF_ERROR(RequireId(stack_run_id, "stack_run_id"));
    v1::Continuation out;
    RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(out, LoadContinuation(tx, stack_run_id));
      return absl::OkStatus();
    }));
    return out;
  }

  // ---------------------------------------------------------------------------
  absl::StatusOr<v1::TaskLock> AcquireTaskLock(const v1::AcquireTaskLockRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.task_run_id(), "task_run_id"));
    RETURN_IF_ERROR(RequireOwner(request.owner()));
    if (request.ttl_ms() < 100 || request.ttl_ms() > 3600000) {
      return absl::InvalidArgumentError("ttl_ms: must be within 100..3600000");
    }
    v1::TaskLock out;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      const int64_t now = NowMicros();
      const int64_t expires = now + request.ttl_ms() * 1000;
      ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT owner, expires_at, fencing_token FROM "
                                                        "task_locks WHERE task_run_id = ?",
                                                        db_->dialect() == sql::Dialect::kPostgres
                                                            ? " FOR UPDATE"
                                                            : ""),
                                           {request.task_run_id()}));
      int64_t token = 1;
      if (rows.empty()) {
        RETURN_IF_ERROR(tx.Exec("INSERT INTO task_locks (task_run_id, owner, expires_at, fencing_token) "
                                "VALUES (?, ?, ?, 1)",
                                {request.task_run_id(), request.owner(), expires})
                            .status());
      } else {
        const std::string holder = rows[0].Str(0);
        if (holder != request.owner() && rows[0].Int(1) > now) {
          return absl::FailedPreconditionError(absl::StrCat(
              "task run '", request.task_run_id(), "' is locked by '", holder, "'"));
        }
        // Re-acquiring one's own live lock keeps the token; a takeover bumps it.
        token = holder == request.owner() && rows[0].Int(1) > now ? rows[0].Int(2) : rows[0].Int(2) + 1;
        RETURN_IF_ERROR(tx.Exec("UPDATE task_locks SET owner = ?, expires_at = ?, fencing_token = ? "
                                "WHERE task_run_id = ?",
                                {request.owner(), expires, token, request.task_run_id()})
                            .status());
      }
      out.set_task_run_id(request.task_run_id());
      out.set_owner(request.owner());
      *out.mutable_expires_at() = Ts(expires);
      out.set_fencing_token(token);
      return absl::OkStatus();
    }));
    return out;
  }

  absl::Status ReleaseTaskLock(const v1::ReleaseTaskLockRequest& request) override {
    RETURN_IF_ERROR(RequireId(request.task_run_id(), "task_run_id"));
    RETURN_IF_ERROR(RequireOwner(request.owner()));
    return db_->Transact(true, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM task_locks WHERE task_run_id = ? AND owner = ? "
                                          "AND fencing_token = ?",
                                          {request.task_run_id(), request.owner(),
                                           request.fencing_token()}));
      if (n == 0) {
        return absl::AbortedError(absl::StrCat("task lock on '", request.task_run_id(),
                                               "' is not held by '", request.owner(),
                                               "' with fencing_token ", request.fencing_token()));
      }
      return absl::OkStatus();
    });
  }

  // ---------------------------------------------------------------------------
  absl::Status ValidateKey(const std::string& ns, const std::string& key) {
    if (!ValidName(ns, 128)) {
      return absl::InvalidArgumentError("namespace: must be 1..128 characters of [A-Za-z0-9_.-]");
    }
    if (!ValidName(key, 256)) {
      return absl::InvalidArgumentError("key: must be 1..256 characters of [A-Za-z0-9_.-]");
    }
    return absl::OkStatus();
  }

  absl::Status PutKeystoreEntry(const v1::KeystoreRow& row) override {
    RETURN_IF_ERROR(ValidateKey(row.namespace_(), row.key()));
    if (row.encrypted_value().empty()) {
      return absl::InvalidArgumentError("row.encrypted_value: must not be empty");
    }
    if (static_cast<int64_t>(row.encrypted_value().size()) > options_.limits.max_keystore_value_bytes + 1024) {
      return absl::InvalidArgumentError("row.encrypted_value: too large");
    }
    return db_->Transact(true, [&](Tx& tx) -> absl::Status {
      return tx.Exec("INSERT INTO keystore (namespace, key, encrypted_value, updated_at) VALUES (?, ?, "
                     "?, ?) ON CONFLICT (namespace, key) DO UPDATE SET encrypted_value = "
                     "excluded.encrypted_value, updated_at = excluded.updated_at",
                     {row.namespace_(), row.key(), Bytes{row.encrypted_value()}, NowMicros()})
          .status();
    });
  }

  absl::StatusOr<v1::KeystoreRow> GetKeystoreEntry(const std::string& ns, const std::string& key) override {
    RETURN_IF_ERROR(ValidateKey(ns, key));
    v1::KeystoreRow out;
    RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT encrypted_value, updated_at FROM keystore WHERE "
                                           "namespace = ? AND key = ?",
                                           {ns, key}));
      if (rows.empty()) return absl::NotFoundError(absl::StrCat("key '", ns, "/", key, "' not found"));
      out.set_namespace_(ns);
      out.set_key(key);
      out.set_encrypted_value(rows[0].Str(0));
      *out.mutable_updated_at() = Ts(rows[0].Int(1));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<bool> DeleteKeystoreEntry(const std::string& ns, const std::string& key) override {
    RETURN_IF_ERROR(ValidateKey(ns, key));
    bool deleted = false;
    RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
      ASSIGN_OR_RETURN(int64_t n, tx.Exec("DELETE FROM keystore WHERE namespace = ? AND key = ?", {ns, key}));
      deleted = n > 0;
      return absl::OkStatus();
    }));
    return deleted;
  }

  absl::StatusOr<v1::ListKeystoreEntriesResponse> ListKeystoreEntries(
      const v1::ListKeystoreEntriesRequest& request) override {
    if (!request.namespace_().empty() && !ValidName(request.namespace_(), 128)) {
      return absl::InvalidArgumentError("namespace: must be 1..128 characters of [A-Za-z0-9_.-]");
    }
    v1::ListKeystoreEntriesResponse out;
    RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
      Rows rows;
      if (request.namespace_().empty()) {
        ASSIGN_OR_RETURN(rows, tx.Query("SELECT namespace, key, encrypted_value, updated_at FROM keystore "
                                        "ORDER BY namespace, key"));
      } else {
        ASSIGN_OR_RETURN(rows, tx.Query("SELECT namespace, key, encrypted_value, updated_at FROM keystore "
                                        "WHERE namespace = ? ORDER BY key",
                                        {request.namespace_()}));
      }
      for (const auto& r : rows) {
        auto* row = out.add_rows();
        row->set_namespace_(r.Str(0));
        row->set_key(r.Str(1));
        if (request.include_values()) row->set_encrypted_value(r.Str(2));
        *row->mutable_updated_at() = Ts(r.Int(3));
      }
      return absl::OkStatus();
    }));
    return out;
  }

 private:
  std::unique_ptr<sql::Database> db_;
  StoreOptions options_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> NewSqlStore(std::unique_ptr<sql::Database> db,
                                                   StoreOptions options) {
  const auto& migrations =
      db->dialect() == sql::Dialect::kPostgres ? postgres_migrations() : sqlite_migrations();
  RETURN_IF_ERROR(ApplyMigrations(*db, migrations));
  return std::unique_ptr<Store>(new SqlStoreImpl(std::move(db), std::move(options)));
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url, StoreOptions options) {
  std::unique_ptr<sql::Database> db;
  if (absl::StartsWith(url, "sqlite://")) {
    std::string path = url.substr(strlen("sqlite://"));
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(
          "database url: sqlite URLs need an absolute path, e.g. sqlite:///var/lib/tasker/tasks.db");
    }
    ASSIGN_OR_RETURN(db, sql::OpenSqlite({.path = path}));
  } else if (absl::StartsWith(url, "postgres://") || absl::StartsWith(url, "postgresql://")) {
    ASSIGN_OR_RETURN(db, sql::OpenPostgres({.url = url}));
  } else {
    return absl::InvalidArgumentError(
        "database url: must start with sqlite:/// or postgres://");
  }
  return NewSqlStore(std::move(db), std::move(options));
}

}  // namespace tasker::storage
