// The application database behind the `database` provider: a database the
// operator names with --app_database_url, NEVER Tasker's own store (runs,
// inputs, results, function code and keystore rows live there, and task code
// must not read them). Task code gets table-level select/insert/update/
// delete/upsert with filters, no SQL:
//
//   select {table, columns?, filters?, order?, limit?, offset?} -> {rows, count}
//   insert {table, rows}                   -> {rows}   (the inserted rows)
//   update {table, values, filters}        -> {rows}   (the updated rows)
//   delete {table, filters}                -> {rows}   (the deleted rows)
//   upsert {table, rows, onConflict}       -> {rows}
//   chain  {chain: [{property, args}, ...]} -> {data, error, count, status, statusText}
//
// `chain` is the old platform's supabase-js-style chain
// (from('t').select('*').eq('a', 1).order('b').limit(10) recorded as steps),
// mapped onto the same operations; see ParseChain.
//
// Identifiers are validated ([A-Za-z_][A-Za-z0-9_]{0,62}) and double-quoted
// (so case-sensitive on Postgres); values are always bound as statement
// parameters, never spliced into SQL.
//
// URLs: sqlite:///abs/path/app.db (created if missing), sqlite::memory: (one
// private in-memory database, for tests), postgres://... or postgresql://...
// (a libpq URI; prefer the environment, TASKER_APP_DATABASE_URL, for a URL
// holding a password).
#ifndef TASKER_SERVICES_PROXY_APP_DATABASE_H_
#define TASKER_SERVICES_PROXY_APP_DATABASE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/proxy/provider.h"

namespace tasker::proxy {

// ---------------------------------------------------------------------------
// Queries, as parsed from a call's args.

enum class FilterOp { kEq, kNeq, kGt, kGte, kLt, kLte, kLike, kIlike, kIn, kIs };

// {column, op, value, not?}. `value` is a JSON scalar (or, for `in`, an
// array of scalars; for `is`, null, true or false). Objects and arrays given
// to comparison ops are compared as their JSON text.
struct Filter {
  std::string column;
  FilterOp op = FilterOp::kEq;
  Json value;
  bool negate = false;  // "not": true wraps the condition in NOT (...)
};

struct OrderBy {
  std::string column;
  bool ascending = true;
};

struct SelectQuery {
  std::string table;
  std::vector<std::string> columns;  // empty: every column (*)
  std::vector<Filter> filters;       // ANDed
  std::vector<OrderBy> order;
  int64_t limit = 100;
  int64_t offset = 0;
};

// insert and upsert. Each row is an object {column: value}; a row without
// columns inserts the table's defaults. Rows are inserted one statement each,
// in order, in one transaction (all or none).
struct InsertQuery {
  std::string table;
  std::vector<Json> rows;
  // upsert: the conflict target; empty for a plain insert. Columns of a row
  // outside the target are updated on conflict (none: the row is skipped).
  std::vector<std::string> on_conflict;
  // upsert: skip conflicting rows instead of updating them.
  bool ignore_duplicates = false;
  // More rows written than this (0: no limit) rolls the call back with
  // OUT_OF_RANGE (a chain's single() after a write, as PostgREST does).
  size_t max_rows = 0;
};

struct UpdateQuery {
  std::string table;
  Json values;                   // non-empty object {column: value}
  std::vector<Filter> filters;   // non-empty: no whole-table updates
  size_t max_rows = 0;           // as InsertQuery::max_rows
};

struct DeleteQuery {
  std::string table;
  std::vector<Filter> filters;   // non-empty: no whole-table deletes
  size_t max_rows = 0;           // as InsertQuery::max_rows
};

// A chain, parsed: one operation on one table, with what supabase-js layers
// on it.
struct ChainQuery {
  enum class Operation { kSelect, kInsert, kUpdate, kDelete, kUpsert };
  enum class Shape { kMany, kSingle, kMaybeSingle };
  Operation operation = Operation::kSelect;
  SelectQuery select;  // kSelect (filters, order, limit, offset)
  InsertQuery insert;  // kInsert, kUpsert (an empty on_conflict: the primary key)
  UpdateQuery update;  // kUpdate
  DeleteQuery remove;  // kDelete
  // Writes: whether select() followed (the rows come back as data), and
  // its columns (empty: all).
  bool returning = false;
  std::vector<std::string> returning_columns;
  bool count = false;  // {count: 'exact' | 'planned' | 'estimated'}
  bool head = false;   // select(..., {head: true}): the count only
  Shape shape = Shape::kMany;
  bool throw_on_error = false;  // throwOnError(): database errors fail the call
  // Where the upsert's onConflict would have been given, for the error when
  // the table has no primary key to default to.
  std::string on_conflict_field;
};
// The chain's operation as the grant names it: database:<name>.
const char* OperationName(ChainQuery::Operation operation);

inline constexpr int64_t kDefaultSelectLimit = 100;
inline constexpr int64_t kMaxSelectLimit = 1000;
inline constexpr size_t kMaxRowsPerCall = 1000;
inline constexpr size_t kMaxInValues = 1000;
inline constexpr size_t kMaxFilters = 100;

// Parse normalized args (an object; see NormalizeArgs). INVALID_ARGUMENT
// naming the field: "args.filters[1].op: must be one of eq, neq, ...".
absl::StatusOr<SelectQuery> ParseSelect(const Json& args);
absl::StatusOr<InsertQuery> ParseInsert(const Json& args);
absl::StatusOr<InsertQuery> ParseUpsert(const Json& args);
absl::StatusOr<UpdateQuery> ParseUpdate(const Json& args);
absl::StatusOr<DeleteQuery> ParseDelete(const Json& args);

// {chain: [{property, args?}, ...]} (or [that object], or the steps
// themselves): from(table) first, then one of select(columns = '*',
// {count, head}), insert(row | rows, {count, defaultToNull}),
// update(values, {count}), delete({count}), upsert(row | rows, {onConflict,
// ignoreDuplicates, count, defaultToNull}); then filters eq, neq, gt, gte,
// lt, lte, like, ilike, in, is (column, value), match({column: value}),
// not(column, op, value), filter(column, op, value); order(column,
// {ascending}), limit(n), range(from, to) (select only); select(columns)
// after a write; single(), maybeSingle(), throwOnError(), returns().
// INVALID_ARGUMENT naming the step: "args.chain[2].args[0]: ...".
absl::StatusOr<ChainQuery> ParseChain(const Json& args);

// Table names task code may not name in any database: Tasker's own tables,
// and the backends' system catalogs (pg_*, sqlite_*).
bool IsReservedTable(const std::string& table);

// ---------------------------------------------------------------------------
// The database.

// The payload key of a database failure's status holding the backend's own
// error code (a SQLSTATE such as "23505", or "SQLITE_CONSTRAINT_UNIQUE").
inline constexpr char kDatabaseCodePayload[] = "tasker.dev/app-database-code";

struct AppDatabaseOptions {
  // Postgres: connections kept open at most (calls beyond wait for one).
  int postgres_pool_size = 4;
  // SQLite: how long a write waits for another process's lock, at most (the
  // call's deadline bounds it too).
  absl::Duration sqlite_busy_timeout = absl::Seconds(5);
};

class AppDatabase {
 public:
  // Opens (and for SQLite files creates) the database and checks it:
  // INVALID_ARGUMENT for a malformed URL; UNAVAILABLE when it cannot be
  // reached; FAILED_PRECONDITION when it holds Tasker's own tables (the
  // operator pointed it at Tasker's store).
  static absl::StatusOr<std::unique_ptr<AppDatabase>> Open(const std::string& url,
                                                           const AppDatabaseOptions& options = {});
  virtual ~AppDatabase() = default;

  virtual std::string backend() const = 0;  // "sqlite" or "postgres"

  // Each runs in one transaction and returns the rows as JSON objects in the
  // order of the result's columns. Values: integers stay integers (64-bit),
  // REAL/float -> double, NULL -> null, TEXT -> string, BLOB/bytea -> base64
  // string, Postgres bool -> true/false, json/jsonb -> the JSON value,
  // numeric -> number; on SQLite, columns declared BOOLEAN/BOOL give
  // true/false and columns declared JSON/JSONB give the JSON value.
  //
  // Failures are the database's: UNAVAILABLE (connection lost or
  // unreachable), DEADLINE_EXCEEDED (past `deadline`), ABORTED (locked,
  // serialization failure, deadlock): worth a retry; FAILED_PRECONDITION
  // (a constraint), INTERNAL (any other SQL error: no such table or column,
  // a type mismatch): final. Never INVALID_ARGUMENT. The message is the
  // database's; kDatabaseCodePayload holds its code.
  virtual absl::StatusOr<Json> Select(const SelectQuery& query, absl::Time deadline) = 0;
  virtual absl::StatusOr<Json> Insert(const InsertQuery& query, absl::Time deadline) = 0;
  virtual absl::StatusOr<Json> Update(const UpdateQuery& query, absl::Time deadline) = 0;
  virtual absl::StatusOr<Json> Delete(const DeleteQuery& query, absl::Time deadline) = 0;
  // Select, plus the number of rows the filters match (limit and offset
  // ignored) in `total`, read in one transaction.
  virtual absl::StatusOr<Json> SelectCounted(const SelectQuery& query, absl::Time deadline, int64_t* total) = 0;
  // The columns of the table's primary key, in key order (empty: it has
  // none, or there is no such table).
  virtual absl::StatusOr<std::vector<std::string>> PrimaryKey(const std::string& table, absl::Time deadline) = 0;
};

// The `database` provider over `db` (not owned). With db == nullptr every
// call answers NOT_CONFIGURED ("database: no application database configured
// (--app_database_url)").
std::unique_ptr<Provider> NewDatabaseProvider(AppDatabase* db);

}  // namespace tasker::proxy

#endif  // TASKER_SERVICES_PROXY_APP_DATABASE_H_
