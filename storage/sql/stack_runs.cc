// SqlStore: Stack runs: reads, claims under leases with fencing tokens (one or many
// renewed at once), results and retries of calls.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/common/log.h"
#include "runtime/common/metrics.h"
#include "runtime/common/status.h"
#include "runtime/common/trace.h"
#include "storage/sql/sql_store_internal.h"

namespace tasker::storage {
namespace {

metrics::Counters& LeaseTakeovers() {
  static auto* counters = new metrics::Counters(
      "tasker_lease_takeovers_total",
      "Claims that took over a lapsed lease (its holder died or froze), by kind: run (a root) or call.", {"kind"});
  return *counters;
}

}  // namespace

absl::StatusOr<v1::StackRunRecord> SqlStore::LoadStackRun(Tx& tx, const std::string& id) {
  ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT ", kStackRunColumns,
                                                    " FROM stack_runs WHERE id = ?"),
                                       {id}));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("stack run '", id, "' not found"));
  return ParseStackRun(rows[0]);
}


absl::StatusOr<v1::StackRunRecord> SqlStore::GetStackRun(const std::string& id) {
  RETURN_IF_ERROR(RequireId(id, "id"));
  v1::StackRunRecord out;
  RETURN_IF_ERROR(db_->Transact(false, [&](Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(out, LoadStackRun(tx, id));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::ListStackRunsResponse> SqlStore::ListStackRuns(
    const v1::ListStackRunsRequest& request) {
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


// Checks that the caller still holds `id` with `token` and that it is
// RUNNING (and of `kind`, unless UNSPECIFIED); returns the row. ABORTED for a stale token, FAILED_PRECONDITION
// when the item is no longer running (e.g. cancelled).
absl::StatusOr<v1::StackRunRecord> SqlStore::CheckHeld(Tx& tx, const std::string& id, int64_t token,
                                       v1::StackRunKind kind) {
  ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT ", kStackRunColumns,
                                                    " FROM stack_runs WHERE id = ?",
                                                    db_->ForUpdate()),
                                       {id}));
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("stack run '", id, "' not found"));
  ASSIGN_OR_RETURN(v1::StackRunRecord s, ParseStackRun(rows[0]));
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


// The ready condition of each work kind, as SQL over stack_runs.
std::string SqlStore::ReadyCondition(v1::WorkKind kind) {
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

absl::StatusOr<bool> SqlStore::FailIfClaimsExhausted(Tx& tx, const std::string& id, int64_t now) {
  const int max = options_.max_claim_attempts;
  if (max <= 0) return false;
  ASSIGN_OR_RETURN(auto rows, tx.Query("SELECT kind, claims, task_run_id, parent_id, lease_owner, error "
                                       "FROM stack_runs WHERE id = ?",
                                       {id}));
  if (rows.empty() || rows[0].Int(1) < max) return false;
  const bool root = rows[0].Int(0) == v1::STACK_RUN_KIND_ROOT;
  const std::string run_id = rows[0].Str(2);
  const std::string parent_id = rows[0].Str(3);
  const std::string last_holder = rows[0].Str(4);
  // The last cause recorded at a claim (a payload that did not load), if any.
  std::string cause;
  if (!rows[0].IsNull(5)) {
    v1::ErrorInfo last;
    if (ParseErrorInto(rows[0], 5, &last).ok() && last.code() == "UNLOADABLE") {
      cause = absl::StrCat("; last failure: ", last.message());
    }
  }
  v1::ErrorInfo error;
  error.set_code("ATTEMPTS_EXHAUSTED");
  error.set_message(absl::StrCat(
      root ? "run" : "call", " '", id, "' was claimed ", rows[0].Int(1), " times (max_claim_attempts ", max,
      ") and no holder got it any further: each one died or could not load, parse or ",
      root ? "run" : "perform", " it before its lease ran out",
      last_holder.empty() ? "" : absl::StrCat(" (last holder '", last_holder, "')"), cause, "; not retried"));
  const std::string error_json = ErrorToJson(error);
  RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, error = ?, lease_owner = NULL, lease_expires_at = "
                          "NULL, reply_to = '', waiting = 0, updated_at = ?, completed_at = ? WHERE id = ?",
                          {int64_t{v1::STACK_RUN_STATUS_FAILED}, error_json, now, now, id})
                      .status());
  if (root) {
    // As FailRun: the run fails, its outstanding calls are dropped.
    RETURN_IF_ERROR(tx.Exec(absl::StrCat("UPDATE stack_runs SET status = ?, lease_owner = NULL, "
                                         "lease_expires_at = NULL, updated_at = ?, completed_at = ? "
                                         "WHERE parent_id = ? AND status NOT IN (",
                                         TerminalStackStatuses(), ")"),
                            {int64_t{v1::STACK_RUN_STATUS_CANCELLED}, now, now, id})
                        .status());
    RETURN_IF_ERROR(tx.Exec(absl::StrCat("UPDATE task_runs SET status = ?, error = ?, updated_at = ?, "
                                         "completed_at = ? WHERE id = ? AND status NOT IN (",
                                         StatusList({v1::RUN_STATUS_COMPLETED, v1::RUN_STATUS_FAILED,
                                                     v1::RUN_STATUS_CANCELLED}),
                                         ")"),
                            {int64_t{v1::RUN_STATUS_FAILED}, error_json, now, now, run_id})
                        .status());
    RETURN_IF_ERROR(DeleteRunContinuations(tx, run_id));
  } else if (!parent_id.empty()) {
    // As CompleteCall with an error: one call fewer outstanding, and an
    // evicted parent has a result to see.
    RETURN_IF_ERROR(tx.Exec(absl::StrCat("UPDATE stack_runs SET waiting = CASE WHEN waiting > 0 THEN waiting - 1 "
                                         "ELSE 0 END, status = CASE WHEN status = ",
                                         v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD, " THEN ",
                                         v1::STACK_RUN_STATUS_READY_TO_RESUME,
                                         " ELSE status END, updated_at = ? WHERE id = ?"),
                            {now, parent_id})
                        .status());
  }
  LogWarning("poison pill failed", {{"stack_run", id}, {"claims", std::to_string(rows[0].Int(1))}});
  return true;
}

absl::StatusOr<v1::ClaimWorkResponse> SqlStore::ClaimWork(const v1::ClaimWorkRequest& request) {
  if (request.kind() == v1::WORK_KIND_UNSPECIFIED || !v1::WorkKind_IsValid(request.kind())) {
    return absl::InvalidArgumentError(
        "kind: must be WORK_KIND_EXECUTE_ROOT, WORK_KIND_RESUME_PARENT or WORK_KIND_PERFORM_CALL");
  }
  RETURN_IF_ERROR(RequireOwner(request.owner()));
  RETURN_IF_ERROR(RequireLeaseMs(request.lease_ms(), "lease_ms"));
  if (request.reply_to().size() > 256) return absl::InvalidArgumentError("reply_to: at most 256 characters");
  const bool root_kind = request.kind() != v1::WORK_KIND_PERFORM_CALL;
  v1::ClaimWorkResponse out;
  absl::Status load_error;
  std::string previous_owner;  // set when the claim takes a lapsed lease over
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    out.Clear();
    load_error = absl::OkStatus();
    previous_owner.clear();
    const int64_t now = NowMicros();
    std::string where = ReadyCondition(request.kind());
    std::vector<Param> params;
    if (request.kind() == v1::WORK_KIND_PERFORM_CALL) params.push_back(now);
    params.push_back(now);
    std::string select;
    if (!request.stack_run_id().empty()) {
      select = absl::StrCat("SELECT id, claims, status, lease_owner FROM stack_runs WHERE id = ? AND ", where,
                            db_->SkipLocked());
      params.insert(params.begin(), request.stack_run_id());
    } else {
      const char* order = request.kind() == v1::WORK_KIND_PERFORM_CALL ? "next_attempt_at, call_index, id"
                                                                        : "updated_at, id";
      select = absl::StrCat("SELECT id, claims, status, lease_owner FROM stack_runs WHERE ", where, " ORDER BY ", order,
                            " LIMIT 1", db_->SkipLocked());
    }
    // A candidate claimed too often without progress is failed, not handed
    // out; the next candidate is tried (a few, then nothing this time).
    std::string id;
    for (int tries = 0; tries < 8 && id.empty(); ++tries) {
      ASSIGN_OR_RETURN(auto ids, tx.Query(select, params));
      if (ids.empty()) return absl::OkStatus();
      const bool over = options_.max_claim_attempts > 0 && ids[0].Int(1) >= options_.max_claim_attempts;
      bool exhausted = false;
      if (over) {
        ASSIGN_OR_RETURN(exhausted, FailIfClaimsExhausted(tx, ids[0].Str(0), now));
      }
      if (!exhausted) {
        id = ids[0].Str(0);
        // Ready work is PENDING/READY; RUNNING here means its holder's lease lapsed.
        if (ids[0].Int(2) == v1::STACK_RUN_STATUS_RUNNING) previous_owner = ids[0].IsNull(3) ? "?" : ids[0].Str(3);
      }
      if (exhausted && !request.stack_run_id().empty()) return absl::OkStatus();
    }
    if (id.empty()) return absl::OkStatus();
    const int64_t expires = now + request.lease_ms() * 1000;
    // A claimed root's reply_to names its new holder (empty: nobody to push to).
    if (root_kind) {
      RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, lease_owner = ?, lease_expires_at = ?, "
                              "fencing_token = fencing_token + 1, attempt = attempt + 1, claims = claims + 1, "
                              "updated_at = ?, reply_to = ? WHERE id = ?",
                              {int64_t{v1::STACK_RUN_STATUS_RUNNING}, request.owner(), expires, now,
                               request.reply_to(), id})
                          .status());
    } else {
      RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, lease_owner = ?, lease_expires_at = ?, "
                              "fencing_token = fencing_token + 1, attempt = attempt + 1, claims = claims + 1, "
                              "updated_at = ? WHERE id = ?",
                              {int64_t{v1::STACK_RUN_STATUS_RUNNING}, request.owner(), expires, now, id})
                          .status());
    }
    // What is stored may not load (a payload that does not parse). The claim
    // is committed all the same, with the cause, and the claimer gets the
    // error: the item waits for its lease like one whose holder died, other
    // work is claimable meanwhile, and after max_claim_attempts it is failed
    // naming this cause (FailIfClaimsExhausted).
    auto unloadable = [&](const absl::Status& status, const std::string& what) -> absl::Status {
      if (status.code() != absl::StatusCode::kDataLoss && status.code() != absl::StatusCode::kInvalidArgument) {
        return status;
      }
      v1::ErrorInfo cause;
      cause.set_code("UNLOADABLE");
      cause.set_message(absl::StrCat(what, ": ", status.message()));
      RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET error = ? WHERE id = ?", {ErrorToJson(cause), id}).status());
      ASSIGN_OR_RETURN(auto claims, tx.Query("SELECT claims FROM stack_runs WHERE id = ?", {id}));
      load_error = absl::DataLossError(absl::StrCat(
          "stack run '", id, "' could not be loaded (claim ", claims.empty() ? 0 : claims[0].Int(0),
          options_.max_claim_attempts > 0 ? absl::StrCat(" of ", options_.max_claim_attempts) : "",
          "): ", cause.message()));
      out.Clear();
      return absl::OkStatus();
    };
    auto loaded = LoadStackRun(tx, id);
    if (!loaded.ok()) return unloadable(loaded.status(), absl::StrCat("stack run '", id, "'"));
    *out.mutable_stack_run() = *std::move(loaded);
    const v1::StackRunRecord& s = out.stack_run();
    auto* lease = out.mutable_lease();
    lease->set_stack_run_id(id);
    lease->set_owner(request.owner());
    *lease->mutable_expires_at() = Ts(expires);
    lease->set_fencing_token(s.fencing_token());
    if (s.kind() == v1::STACK_RUN_KIND_ROOT) {
      RETURN_IF_ERROR(tx.Exec("UPDATE task_runs SET status = ?, updated_at = ? WHERE id = ?",
                              {int64_t{v1::RUN_STATUS_RUNNING}, now, s.task_run_id()})
                          .status());
      auto run = LoadRun(tx, s.task_run_id());
      if (!run.ok()) return unloadable(run.status(), absl::StrCat("task run '", s.task_run_id(), "'"));
      *out.mutable_task_run() = *std::move(run);
    } else {
      // Whom the call is for: the run's function version and its grants.
      ASSIGN_OR_RETURN(auto who, tx.Query("SELECT r.task_identifier, r.task_version, f.permissions FROM task_runs r "
                                          "JOIN task_functions f ON f.identifier = r.task_identifier AND "
                                          "f.version = r.task_version WHERE r.id = ?",
                                          {s.task_run_id()}));
      auto* caller = out.mutable_stack_run()->mutable_caller();
      caller->set_task_run_id(s.task_run_id());
      if (!who.empty()) {
        caller->set_task_identifier(who[0].Str(0));
        caller->set_task_version(who[0].Int(1));
        for (absl::string_view p : absl::StrSplit(who[0].Str(2), '\n', absl::SkipEmpty())) {
          caller->add_permissions(std::string(p));
        }
      }
    }
    return absl::OkStatus();
  }));
  if (!load_error.ok()) return load_error;
  if (!previous_owner.empty() && out.has_stack_run()) {
    // Its holder died or froze past its lease (docs/observability.md).
    const bool root = out.stack_run().kind() == v1::STACK_RUN_KIND_ROOT;
    LeaseTakeovers().With({root ? "run" : "call"}).Increment();
    ScopedLogContext log_context(RunLogContext(out.stack_run().task_run_id(), out.stack_run().id()));
    LogInfo("lease taken over", {{"kind", root ? "run" : "call"},
                                 {"previous_owner", previous_owner},
                                 {"owner", request.owner()}});
  }
  return out;
}

absl::StatusOr<v1::Lease> SqlStore::RenewLease(const v1::RenewLeaseRequest& request) {
  RETURN_IF_ERROR(RequireId(request.stack_run_id(), "stack_run_id"));
  RETURN_IF_ERROR(RequireOwner(request.owner()));
  RETURN_IF_ERROR(RequireLeaseMs(request.lease_ms(), "lease_ms"));
  v1::Lease out;
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(v1::StackRunRecord s, CheckHeld(tx, request.stack_run_id(), request.fencing_token(),
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

absl::Status SqlStore::ReleaseLease(const v1::ReleaseLeaseRequest& request) {
  RETURN_IF_ERROR(RequireId(request.stack_run_id(), "stack_run_id"));
  return db_->Transact(true, [&](Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(v1::StackRunRecord s, CheckHeld(tx, request.stack_run_id(), request.fencing_token(),
                                               v1::STACK_RUN_KIND_UNSPECIFIED));
    int64_t back = v1::STACK_RUN_STATUS_PENDING;
    if (s.kind() == v1::STACK_RUN_KIND_ROOT && s.suspension() > 0) {
      back = v1::STACK_RUN_STATUS_READY_TO_RESUME;
    }
    const int64_t now = NowMicros();
    // Nobody holds it now: no reply_to either.
    return tx.Exec("UPDATE stack_runs SET status = ?, lease_owner = NULL, lease_expires_at = NULL, "
                   "reply_to = '', next_attempt_at = ?, updated_at = ? WHERE id = ?",
                   {back, now, now, s.id()})
        .status();
  });
}

namespace {

constexpr int kMaxRenewLeases = 10000;

}  // namespace

absl::StatusOr<v1::RenewLeasesResponse> SqlStore::RenewLeases(const v1::RenewLeasesRequest& request) {
  RETURN_IF_ERROR(RequireOwner(request.owner()));
  RETURN_IF_ERROR(RequireLeaseMs(request.lease_ms(), "lease_ms"));
  if (request.leases_size() > kMaxRenewLeases) {
    return absl::InvalidArgumentError(absl::StrCat("leases: ", request.leases_size(),
                                                   " leases exceeds the limit of ", kMaxRenewLeases));
  }
  for (int i = 0; i < request.leases_size(); ++i) {
    RETURN_IF_ERROR(RequireId(request.leases(i).stack_run_id(), absl::StrCat("leases[", i, "].stack_run_id")));
  }
  v1::RenewLeasesResponse out;
  if (request.leases_size() == 0) return out;
  std::vector<std::string> ids;
  ids.reserve(request.leases_size());
  for (const auto& lease : request.leases()) ids.push_back(lease.stack_run_id());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    out.Clear();
    const int64_t now = NowMicros();
    const int64_t expires = now + request.lease_ms() * 1000;
    // The current token of every item asked about that is RUNNING.
    std::map<std::string, int64_t> running;
    for (size_t start = 0; start < ids.size(); start += kInChunk) {
      const size_t n = std::min(kInChunk, ids.size() - start);
      const size_t padded = PaddedSize(n);
      std::vector<Param> params;
      params.reserve(padded);
      for (size_t i = 0; i < padded; ++i) params.push_back(ids[start + std::min(i, n - 1)]);
      // Rows are locked in id order, the order grouped writes take roots
      // in (SqlStore::WriteBatch), so that the two cannot deadlock.
      ASSIGN_OR_RETURN(auto rows, tx.Query(absl::StrCat("SELECT id, fencing_token, status FROM stack_runs "
                                                        "WHERE id IN (", Placeholders(padded), ") ORDER BY id",
                                                        db_->ForUpdate()),
                                           params));
      for (const auto& r : rows) {
        if (r.Int(2) == v1::STACK_RUN_STATUS_RUNNING) running[r.Str(0)] = r.Int(1);
      }
    }
    std::vector<std::string> renew;
    std::set<std::string> lost_seen;
    std::set<std::string> renew_seen;
    for (const auto& lease : request.leases()) {
      auto it = running.find(lease.stack_run_id());
      if (it != running.end() && it->second == lease.fencing_token()) {
        if (renew_seen.insert(lease.stack_run_id()).second) renew.push_back(lease.stack_run_id());
      } else if (lost_seen.insert(lease.stack_run_id()).second) {
        out.add_lost(lease.stack_run_id());
      }
    }
    for (size_t start = 0; start < renew.size(); start += kInChunk) {
      const size_t n = std::min(kInChunk, renew.size() - start);
      const size_t padded = PaddedSize(n);
      std::vector<Param> params = {expires, request.owner(), now};
      for (size_t i = 0; i < padded; ++i) params.push_back(renew[start + std::min(i, n - 1)]);
      RETURN_IF_ERROR(tx.Exec(absl::StrCat("UPDATE stack_runs SET lease_expires_at = ?, lease_owner = ?, "
                                           "updated_at = ? WHERE id IN (",
                                           Placeholders(padded), ")"),
                              params)
                          .status());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<v1::CompleteCallResponse> SqlStore::CompleteCall(const v1::CompleteCallRequest& request) {
  v1::CompleteCallResponse out;
  ASSIGN_OR_RETURN(sql::Database::TxFn body, PrepareCompleteCall(request, &out));
  RETURN_IF_ERROR(db_->Transact(true, body));
  return out;
}

absl::StatusOr<sql::Database::TxFn> SqlStore::PrepareCompleteCall(const v1::CompleteCallRequest& request,
                                                                  v1::CompleteCallResponse* response) {
  RETURN_IF_ERROR(RequireId(request.stack_run_id(), "stack_run_id"));
  std::string payload;
  bool success = false;
  if (request.outcome_case() == v1::CompleteCallRequest::kResultJson) {
    success = true;
    RETURN_IF_ERROR(ValidPayload(request.result_json(), "result_json", options_.limits.max_payload_bytes));
    payload = PayloadText(request.result_json());
  } else if (request.outcome_case() == v1::CompleteCallRequest::kError) {
    if (request.error().message().empty()) {
      return absl::InvalidArgumentError("error.message: must not be empty");
    }
    RETURN_IF_ERROR(ValidError(request.error(), "error", options_.limits.max_payload_bytes));
    payload = ErrorToJson(request.error());
  } else {
    return absl::InvalidArgumentError("outcome: one of result_json or error is required");
  }
  return [this, &request, response, success, payload = std::move(payload)](Tx& tx) -> absl::Status {
    v1::CompleteCallResponse& out = *response;
    out.Clear();
    // The parent row is locked first (Postgres), in the order FinishRun and
    // CancelRun take them (root, then its calls), so they cannot deadlock.
    ASSIGN_OR_RETURN(auto parent, tx.Query(absl::StrCat("SELECT id, status, reply_to FROM stack_runs WHERE id = "
                                                        "(SELECT parent_id FROM stack_runs WHERE id = ?)",
                                                        db_->ForUpdate()),
                                           {request.stack_run_id()}));
    std::string parent_id;
    int64_t parent_status = 0;
    std::string parent_reply_to;
    if (!parent.empty()) {
      parent_id = parent[0].Str(0);
      parent_status = parent[0].Int(1);
      parent_reply_to = parent[0].Str(2);
    }
    ASSIGN_OR_RETURN(v1::StackRunRecord call, CheckHeld(tx, request.stack_run_id(), request.fencing_token(),
                                                  v1::STACK_RUN_KIND_CALL));
    const int64_t now = NowMicros();
    // The updated row comes back for the response (RETURNING: one round trip).
    ASSIGN_OR_RETURN(
        auto updated,
        tx.Query(absl::StrCat(success ? "UPDATE stack_runs SET status = ?, result = ?, lease_owner = NULL, "
                                        "lease_expires_at = NULL, updated_at = ?, completed_at = ? WHERE id = ?"
                                      : "UPDATE stack_runs SET status = ?, error = ?, lease_owner = NULL, "
                                        "lease_expires_at = NULL, updated_at = ?, completed_at = ? WHERE id = ?",
                              " RETURNING ", kStackRunColumns),
                 {int64_t{success ? v1::STACK_RUN_STATUS_COMPLETED : v1::STACK_RUN_STATUS_FAILED}, payload, now,
                  now, call.id()}));
    if (updated.empty()) return absl::InternalError(absl::StrCat("stack run '", call.id(), "' vanished"));
    out.set_parent_id(call.parent_id());
    if (call.parent_id() == parent_id && !parent_id.empty()) {
      // One call fewer outstanding. An evicted parent has a result to see
      // now: READY_TO_RESUME, and whoever is told claims it. A parent held
      // warm stays RUNNING; the result is pushed to its holder.
      const bool wake = parent_status == v1::STACK_RUN_STATUS_SUSPENDED_WAITING_CHILD;
      RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET waiting = CASE WHEN waiting > 0 THEN waiting - 1 "
                              "ELSE 0 END, status = ?, updated_at = ? WHERE id = ?",
                              {wake ? int64_t{v1::STACK_RUN_STATUS_READY_TO_RESUME} : parent_status,
                               now, parent_id})
                          .status());
      out.set_parent_ready(wake);
      if (parent_status == v1::STACK_RUN_STATUS_RUNNING) out.set_reply_to(parent_reply_to);
    }
    ASSIGN_OR_RETURN(*out.mutable_call(), ParseStackRun(updated[0]));
    return absl::OkStatus();
  };
}

absl::StatusOr<v1::StackRunRecord> SqlStore::RetryCall(const v1::RetryCallRequest& request) {
  RETURN_IF_ERROR(RequireId(request.stack_run_id(), "stack_run_id"));
  if (request.error().message().empty()) return absl::InvalidArgumentError("error.message: must not be empty");
  RETURN_IF_ERROR(ValidError(request.error(), "error", options_.limits.max_payload_bytes));
  v1::StackRunRecord out;
  RETURN_IF_ERROR(db_->Transact(true, [&](Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(v1::StackRunRecord call, CheckHeld(tx, request.stack_run_id(), request.fencing_token(),
                                                  v1::STACK_RUN_KIND_CALL));
    const int64_t now = NowMicros();
    const int64_t next = request.has_next_attempt_at()
                             ? TimeUtil::TimestampToMicroseconds(request.next_attempt_at())
                             : now;
    RETURN_IF_ERROR(tx.Exec("UPDATE stack_runs SET status = ?, error = ?, next_attempt_at = ?, "
                            "lease_owner = NULL, lease_expires_at = NULL, claims = 0, updated_at = ? WHERE id = ?",
                            {int64_t{v1::STACK_RUN_STATUS_PENDING}, ErrorToJson(request.error()), next, now,
                             call.id()})
                        .status());
    ASSIGN_OR_RETURN(out, LoadStackRun(tx, call.id()));
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace tasker::storage
