// Internal to the SqlStore target: the SqlStore class (its methods are
// defined in one file per concern: functions.cc, runs.cc, stack_runs.cc,
// journal.cc, continuations.cc, keystore_rows.cc) and the row helpers they share
// (rows.cc). Not part of any public header.
#ifndef TASKER_STORAGE_SQL_SQL_STORE_INTERNAL_H_
#define TASKER_STORAGE_SQL_SQL_STORE_INTERNAL_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "runtime/common/json_text.h"
#include "storage/sql/database.h"
#include "storage/sql/sql_store.h"
#include "storage/store.h"

namespace tasker::storage {

using google::protobuf::util::TimeUtil;
using sql::Bytes;
using sql::Param;
using sql::Row;
using sql::Rows;
using sql::Tx;

inline constexpr int kDefaultPageSize = 100;
inline constexpr int kMaxPageSize = 1000;
// The longest a call may be delayed (a durable timer): one year.
inline constexpr int64_t kMaxCallDelayMs = int64_t{366} * 24 * 3600 * 1000;

inline constexpr char kStackRunColumns[] =
    "id, task_run_id, parent_id, kind, status, service, method, args, call_index, "
    "call_id, result, error, attempt, next_attempt_at, lease_owner, lease_expires_at, "
    "fencing_token, waiting, suspension, created_at, updated_at, completed_at, step, reply_to, number";

// The columns an insert writes; `number` is assigned by the database
// (a trigger on SQLite, a sequence on Postgres).
inline constexpr char kTaskRunInsertColumns[] =
    "id, task_identifier, task_version, status, input, result, error, idempotency_key, "
    "root_stack_run_id, suspend_count, created_at, updated_at, suspended_at, completed_at";
inline constexpr char kTaskRunColumns[] =
    "id, task_identifier, task_version, status, input, result, error, idempotency_key, "
    "root_stack_run_id, suspend_count, created_at, updated_at, suspended_at, completed_at, number";

inline constexpr char kFunctionColumns[] =
    "identifier, version, code, metadata, code_sha256, created_at, permissions";

// --- Row helpers (rows.cc) ------------------------------------------------------

google::protobuf::Timestamp Ts(int64_t micros);

// Payload columns (input, result, args, metadata) hold the JSON text as it
// arrived; an empty payload field is stored as "null".
inline std::string PayloadText(const std::string& json) { return json.empty() ? "null" : json; }

// OK when `json` (empty: null) is JSON within the payload limits;
// INVALID_ARGUMENT naming `field` otherwise.
inline absl::Status ValidPayload(const std::string& json, absl::string_view field, int64_t max_bytes) {
  if (json.empty()) return absl::OkStatus();
  return ValidateJson(json, field, kMaxJsonDepth, static_cast<size_t>(max_bytes));
}

// An error as stored: {"message", "stack", "code", "retryable", "details"},
// its details spliced in as raw JSON (the format the column always had).
std::string ErrorToJson(const v1::ErrorInfo& error);
absl::Status ValidError(const v1::ErrorInfo& error, absl::string_view field, int64_t max_bytes);


// A stored payload column; NULL -> empty.
void ParsePayloadInto(const Row& row, size_t i, std::string* out);
absl::Status ParseErrorInto(const Row& row, size_t i, v1::ErrorInfo* out);
absl::StatusOr<v1::StackRunRecord> ParseStackRun(const Row& r);
absl::StatusOr<v1::TaskRunRecord> ParseTaskRun(const Row& r);
absl::StatusOr<v1::TaskFunction> ParseFunction(const Row& r, bool with_code);

std::string Sha256Hex(const std::string& data);
// A random id: prefix + 24 hex digits.
std::string NewId(absl::string_view prefix);
// 1..max characters of [A-Za-z0-9_.-].
bool ValidName(const std::string& s, size_t max);
absl::Status RequireId(const std::string& value, absl::string_view field);
absl::Status RequireOwner(const std::string& owner);
// The page size asked for (default 100); INVALID_ARGUMENT into *status when
// out of range.
int PageLimit(const v1::PageRequest& page, absl::Status* status);
// Page tokens: base64 of "<int>\x1f<string>" keyset positions.
std::string EncodeToken(int64_t number, const std::string& text);
absl::Status DecodeToken(const std::string& token, int64_t* number, std::string* text);
bool IsTerminalRun(v1::RunStatus s);
// Journal steps of a request: seq >= 0 and contiguous among themselves,
// trigger_call_id at most 128 characters.
absl::Status ValidateJournalSteps(const google::protobuf::RepeatedPtrField<v1::JournalStep>& steps);
// 100..3,600,000 ms; INVALID_ARGUMENT naming `field` otherwise.
absl::Status RequireLeaseMs(int64_t lease_ms, absl::string_view field);
std::string StatusList(const std::vector<int>& statuses);
const std::string& TerminalStackStatuses();

// --- The store ------------------------------------------------------------------

// IN lists are padded to a few fixed sizes (by repeating the last id) so
// SQLite's per-connection statement cache holds a handful of statements.
constexpr size_t kInChunk = 512;

inline size_t PaddedSize(size_t n) {
  for (size_t size : {size_t{1}, size_t{8}, size_t{64}}) {
    if (n <= size) return size;
  }
  return kInChunk;
}

inline std::string Placeholders(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
  return out;
}

class SqlStore : public Store {
 public:
  SqlStore(std::unique_ptr<sql::Database> db, StoreOptions options)
      : db_(std::move(db)), options_(std::move(options)) {}

  absl::StatusOr<v1::TaskFunction> PublishTaskFunction(
      const v1::PublishTaskFunctionRequest& request) override;

  absl::StatusOr<v1::TaskFunction> GetTaskFunction(const v1::GetFunctionRequest& request) override;

  absl::StatusOr<v1::ListFunctionsResponse> ListTaskFunctions(
      const v1::ListFunctionsRequest& request) override;

  absl::StatusOr<v1::SubmitTaskRunResponse> SubmitRun(const v1::SubmitTaskRunRequest& request) override;

  absl::StatusOr<v1::TaskRunRecord> GetTaskRun(const v1::GetTaskRunRequest& request) override;

  absl::StatusOr<v1::ListTaskRunsResponse> ListTaskRuns(const v1::ListTaskRunsRequest& request) override;

  absl::StatusOr<v1::TaskRunRecord> CompleteRun(const v1::CompleteRunRequest& request) override;

  absl::StatusOr<v1::TaskRunRecord> FailRun(const v1::FailRunRequest& request) override;

  absl::StatusOr<v1::TaskRunRecord> CancelRun(const v1::CancelTaskRunRequest& request) override;

  absl::StatusOr<int> AppendRunLogs(const v1::AppendRunLogsRequest& request) override;

  absl::StatusOr<v1::TaskLock> AcquireTaskLock(const v1::AcquireTaskLockRequest& request) override;

  absl::Status ReleaseTaskLock(const v1::ReleaseTaskLockRequest& request) override;

  absl::StatusOr<v1::StackRunRecord> GetStackRun(const std::string& id) override;

  absl::StatusOr<v1::ListStackRunsResponse> ListStackRuns(
      const v1::ListStackRunsRequest& request) override;

  absl::StatusOr<v1::ClaimWorkResponse> ClaimWork(const v1::ClaimWorkRequest& request) override;

  absl::StatusOr<v1::Lease> RenewLease(const v1::RenewLeaseRequest& request) override;

  absl::Status ReleaseLease(const v1::ReleaseLeaseRequest& request) override;

  absl::StatusOr<v1::RenewLeasesResponse> RenewLeases(const v1::RenewLeasesRequest& request) override;

  absl::StatusOr<v1::RecordCallsResponse> RecordCalls(const v1::RecordCallsRequest& request) override;

  absl::StatusOr<v1::PutCheckpointResponse> PutCheckpoint(const v1::PutCheckpointRequest& request) override;

  absl::StatusOr<v1::Journal> GetJournal(const v1::GetJournalRequest& request) override;

  absl::StatusOr<v1::CompleteCallResponse> CompleteCall(const v1::CompleteCallRequest& request) override;

  absl::StatusOr<v1::StackRunRecord> RetryCall(const v1::RetryCallRequest& request) override;

  absl::Status PutContinuation(const v1::Continuation& continuation) override;

  absl::StatusOr<v1::Continuation> GetContinuation(const std::string& stack_run_id) override;

  absl::Status PutKeystoreEntry(const v1::KeystoreRow& row) override;

  absl::StatusOr<v1::KeystoreRow> GetKeystoreEntry(const std::string& ns, const std::string& key) override;

  absl::StatusOr<bool> DeleteKeystoreEntry(const std::string& ns, const std::string& key) override;

  absl::StatusOr<v1::ListKeystoreEntriesResponse> ListKeystoreEntries(
      const v1::ListKeystoreEntriesRequest& request) override;

  // One commit for all ops (backends that group writes: SQLite).
  absl::StatusOr<v1::WriteBatchResponse> WriteBatch(const v1::WriteBatchRequest& request) override;

  absl::StatusOr<int64_t> PurgeFinishedRuns(absl::Time finished_before, int limit) override;

 private:
  // The hot-path writes, validated and made into a transaction body that
  // fills `*response` (which, like `request`, must outlive the body). Used
  // alone (Transact) or grouped (WriteBatch).
  absl::StatusOr<sql::Database::TxFn> PrepareRecordCalls(const v1::RecordCallsRequest& request,
                                                         v1::RecordCallsResponse* response);
  absl::StatusOr<sql::Database::TxFn> PrepareCompleteCall(const v1::CompleteCallRequest& request,
                                                          v1::CompleteCallResponse* response);
  absl::StatusOr<sql::Database::TxFn> PrepareCompleteRun(const v1::CompleteRunRequest& request,
                                                         v1::TaskRunRecord* response);
  absl::StatusOr<sql::Database::TxFn> PrepareFailRun(const v1::FailRunRequest& request, v1::TaskRunRecord* response);
  // A finished run's checkpoints are of no further use: deleted when it ends.
  absl::Status DeleteRunContinuations(Tx& tx, const std::string& task_run_id);

  // Idempotent step commits: `body` (which fills `*response`) wrapped so
  // that, with a non-empty `step_token`, a write the root already committed
  // under (op, token) only answers the stored response, and a first one
  // stores its response with the write. The root is locked first.
  enum class StepOp : int64_t { kRecordCalls = 1, kCompleteRun = 2, kFailRun = 3 };
  absl::StatusOr<sql::Database::TxFn> WithStepToken(const std::string& root_id, const std::string& step_token,
                                                    StepOp op, google::protobuf::Message* response,
                                                    sql::Database::TxFn body);
  // For each of `ops` (indexes into request.ops), the root it locks first.
  absl::StatusOr<std::vector<std::string>> LockOrder(const v1::WriteBatchRequest& request, const std::vector<int>& ops);

  int64_t NowMicros() const { return absl::ToUnixMicros(options_.clock()); }

  absl::StatusOr<v1::TaskFunction> LoadFunction(Tx& tx, const std::string& identifier,
                                                int64_t version);

  // The run `row` already holds the request's idempotency key: it into `out`
  // when the request is the same (task, version when given, input), else
  // ALREADY_EXISTS naming the key and the run.
  absl::Status ExistingRun(Tx& tx, const Row& row, const v1::SubmitTaskRunRequest& request,
                           v1::SubmitTaskRunResponse* out);

  absl::StatusOr<v1::TaskRunRecord> LoadRun(Tx& tx, const std::string& id);

  absl::StatusOr<sql::Database::TxFn> PrepareFinishRun(const std::string& root_id, int64_t token,
                                                       const std::string* result_json,
                                                       const v1::ErrorInfo* error, v1::TaskRunRecord* response);

  absl::StatusOr<v1::StackRunRecord> LoadStackRun(Tx& tx, const std::string& id);

  // Appends `logs` to the run's logs as AppendRunLogs does (bounded by
  // max_logs_per_run; extra lines dropped); returns how many were stored.
  absl::StatusOr<int> AppendLogs(Tx& tx, const std::string& task_run_id,
                                 const google::protobuf::RepeatedPtrField<v1::LogEntry>& logs);

  // Validates the HostCalls of a request (count, service, method, args size);
  // fills the calls' args as stored JSON.
  absl::Status ValidateHostCalls(const google::protobuf::RepeatedPtrField<v1::HostCall>& calls,
                                 std::vector<std::string>* args_json);

  // The largest journal seq of a root (-1 when its journal is empty).
  absl::StatusOr<int64_t> LastJournalSeq(Tx& tx, const std::string& root_id);

  // Appends `steps` (already checked to be contiguous among themselves) to
  // the root's journal, whose last seq is `last`; FAILED_PRECONDITION when
  // they do not follow it. Returns the journal's last seq afterwards.
  absl::StatusOr<int64_t> AppendJournalSteps(
      Tx& tx, const std::string& root_id, int64_t last,
      const google::protobuf::RepeatedPtrField<v1::JournalStep>& steps);

  // Checks that the caller still holds `id` with `token` and that it is
  // RUNNING (and of `kind`, unless UNSPECIFIED); returns the row. ABORTED for a stale token, FAILED_PRECONDITION
  // when the item is no longer running (e.g. cancelled).
  absl::StatusOr<v1::StackRunRecord> CheckHeld(Tx& tx, const std::string& id, int64_t token,
                                         v1::StackRunKind kind);

  // Poison pills: when `id` was claimed max_claim_attempts times without
  // progress, fails it (a root: its run, as FailRun; a call: as CompleteCall
  // with an error) with ATTEMPTS_EXHAUSTED and returns true.
  absl::StatusOr<bool> FailIfClaimsExhausted(Tx& tx, const std::string& id, int64_t now);

  // The ready condition of each work kind, as SQL over stack_runs.
  std::string ReadyCondition(v1::WorkKind kind);

  absl::Status ValidateContinuation(const v1::Continuation& c, absl::string_view field);

  absl::Status UpsertContinuation(Tx& tx, const std::string& stack_run_id, const v1::Continuation& c);

  absl::StatusOr<v1::Continuation> LoadContinuation(Tx& tx, const std::string& id);

  // The root's checkpoint, or nullopt when it has none.
  absl::StatusOr<std::optional<v1::Continuation>> FindContinuation(Tx& tx, const std::string& id);

  absl::Status ValidateKey(const std::string& ns, const std::string& key);

  std::unique_ptr<sql::Database> db_;
  StoreOptions options_;
};

}  // namespace tasker::storage

#endif  // TASKER_STORAGE_SQL_SQL_STORE_INTERNAL_H_
