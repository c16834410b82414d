#include "services/proxy/app_database.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "runtime/common/log.h"
#include "runtime/common/status.h"

namespace tasker::proxy {
namespace {

// Tasker's own tables (storage/*/migrations): the provider never serves a
// database holding one, and never names one. schema_migrations is left out:
// many applications have a table of that name.
constexpr const char* kTaskerTables[] = {"task_functions", "task_runs",     "run_logs",
                                         "stack_runs",     "continuations", "keystore",
                                         "task_locks",     "journal_steps", "step_commits"};

constexpr char kIdentifierRule[] = "[A-Za-z_][A-Za-z0-9_]{0,62}";
constexpr char kOps[] = "eq, neq, gt, gte, lt, lte, like, ilike, in, is";

bool ValidIdentifier(absl::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!absl::ascii_isalpha(name[0]) && name[0] != '_') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

std::string Quote(const std::string& identifier) { return absl::StrCat("\"", identifier, "\""); }

absl::Status Invalid(const std::string& field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

// Refuses keys outside `known`: a misspelt "filter" must not select a whole
// table.
absl::Status OnlyKeys(const Json& object, const std::string& field, std::initializer_list<const char*> known) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) {
      return Invalid(field, absl::StrCat("unknown key '", it.key(), "' (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Identifier(const Json& value, const std::string& field) {
  if (!value.is_string()) return Invalid(field, absl::StrCat("expected a name (string), got ", value.type_name()));
  const std::string name = value.get<std::string>();
  if (!ValidIdentifier(name)) {
    return Invalid(field, absl::StrCat("'", name.substr(0, 80), "' is not a valid name (", kIdentifierRule, ")"));
  }
  return name;
}

absl::StatusOr<std::string> Table(const Json& args) {
  auto it = args.find("table");
  if (it == args.end() || it->is_null()) return Invalid("args.table", "required (a table name)");
  ASSIGN_OR_RETURN(std::string table, Identifier(*it, "args.table"));
  if (IsReservedTable(table)) {
    return Invalid("args.table", absl::StrCat("'", table,
                                              "' is reserved (Tasker's own tables and the database's system "
                                              "catalogs are not reachable)"));
  }
  return table;
}

// A value to bind: any JSON but integers beyond 64 bits (neither backend
// stores them as integers).
absl::Status Bindable(const Json& value, const std::string& field) {
  if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return Invalid(field, "integer out of the signed 64-bit range");
  }
  return absl::OkStatus();
}

bool Scalar(const Json& v) { return v.is_string() || v.is_number() || v.is_boolean(); }

// "a, b" or ["a", "b"] -> names; "*" -> none (every column).
absl::StatusOr<std::vector<std::string>> Names(const Json& args, const char* key, bool star) {
  std::vector<std::string> names;
  const std::string field = absl::StrCat("args.", key);
  auto it = args.find(key);
  if (it == args.end() || it->is_null()) return names;
  if (it->is_string()) {
    const std::string text = it->get<std::string>();
    if (star && absl::StripAsciiWhitespace(text) == "*") return names;
    for (absl::string_view part : absl::StrSplit(text, ',')) {
      ASSIGN_OR_RETURN(std::string name, Identifier(Json(std::string(absl::StripAsciiWhitespace(part))), field));
      names.push_back(std::move(name));
    }
    return names;
  }
  if (!it->is_array()) {
    return Invalid(field, absl::StrCat("expected an array of names", star ? " or \"*\"" : "", ", got ",
                                       it->type_name()));
  }
  if (star && it->size() == 1 && (*it)[0] == "*") return names;
  if (it->size() > 1000) return Invalid(field, "at most 1000 names");
  for (size_t i = 0; i < it->size(); ++i) {
    ASSIGN_OR_RETURN(std::string name, Identifier((*it)[i], absl::StrCat(field, "[", i, "]")));
    names.push_back(std::move(name));
  }
  return names;
}

std::optional<FilterOp> FilterOpByName(const Json& op) {
  static const std::map<std::string, FilterOp> kByName = {
      {"eq", FilterOp::kEq},     {"neq", FilterOp::kNeq},     {"gt", FilterOp::kGt}, {"gte", FilterOp::kGte},
      {"lt", FilterOp::kLt},     {"lte", FilterOp::kLte},     {"like", FilterOp::kLike},
      {"ilike", FilterOp::kIlike}, {"in", FilterOp::kIn},     {"is", FilterOp::kIs}};
  if (!op.is_string()) return std::nullopt;
  auto named = kByName.find(op.get<std::string>());
  if (named == kByName.end()) return std::nullopt;
  return named->second;
}

// The value a filter op takes, named `vfield` when it is not one.
absl::Status CheckFilterValue(FilterOp op, const Json& v, const std::string& vfield) {
  switch (op) {
    case FilterOp::kIs:
      if (!v.is_null() && !v.is_boolean()) return Invalid(vfield, "must be null, true or false (op is)");
      break;
    case FilterOp::kLike:
    case FilterOp::kIlike:
      if (!v.is_string()) return Invalid(vfield, "expected a string pattern (op like, ilike)");
      break;
    case FilterOp::kIn:
      if (!v.is_array() || v.size() > kMaxInValues) {
        return Invalid(vfield, absl::StrCat("expected an array of at most ", kMaxInValues,
                                            " strings, numbers or booleans (op in)"));
      }
      for (size_t j = 0; j < v.size(); ++j) {
        const std::string efield = absl::StrCat(vfield, "[", j, "]");
        if (!Scalar(v[j])) return Invalid(efield, absl::StrCat("expected a string, number or boolean, got ",
                                                               v[j].type_name()));
        RETURN_IF_ERROR(Bindable(v[j], efield));
      }
      break;
    default:
      if (v.is_null()) return Invalid(vfield, "required (null never compares; use op \"is\")");
      RETURN_IF_ERROR(Bindable(v, vfield));
  }
  return absl::OkStatus();
}

absl::StatusOr<Filter> ParseFilter(const Json& f, const std::string& field) {
  if (!f.is_object()) {
    return Invalid(field, absl::StrCat("expected an object {column, op, value}, got ", f.type_name()));
  }
  RETURN_IF_ERROR(OnlyKeys(f, field, {"column", "op", "value", "not"}));
  Filter filter;
  if (!f.contains("column")) return Invalid(field + ".column", "required");
  ASSIGN_OR_RETURN(filter.column, Identifier(f["column"], field + ".column"));
  const std::optional<FilterOp> op = FilterOpByName(f.value("op", Json()));
  if (!op.has_value()) return Invalid(field + ".op", absl::StrCat("must be one of ", kOps));
  filter.op = *op;
  if (f.contains("not")) {
    if (!f["not"].is_boolean()) return Invalid(field + ".not", "expected a boolean");
    filter.negate = f["not"].get<bool>();
  }
  filter.value = f.value("value", Json());
  RETURN_IF_ERROR(CheckFilterValue(filter.op, filter.value, field + ".value"));
  return filter;
}

absl::StatusOr<std::vector<Filter>> ParseFilters(const Json& args, bool required) {
  std::vector<Filter> filters;
  auto it = args.find("filters");
  const bool absent = it == args.end() || it->is_null();
  if (!absent && !it->is_array()) {
    return Invalid("args.filters", absl::StrCat("expected an array of {column, op, value}, got ", it->type_name()));
  }
  if (required && (absent || it->empty())) {
    return Invalid("args.filters",
                   "required (a non-empty array of {column, op, value}): update and delete never touch a whole table");
  }
  if (absent) return filters;
  if (it->size() > kMaxFilters) return Invalid("args.filters", absl::StrCat("at most ", kMaxFilters, " filters"));
  for (size_t i = 0; i < it->size(); ++i) {
    ASSIGN_OR_RETURN(Filter filter, ParseFilter((*it)[i], absl::StrCat("args.filters[", i, "]")));
    filters.push_back(std::move(filter));
  }
  return filters;
}

// A row or the values of an update: {column: value}.
absl::Status ParseColumnValues(const Json& object, const std::string& field) {
  if (object.size() > 1000) return Invalid(field, "at most 1000 columns");
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!ValidIdentifier(it.key())) {
      return Invalid(field, absl::StrCat("'", it.key().substr(0, 80), "' is not a valid column name (",
                                         kIdentifierRule, ")"));
    }
    RETURN_IF_ERROR(Bindable(it.value(), absl::StrCat(field, ".", it.key())));
  }
  return absl::OkStatus();
}

absl::StatusOr<InsertQuery> ParseRows(const Json& args) {
  InsertQuery query;
  ASSIGN_OR_RETURN(query.table, Table(args));
  auto it = args.find("rows");
  const std::string expected =
      absl::StrCat("expected an object {column: value} or a non-empty array of at most ", kMaxRowsPerCall, " of them");
  if (it == args.end() || it->is_null()) return Invalid("args.rows", "required: " + expected);
  if (it->is_object()) {
    query.rows.push_back(*it);
  } else if (it->is_array() && !it->empty() && it->size() <= kMaxRowsPerCall) {
    query.rows.assign(it->begin(), it->end());
  } else {
    return Invalid("args.rows", expected);
  }
  for (size_t i = 0; i < query.rows.size(); ++i) {
    const std::string field = absl::StrCat("args.rows[", i, "]");
    if (!query.rows[i].is_object()) {
      return Invalid(field, absl::StrCat("expected an object {column: value}, got ", query.rows[i].type_name()));
    }
    RETURN_IF_ERROR(ParseColumnValues(query.rows[i], field));
  }
  return query;
}

}  // namespace

bool IsReservedTable(const std::string& table) {
  const std::string lower = absl::AsciiStrToLower(table);
  if (absl::StartsWith(lower, "pg_") || absl::StartsWith(lower, "sqlite_")) return true;
  for (const char* t : kTaskerTables) {
    if (lower == t) return true;
  }
  return false;
}

absl::StatusOr<SelectQuery> ParseSelect(const Json& args) {
  RETURN_IF_ERROR(OnlyKeys(args, "args", {"table", "columns", "filters", "order", "limit", "offset"}));
  SelectQuery query;
  ASSIGN_OR_RETURN(query.table, Table(args));
  ASSIGN_OR_RETURN(query.columns, Names(args, "columns", /*star=*/true));
  ASSIGN_OR_RETURN(query.filters, ParseFilters(args, /*required=*/false));
  if (auto it = args.find("order"); it != args.end() && !it->is_null()) {
    Json list = it->is_object() ? Json::array({*it}) : *it;
    if (!list.is_array() || list.size() > kMaxFilters) {
      return Invalid("args.order", absl::StrCat("expected an array of at most ", kMaxFilters,
                                                " {column, ascending}"));
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string field = absl::StrCat("args.order[", i, "]");
      if (!list[i].is_object()) return Invalid(field, "expected an object {column, ascending}");
      RETURN_IF_ERROR(OnlyKeys(list[i], field, {"column", "ascending"}));
      OrderBy order;
      ASSIGN_OR_RETURN(order.column, Identifier(list[i].value("column", Json()), field + ".column"));
      if (list[i].contains("ascending")) {
        if (!list[i]["ascending"].is_boolean()) return Invalid(field + ".ascending", "expected a boolean");
        order.ascending = list[i]["ascending"].get<bool>();
      }
      query.order.push_back(std::move(order));
    }
  }
  ASSIGN_OR_RETURN(query.limit, IntArg(args, "limit", kDefaultSelectLimit, 0, kMaxSelectLimit));
  ASSIGN_OR_RETURN(query.offset, IntArg(args, "offset", 0, 0, INT64_MAX));
  return query;
}

absl::StatusOr<InsertQuery> ParseInsert(const Json& args) {
  RETURN_IF_ERROR(OnlyKeys(args, "args", {"table", "rows"}));
  return ParseRows(args);
}

absl::StatusOr<InsertQuery> ParseUpsert(const Json& args) {
  RETURN_IF_ERROR(OnlyKeys(args, "args", {"table", "rows", "onConflict"}));
  ASSIGN_OR_RETURN(InsertQuery query, ParseRows(args));
  ASSIGN_OR_RETURN(query.on_conflict, Names(args, "onConflict", /*star=*/false));
  if (query.on_conflict.empty()) {
    return Invalid("args.onConflict", "required (the columns of a unique constraint, e.g. [\"id\"])");
  }
  for (size_t i = 0; i < query.rows.size(); ++i) {
    for (const auto& column : query.on_conflict) {
      if (!query.rows[i].contains(column)) {
        return Invalid(absl::StrCat("args.rows[", i, "]"),
                       absl::StrCat("missing the conflict column '", column, "' (args.onConflict)"));
      }
    }
  }
  return query;
}

absl::StatusOr<UpdateQuery> ParseUpdate(const Json& args) {
  RETURN_IF_ERROR(OnlyKeys(args, "args", {"table", "values", "filters"}));
  UpdateQuery query;
  ASSIGN_OR_RETURN(query.table, Table(args));
  auto it = args.find("values");
  if (it == args.end() || !it->is_object() || it->empty()) {
    return Invalid("args.values", "required (a non-empty object {column: value})");
  }
  RETURN_IF_ERROR(ParseColumnValues(*it, "args.values"));
  query.values = *it;
  ASSIGN_OR_RETURN(query.filters, ParseFilters(args, /*required=*/true));
  return query;
}

absl::StatusOr<DeleteQuery> ParseDelete(const Json& args) {
  RETURN_IF_ERROR(OnlyKeys(args, "args", {"table", "filters"}));
  DeleteQuery query;
  ASSIGN_OR_RETURN(query.table, Table(args));
  ASSIGN_OR_RETURN(query.filters, ParseFilters(args, /*required=*/true));
  return query;
}

const char* OperationName(ChainQuery::Operation operation) {
  switch (operation) {
    case ChainQuery::Operation::kSelect: return "select";
    case ChainQuery::Operation::kInsert: return "insert";
    case ChainQuery::Operation::kUpdate: return "update";
    case ChainQuery::Operation::kDelete: return "delete";
    case ChainQuery::Operation::kUpsert: return "upsert";
  }
  return "select";
}

namespace {

constexpr size_t kMaxChainSteps = 200;
constexpr char kChainMethods[] =
    "from, select, insert, update, delete, upsert, eq, neq, gt, gte, lt, lte, like, ilike, in, is, match, not, "
    "filter, order, limit, range, single, maybeSingle, throwOnError, returns";

// One step of a chain: its args by position (JSON.stringify writes an
// omitted optional argument as null).
class Step {
 public:
  Step(const Json& args, std::string field, std::string property)
      : args_(args), field_(std::move(field)), property_(std::move(property)) {}
  const Json& operator[](size_t i) const {
    static const Json kNull;
    return i < args_.size() ? args_[i] : kNull;
  }
  std::string Field(size_t i) const { return absl::StrCat(field_, ".args[", i, "]"); }
  const std::string& field() const { return field_; }
  const std::string& property() const { return property_; }
  absl::Status AtMost(size_t n, absl::string_view shape) const {
    // Trailing nulls are omitted optional arguments.
    size_t given = args_.size();
    while (given > n && args_[given - 1].is_null()) --given;
    if (given > n) {
      return Invalid(absl::StrCat(field_, ".args"),
                     absl::StrCat(property_, "(", shape, ") takes at most ", n, " argument", n == 1 ? "" : "s",
                                  ", got ", args_.size()));
    }
    return absl::OkStatus();
  }
  // An options object (absent or null: {}), with only `known` keys.
  absl::StatusOr<Json> Options(size_t i, std::initializer_list<const char*> known) const {
    const Json& o = (*this)[i];
    if (o.is_null()) return Json::object();
    if (!o.is_object()) return Invalid(Field(i), absl::StrCat("expected an options object, got ", o.type_name()));
    RETURN_IF_ERROR(OnlyKeys(o, Field(i), known));
    return o;
  }

 private:
  const Json& args_;
  std::string field_;
  std::string property_;
};

// {count: 'exact' | 'planned' | 'estimated' | null}: all three are exact here.
absl::StatusOr<bool> CountOption(const Json& options, const std::string& field) {
  auto it = options.find("count");
  if (it == options.end() || it->is_null()) return false;
  if (!it->is_string() || (*it != "exact" && *it != "planned" && *it != "estimated")) {
    return Invalid(field + ".count", "must be 'exact', 'planned' or 'estimated'");
  }
  return true;
}

absl::StatusOr<bool> BoolOption(const Json& options, const char* key, bool fallback, const std::string& field) {
  auto it = options.find(key);
  if (it == options.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return Invalid(absl::StrCat(field, ".", key), "expected a boolean");
  return it->get<bool>();
}

// select()'s columns: '*' (or absent) or "a, b, c". supabase-js's renames
// (alias:col), casts (col::text), JSON paths and embedded resources
// (other(*)) are not supported.
absl::StatusOr<std::vector<std::string>> ChainColumns(const Json& value, const std::string& field) {
  std::vector<std::string> names;
  if (value.is_null()) return names;
  if (!value.is_string()) return Invalid(field, absl::StrCat("expected a string of column names, got ",
                                                             value.type_name()));
  const std::string text = value.get<std::string>();
  if (absl::StripAsciiWhitespace(text) == "*") return names;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    const std::string name(absl::StripAsciiWhitespace(part));
    if (!ValidIdentifier(name)) {
      return Invalid(field, absl::StrCat("'", name.substr(0, 80), "' is not a column name (", kIdentifierRule,
                                         "): only '*' or column names (no renames, casts, JSON paths or embedded "
                                         "tables)"));
    }
    names.push_back(name);
  }
  return names;
}

// PostgREST's list syntax for in inside not()/filter(): "(a,b,"c d")".
absl::StatusOr<Json> PostgrestList(const Json& value, const std::string& field) {
  if (value.is_array()) return value;
  if (!value.is_string()) return value;  // CheckFilterValue names the problem
  std::string text(absl::StripAsciiWhitespace(value.get<std::string>()));
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') {
    return Invalid(field, "expected an array or a list \"(a,b)\" (op in)");
  }
  Json out = Json::array();
  text = text.substr(1, text.size() - 2);
  if (absl::StripAsciiWhitespace(text).empty()) return out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    std::string item(absl::StripAsciiWhitespace(part));
    if (item.size() >= 2 && item.front() == '"' && item.back() == '"') item = item.substr(1, item.size() - 2);
    out.push_back(item);
  }
  return out;
}

// A row list: an object or 1..kMaxRowsPerCall of them.
absl::StatusOr<std::vector<Json>> ChainRows(const Json& value, const std::string& field, bool default_to_null) {
  std::vector<Json> rows;
  if (value.is_object()) {
    rows.push_back(value);
  } else if (value.is_array() && !value.empty() && value.size() <= kMaxRowsPerCall) {
    rows.assign(value.begin(), value.end());
  } else {
    return Invalid(field, absl::StrCat("expected an object {column: value} or a non-empty array of at most ",
                                       kMaxRowsPerCall, " of them"));
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string row_field = value.is_array() ? absl::StrCat(field, "[", i, "]") : field;
    if (!rows[i].is_object()) {
      return Invalid(row_field, absl::StrCat("expected an object {column: value}, got ", rows[i].type_name()));
    }
    RETURN_IF_ERROR(ParseColumnValues(rows[i], row_field));
  }
  // Bulk rows with different columns: as supabase-js's defaultToNull (its
  // default), a column a row leaves out is null in it, not its default.
  if (default_to_null && rows.size() > 1) {
    std::vector<std::string> all;
    for (const auto& row : rows) {
      for (auto it = row.begin(); it != row.end(); ++it) {
        if (std::find(all.begin(), all.end(), it.key()) == all.end()) all.push_back(it.key());
      }
    }
    for (auto& row : rows) {
      Json filled = Json::object();
      for (const auto& column : all) filled[column] = row.contains(column) ? row[column] : Json(nullptr);
      row = std::move(filled);
    }
  }
  return rows;
}

absl::StatusOr<int64_t> ChainInt(const Json& value, const std::string& field, int64_t min, int64_t max) {
  if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t(max)) ||
      value.get<int64_t>() < min || value.get<int64_t>() > max) {
    return Invalid(field, absl::StrCat("expected an integer within ", min, "..", max));
  }
  return value.get<int64_t>();
}

}  // namespace

absl::StatusOr<ChainQuery> ParseChain(const Json& raw) {
  using Op = ChainQuery::Operation;
  Json steps;
  if (raw.is_array() && (raw.empty() || (raw[0].is_object() && raw[0].contains("property")))) {
    steps = raw;  // the steps themselves
  } else {
    ASSIGN_OR_RETURN(const Json args, NormalizeArgs(raw));
    RETURN_IF_ERROR(OnlyKeys(args, "args", {"chain"}));
    if (!args.contains("chain")) return Invalid("args.chain", "required: [{property, args}, ...]");
    steps = args["chain"];
  }
  if (!steps.is_array() || steps.empty() || steps.size() > kMaxChainSteps) {
    return Invalid("args.chain", absl::StrCat("expected a non-empty array of at most ", kMaxChainSteps,
                                              " steps {property, args}, starting with from(table)"));
  }
  ChainQuery q;
  std::string table;
  bool have_operation = false;
  std::vector<Filter> filters;
  std::vector<OrderBy> order;
  std::optional<int64_t> limit;
  int64_t offset = 0;
  bool shaped = false;
  std::string rows_field;  // insert, upsert: where the rows were given
  bool rows_array = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const std::string field = absl::StrCat("args.chain[", i, "]");
    const Json& step = steps[i];
    if (!step.is_object()) return Invalid(field, absl::StrCat("expected {property, args}, got ", step.type_name()));
    RETURN_IF_ERROR(OnlyKeys(step, field, {"property", "args"}));
    if (!step.contains("property") || !step["property"].is_string()) {
      return Invalid(field + ".property", "required (a method name such as from, select, eq)");
    }
    const std::string property = step["property"].get<std::string>();
    static const Json kNoArgs = Json::array();
    const Json& step_args = step.contains("args") && !step["args"].is_null() ? step["args"] : kNoArgs;
    if (!step_args.is_array()) {
      return Invalid(field + ".args", absl::StrCat("expected an array of arguments, got ", step_args.type_name()));
    }
    const Step a(step_args, field, property);
    if (i == 0) {
      if (property != "from") return Invalid(field + ".property", "the chain starts with from(table)");
      RETURN_IF_ERROR(a.AtMost(1, "table"));
      if (a[0].is_null()) return Invalid(a.Field(0), "required (a table name)");
      ASSIGN_OR_RETURN(table, Identifier(a[0], a.Field(0)));
      if (IsReservedTable(table)) {
        return Invalid(a.Field(0), absl::StrCat("'", table,
                                                "' is reserved (Tasker's own tables and the database's system "
                                                "catalogs are not reachable)"));
      }
      continue;
    }
    const bool is_write = have_operation && q.operation != Op::kSelect;
    auto operation_first = [&]() -> absl::Status {
      if (!have_operation) {
        return Invalid(field + ".property", absl::StrCat(property, " comes after select, insert, update, delete or "
                                                         "upsert (as in supabase-js)"));
      }
      return absl::OkStatus();
    };
    auto select_only = [&]() -> absl::Status {
      RETURN_IF_ERROR(operation_first());
      if (q.operation != Op::kSelect) {
        return Invalid(field + ".property", absl::StrCat(property, " applies to select only"));
      }
      return absl::OkStatus();
    };
    auto add_filter = [&](const std::string& column_field, const Json& column, FilterOp op, Json value,
                          const std::string& value_field, bool negate) -> absl::Status {
      RETURN_IF_ERROR(operation_first());
      if (q.operation == Op::kInsert || q.operation == Op::kUpsert) {
        return Invalid(field + ".property", absl::StrCat(property, " applies to select, update and delete"));
      }
      if (filters.size() >= kMaxFilters) return Invalid(field, absl::StrCat("at most ", kMaxFilters, " filters"));
      Filter f;
      if (column.is_null()) return Invalid(column_field, "required (a column name)");
      ASSIGN_OR_RETURN(f.column, Identifier(column, column_field));
      f.op = op;
      f.value = std::move(value);
      f.negate = negate;
      RETURN_IF_ERROR(CheckFilterValue(f.op, f.value, value_field));
      filters.push_back(std::move(f));
      return absl::OkStatus();
    };
    if (property == "from") return Invalid(field + ".property", "from comes first, once");
    if (property == "select") {
      if (!have_operation) {
        RETURN_IF_ERROR(a.AtMost(2, "columns, {count, head}"));
        q.operation = Op::kSelect;
        have_operation = true;
        ASSIGN_OR_RETURN(q.select.columns, ChainColumns(a[0], a.Field(0)));
        ASSIGN_OR_RETURN(const Json options, a.Options(1, {"count", "head"}));
        ASSIGN_OR_RETURN(q.count, CountOption(options, a.Field(1)));
        ASSIGN_OR_RETURN(q.head, BoolOption(options, "head", false, a.Field(1)));
      } else if (is_write && !q.returning) {
        RETURN_IF_ERROR(a.AtMost(1, "columns"));
        q.returning = true;
        ASSIGN_OR_RETURN(q.returning_columns, ChainColumns(a[0], a.Field(0)));
      } else {
        return Invalid(field + ".property", "select appears twice");
      }
      continue;
    }
    if (property == "insert" || property == "upsert" || property == "update" || property == "delete") {
      if (have_operation) {
        return Invalid(field + ".property", absl::StrCat("one operation per chain (it already has ",
                                                         OperationName(q.operation), ")"));
      }
      have_operation = true;
      if (property == "delete") {
        RETURN_IF_ERROR(a.AtMost(1, "{count}"));
        q.operation = Op::kDelete;
        ASSIGN_OR_RETURN(const Json options, a.Options(0, {"count"}));
        ASSIGN_OR_RETURN(q.count, CountOption(options, a.Field(0)));
      } else if (property == "update") {
        RETURN_IF_ERROR(a.AtMost(2, "values, {count}"));
        q.operation = Op::kUpdate;
        if (!a[0].is_object() || a[0].empty()) return Invalid(a.Field(0), "required (a non-empty object {column: value})");
        RETURN_IF_ERROR(ParseColumnValues(a[0], a.Field(0)));
        q.update.values = a[0];
        ASSIGN_OR_RETURN(const Json options, a.Options(1, {"count"}));
        ASSIGN_OR_RETURN(q.count, CountOption(options, a.Field(1)));
      } else {
        const bool upsert = property == "upsert";
        RETURN_IF_ERROR(a.AtMost(2, upsert ? "rows, {onConflict, ignoreDuplicates, count, defaultToNull}"
                                           : "rows, {count, defaultToNull}"));
        q.operation = upsert ? Op::kUpsert : Op::kInsert;
        ASSIGN_OR_RETURN(const Json options,
                         upsert ? a.Options(1, {"onConflict", "ignoreDuplicates", "count", "defaultToNull"})
                                : a.Options(1, {"count", "defaultToNull"}));
        ASSIGN_OR_RETURN(q.count, CountOption(options, a.Field(1)));
        ASSIGN_OR_RETURN(const bool default_to_null, BoolOption(options, "defaultToNull", true, a.Field(1)));
        ASSIGN_OR_RETURN(q.insert.rows, ChainRows(a[0], a.Field(0), default_to_null));
        rows_field = a.Field(0);
        rows_array = a[0].is_array();
        if (upsert) {
          q.on_conflict_field = a.Field(1) + ".onConflict";
          ASSIGN_OR_RETURN(q.insert.ignore_duplicates, BoolOption(options, "ignoreDuplicates", false, a.Field(1)));
          if (auto it = options.find("onConflict"); it != options.end() && !it->is_null()) {
            if (!it->is_string()) return Invalid(q.on_conflict_field, "expected a string of column names \"a, b\"");
            for (absl::string_view part : absl::StrSplit(it->get<std::string>(), ',')) {
              ASSIGN_OR_RETURN(std::string column, Identifier(Json(std::string(absl::StripAsciiWhitespace(part))),
                                                              q.on_conflict_field));
              q.insert.on_conflict.push_back(std::move(column));
            }
          }
        }
      }
      continue;
    }
    if (const std::optional<FilterOp> op = FilterOpByName(Json(property)); op.has_value()) {
      RETURN_IF_ERROR(a.AtMost(2, "column, value"));
      RETURN_IF_ERROR(add_filter(a.Field(0), a[0], *op, a[1], a.Field(1), false));
      continue;
    }
    if (property == "match") {
      RETURN_IF_ERROR(a.AtMost(1, "{column: value}"));
      if (!a[0].is_object() || a[0].empty()) return Invalid(a.Field(0), "expected a non-empty object {column: value}");
      for (auto it = a[0].begin(); it != a[0].end(); ++it) {
        const std::string f = absl::StrCat(a.Field(0), ".", it.key());
        RETURN_IF_ERROR(add_filter(f, Json(it.key()), FilterOp::kEq, it.value(), f, false));
      }
      continue;
    }
    if (property == "not" || property == "filter") {
      RETURN_IF_ERROR(a.AtMost(3, "column, operator, value"));
      const std::optional<FilterOp> op = FilterOpByName(a[1]);
      if (!op.has_value()) return Invalid(a.Field(1), absl::StrCat("must be one of ", kOps));
      Json value = a[2];
      if (*op == FilterOp::kIn) {
        ASSIGN_OR_RETURN(value, PostgrestList(value, a.Field(2)));
      }
      RETURN_IF_ERROR(add_filter(a.Field(0), a[0], *op, std::move(value), a.Field(2), property == "not"));
      continue;
    }
    if (property == "order") {
      RETURN_IF_ERROR(select_only());
      RETURN_IF_ERROR(a.AtMost(2, "column, {ascending}"));
      if (order.size() >= kMaxFilters) return Invalid(field, absl::StrCat("at most ", kMaxFilters, " orderings"));
      OrderBy o;
      if (a[0].is_null()) return Invalid(a.Field(0), "required (a column name)");
      ASSIGN_OR_RETURN(o.column, Identifier(a[0], a.Field(0)));
      ASSIGN_OR_RETURN(const Json options, a.Options(1, {"ascending"}));
      ASSIGN_OR_RETURN(o.ascending, BoolOption(options, "ascending", true, a.Field(1)));
      order.push_back(std::move(o));
      continue;
    }
    if (property == "limit") {
      RETURN_IF_ERROR(select_only());
      RETURN_IF_ERROR(a.AtMost(1, "count"));
      ASSIGN_OR_RETURN(limit, ChainInt(a[0], a.Field(0), 0, kMaxSelectLimit));
      continue;
    }
    if (property == "range") {
      RETURN_IF_ERROR(select_only());
      RETURN_IF_ERROR(a.AtMost(2, "from, to"));
      ASSIGN_OR_RETURN(offset, ChainInt(a[0], a.Field(0), 0, INT64_MAX - kMaxSelectLimit));
      ASSIGN_OR_RETURN(const int64_t to, ChainInt(a[1], a.Field(1), offset, offset + kMaxSelectLimit - 1));
      limit = to - offset + 1;
      continue;
    }
    if (property == "single" || property == "maybeSingle") {
      RETURN_IF_ERROR(operation_first());
      RETURN_IF_ERROR(a.AtMost(0, ""));
      if (shaped) return Invalid(field + ".property", "single() or maybeSingle() appears twice");
      shaped = true;
      q.shape = property == "single" ? ChainQuery::Shape::kSingle : ChainQuery::Shape::kMaybeSingle;
      continue;
    }
    if (property == "throwOnError") {
      RETURN_IF_ERROR(a.AtMost(0, ""));
      q.throw_on_error = true;
      continue;
    }
    if (property == "returns") continue;  // a type annotation in supabase-js
    return Invalid(field + ".property",
                   absl::StrCat("'", property.substr(0, 80), "' is not supported; supported: ", kChainMethods));
  }
  if (!have_operation) {
    return Invalid("args.chain", "from(table) must be followed by select, insert, update, delete or upsert");
  }
  switch (q.operation) {
    case Op::kSelect:
      q.select.table = table;
      q.select.filters = std::move(filters);
      q.select.order = std::move(order);
      q.select.limit = limit.value_or(kMaxSelectLimit);
      q.select.offset = offset;
      // Two rows tell single() and maybeSingle() all they need to know.
      if (q.shape != ChainQuery::Shape::kMany) q.select.limit = std::min<int64_t>(q.select.limit, 2);
      if (q.head) q.select.limit = 0;
      break;
    case Op::kUpdate:
    case Op::kDelete:
      if (filters.empty()) {
        return Invalid("args.chain", absl::StrCat(OperationName(q.operation),
                                                  " needs a filter (eq, match, in, ...): whole-table ",
                                                  OperationName(q.operation), "s are refused"));
      }
      if (q.operation == Op::kUpdate) {
        q.update.table = table;
        q.update.filters = std::move(filters);
        if (q.shape != ChainQuery::Shape::kMany && q.returning) q.update.max_rows = 1;
      } else {
        q.remove.table = table;
        q.remove.filters = std::move(filters);
        if (q.shape != ChainQuery::Shape::kMany && q.returning) q.remove.max_rows = 1;
      }
      break;
    case Op::kInsert:
    case Op::kUpsert:
      q.insert.table = table;
      if (q.shape != ChainQuery::Shape::kMany && q.returning) q.insert.max_rows = 1;
      for (size_t r = 0; r < q.insert.rows.size(); ++r) {
        for (const auto& column : q.insert.on_conflict) {
          if (!q.insert.rows[r].contains(column)) {
            return Invalid(rows_array ? absl::StrCat(rows_field, "[", r, "]") : rows_field,
                           absl::StrCat("missing the conflict column '", column, "' (onConflict)"));
          }
        }
      }
      break;
  }
  return q;
}

namespace {

// ---------------------------------------------------------------------------
// SQL text: identifiers quoted, values as placeholders.

struct Statement {
  std::string sql;
  std::vector<Json> params;
};

class Builder {
 public:
  explicit Builder(bool postgres) : postgres_(postgres) {}

  std::string Bind(const Json& value) {
    statement_.params.push_back(value);
    return postgres_ ? absl::StrCat("$", statement_.params.size()) : "?";
  }
  void Add(absl::string_view sql) { absl::StrAppend(&statement_.sql, sql); }

  void Where(const std::vector<Filter>& filters) {
    for (size_t i = 0; i < filters.size(); ++i) {
      Add(i == 0 ? " WHERE " : " AND ");
      Add(Condition(filters[i]));
    }
  }

  Statement Take() { return std::move(statement_); }

 private:
  std::string Condition(const Filter& f) {
    const std::string column = Quote(f.column);
    std::string c;
    switch (f.op) {
      case FilterOp::kEq: c = absl::StrCat(column, " = ", Bind(f.value)); break;
      case FilterOp::kNeq: c = absl::StrCat(column, " <> ", Bind(f.value)); break;
      case FilterOp::kGt: c = absl::StrCat(column, " > ", Bind(f.value)); break;
      case FilterOp::kGte: c = absl::StrCat(column, " >= ", Bind(f.value)); break;
      case FilterOp::kLt: c = absl::StrCat(column, " < ", Bind(f.value)); break;
      case FilterOp::kLte: c = absl::StrCat(column, " <= ", Bind(f.value)); break;
      case FilterOp::kLike: c = absl::StrCat(column, " LIKE ", Bind(f.value)); break;
      case FilterOp::kIlike:
        // SQLite's LIKE folds ASCII case by default, but a PRAGMA can turn
        // that off: lower() both sides.
        c = postgres_ ? absl::StrCat(column, " ILIKE ", Bind(f.value))
                      : absl::StrCat("lower(", column, ") LIKE lower(", Bind(f.value), ")");
        break;
      case FilterOp::kIn:
        if (f.value.empty()) {
          c = "1 = 0";  // IN () is a syntax error on Postgres
        } else {
          std::vector<std::string> placeholders;
          for (const auto& v : f.value) placeholders.push_back(Bind(v));
          c = absl::StrCat(column, " IN (", absl::StrJoin(placeholders, ", "), ")");
        }
        break;
      case FilterOp::kIs:
        c = absl::StrCat(column, f.value.is_null() ? " IS NULL" : f.value.get<bool>() ? " IS TRUE" : " IS FALSE");
        break;
    }
    return f.negate ? absl::StrCat("NOT (", c, ")") : c;
  }

  bool postgres_;
  Statement statement_;
};

Statement SelectStatement(const SelectQuery& q, bool postgres) {
  Builder b(postgres);
  std::vector<std::string> columns;
  for (const auto& c : q.columns) columns.push_back(Quote(c));
  b.Add(absl::StrCat("SELECT ", columns.empty() ? "*" : absl::StrJoin(columns, ", "), " FROM ", Quote(q.table)));
  b.Where(q.filters);
  for (size_t i = 0; i < q.order.size(); ++i) {
    b.Add(absl::StrCat(i == 0 ? " ORDER BY " : ", ", Quote(q.order[i].column),
                       q.order[i].ascending ? " ASC" : " DESC"));
  }
  // Validated integers: spliced.
  b.Add(absl::StrCat(" LIMIT ", q.limit, " OFFSET ", q.offset));
  return b.Take();
}

std::vector<Statement> InsertStatements(const InsertQuery& q, bool postgres) {
  std::vector<Statement> out;
  for (const Json& row : q.rows) {
    Builder b(postgres);
    b.Add(absl::StrCat("INSERT INTO ", Quote(q.table)));
    if (row.empty()) {
      b.Add(" DEFAULT VALUES");
    } else {
      std::vector<std::string> columns, values;
      for (auto it = row.begin(); it != row.end(); ++it) {
        columns.push_back(Quote(it.key()));
        values.push_back(b.Bind(it.value()));
      }
      b.Add(absl::StrCat(" (", absl::StrJoin(columns, ", "), ") VALUES (", absl::StrJoin(values, ", "), ")"));
    }
    if (!q.on_conflict.empty()) {
      std::vector<std::string> target, updates;
      for (const auto& c : q.on_conflict) target.push_back(Quote(c));
      for (auto it = row.begin(); it != row.end(); ++it) {
        if (std::find(q.on_conflict.begin(), q.on_conflict.end(), it.key()) != q.on_conflict.end()) continue;
        updates.push_back(absl::StrCat(Quote(it.key()), " = excluded.", Quote(it.key())));
      }
      b.Add(absl::StrCat(" ON CONFLICT (", absl::StrJoin(target, ", "), ")"));
      b.Add(updates.empty() || q.ignore_duplicates ? " DO NOTHING"
                                                   : absl::StrCat(" DO UPDATE SET ", absl::StrJoin(updates, ", ")));
    }
    b.Add(" RETURNING *");
    out.push_back(b.Take());
  }
  return out;
}

Statement UpdateStatement(const UpdateQuery& q, bool postgres) {
  Builder b(postgres);
  std::vector<std::string> sets;
  for (auto it = q.values.begin(); it != q.values.end(); ++it) {
    sets.push_back(absl::StrCat(Quote(it.key()), " = ", b.Bind(it.value())));
  }
  b.Add(absl::StrCat("UPDATE ", Quote(q.table), " SET ", absl::StrJoin(sets, ", ")));
  b.Where(q.filters);
  b.Add(" RETURNING *");
  return b.Take();
}

Statement DeleteStatement(const DeleteQuery& q, bool postgres) {
  Builder b(postgres);
  b.Add(absl::StrCat("DELETE FROM ", Quote(q.table)));
  b.Where(q.filters);
  b.Add(" RETURNING *");
  return b.Take();
}

absl::Status WithCode(absl::Status status, const std::string& code) {
  status.SetPayload(kDatabaseCodePayload, absl::Cord(code));
  return status;
}

absl::Status HoldsTaskerTables(const std::vector<std::string>& tables) {
  return absl::FailedPreconditionError(absl::StrCat(
      "app database: it holds Tasker's own tables (", absl::StrJoin(tables, ", "),
      "): the database provider must not serve Tasker's store; point --app_database_url at an application "
      "database"));
}

// Non-finite doubles have no JSON form: their text ("NaN", "Infinity").
Json Double(double d, absl::string_view text) {
  if (std::isfinite(d)) return d;
  return std::string(text);
}

// The shared part: queries become statements, run by the backend in one
// transaction each.
class SqlAppDatabase : public AppDatabase {
 public:
  absl::StatusOr<Json> Select(const SelectQuery& q, absl::Time deadline) override {
    return Run({SelectStatement(q, postgres())}, /*write=*/false, deadline, 0);
  }
  absl::StatusOr<Json> Insert(const InsertQuery& q, absl::Time deadline) override {
    return Run(InsertStatements(q, postgres()), /*write=*/true, deadline, q.max_rows);
  }
  absl::StatusOr<Json> Update(const UpdateQuery& q, absl::Time deadline) override {
    return Run({UpdateStatement(q, postgres())}, /*write=*/true, deadline, q.max_rows);
  }
  absl::StatusOr<Json> Delete(const DeleteQuery& q, absl::Time deadline) override {
    return Run({DeleteStatement(q, postgres())}, /*write=*/true, deadline, q.max_rows);
  }
  absl::StatusOr<Json> SelectCounted(const SelectQuery& q, absl::Time deadline, int64_t* total) override {
    Builder b(postgres());
    b.Add(absl::StrCat("SELECT count(*) AS \"count\" FROM ", Quote(q.table)));
    b.Where(q.filters);
    ASSIGN_OR_RETURN(Json rows, Run({b.Take(), SelectStatement(q, postgres())}, /*write=*/false, deadline, 0));
    if (rows.empty() || !rows[0]["count"].is_number_integer()) {
      return absl::InternalError("count(*) answered no integer");
    }
    *total = rows[0]["count"].get<int64_t>();
    rows.erase(rows.begin());
    return rows;
  }
  absl::StatusOr<std::vector<std::string>> PrimaryKey(const std::string& table, absl::Time deadline) override {
    Builder b(postgres());
    if (postgres()) {
      b.Add(absl::StrCat(
          "SELECT a.attname AS name FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a "
          "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indisprimary AND i.indrelid = to_regclass(",
          b.Bind(Json(Quote(table))), ") ORDER BY array_position(i.indkey::int2[], a.attnum)"));
    } else {
      b.Add(absl::StrCat("SELECT name FROM pragma_table_info(", b.Bind(Json(table)), ") WHERE pk > 0 ORDER BY pk"));
    }
    ASSIGN_OR_RETURN(Json rows, Run({b.Take()}, /*write=*/false, deadline, 0));
    std::vector<std::string> names;
    for (const auto& row : rows) names.push_back(row["name"].get<std::string>());
    return names;
  }

 protected:
  bool postgres() const { return backend() == "postgres"; }
  // Runs the statements in one transaction; the rows of all, in order. More
  // than `max_rows` (0: any number) rolls it back with OUT_OF_RANGE.
  virtual absl::StatusOr<Json> Run(const std::vector<Statement>& statements, bool write, absl::Time deadline,
                                   size_t max_rows) = 0;

  static absl::Status TooManyRows(size_t rows) {
    return WithCode(absl::OutOfRangeError(absl::StrCat("The result contains ", rows, " rows")), "PGRST116");
  }
};

// ---------------------------------------------------------------------------
// SQLite: one connection behind a mutex (SQLite runs one writer at a time
// anyway, and an in-memory database lives in its one connection).

std::string SqliteCodeName(int code) {
  switch (code) {
    case SQLITE_CONSTRAINT_UNIQUE: return "SQLITE_CONSTRAINT_UNIQUE";
    case SQLITE_CONSTRAINT_PRIMARYKEY: return "SQLITE_CONSTRAINT_PRIMARYKEY";
    case SQLITE_CONSTRAINT_NOTNULL: return "SQLITE_CONSTRAINT_NOTNULL";
    case SQLITE_CONSTRAINT_FOREIGNKEY: return "SQLITE_CONSTRAINT_FOREIGNKEY";
    case SQLITE_CONSTRAINT_CHECK: return "SQLITE_CONSTRAINT_CHECK";
    case SQLITE_CONSTRAINT_DATATYPE: return "SQLITE_CONSTRAINT_DATATYPE";
  }
  switch (code & 0xff) {
    case SQLITE_ERROR: return "SQLITE_ERROR";
    case SQLITE_BUSY: return "SQLITE_BUSY";
    case SQLITE_LOCKED: return "SQLITE_LOCKED";
    case SQLITE_READONLY: return "SQLITE_READONLY";
    case SQLITE_INTERRUPT: return "SQLITE_INTERRUPT";
    case SQLITE_IOERR: return "SQLITE_IOERR";
    case SQLITE_FULL: return "SQLITE_FULL";
    case SQLITE_CANTOPEN: return "SQLITE_CANTOPEN";
    case SQLITE_CONSTRAINT: return "SQLITE_CONSTRAINT";
    case SQLITE_MISMATCH: return "SQLITE_MISMATCH";
    case SQLITE_TOOBIG: return "SQLITE_TOOBIG";
    case SQLITE_RANGE: return "SQLITE_RANGE";
  }
  return absl::StrCat("SQLITE_", code);
}

absl::Status SqliteError(sqlite3* db, int rc) {
  const int code = db ? sqlite3_extended_errcode(db) : rc;
  const std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  absl::Status status;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: status = absl::AbortedError(message); break;
    case SQLITE_INTERRUPT: status = absl::DeadlineExceededError("the call's deadline passed (interrupted)"); break;
    case SQLITE_CONSTRAINT: status = absl::FailedPreconditionError(message); break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
    case SQLITE_NOMEM: status = absl::UnavailableError(message); break;
    default: status = absl::InternalError(message);
  }
  return WithCode(status, SqliteCodeName(code));
}

bool DeclaredAs(const char* decltype_text, std::initializer_list<const char*> names) {
  if (decltype_text == nullptr) return false;
  const std::string upper = absl::AsciiStrToUpper(decltype_text);
  for (const char* n : names) {
    if (upper == n) return true;
  }
  return false;
}

class SqliteAppDatabase : public SqlAppDatabase {
 public:
  ~SqliteAppDatabase() override {
    if (db_) sqlite3_close_v2(db_);
  }

  static absl::StatusOr<std::unique_ptr<AppDatabase>> Open(const std::string& path,
                                                           const AppDatabaseOptions& options) {
    auto out = std::unique_ptr<SqliteAppDatabase>(new SqliteAppDatabase());
    out->busy_timeout_ = options.sqlite_busy_timeout;
    const int rc = sqlite3_open_v2(path.c_str(), &out->db_,
                                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      return absl::UnavailableError(absl::StrCat("app database: cannot open sqlite database '", path, "': ",
                                                 out->db_ ? sqlite3_errmsg(out->db_) : "out of memory"));
    }
    sqlite3_extended_result_codes(out->db_, 1);
    // Without this, SQLite reads a double-quoted name that is no column as a
    // string literal: "nme" = ? would compare text instead of failing.
    sqlite3_db_config(out->db_, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
    sqlite3_db_config(out->db_, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
    // Task code names tables and columns only: no attaching other files.
    sqlite3_limit(out->db_, SQLITE_LIMIT_ATTACHED, 0);
    char* error = nullptr;
    if (sqlite3_exec(out->db_, "PRAGMA foreign_keys=ON", nullptr, nullptr, &error) != SQLITE_OK) {
      std::string message = error ? error : "unknown error";
      sqlite3_free(error);
      return absl::UnavailableError(absl::StrCat("app database: ", message));
    }
    std::vector<std::string> tasker_tables;
    {
      Builder b(false);
      std::vector<std::string> names;
      for (const char* t : kTaskerTables) names.push_back(b.Bind(Json(t)));
      b.Add(absl::StrCat("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') AND lower(name) IN (",
                         absl::StrJoin(names, ", "), ") ORDER BY name"));
      auto rows = out->Run({b.Take()}, false, absl::Now() + absl::Seconds(30), 0);
      if (!rows.ok()) return Annotate(rows.status(), "app database: reading its schema");
      for (const auto& row : *rows) tasker_tables.push_back(row["name"]);
    }
    if (!tasker_tables.empty()) return HoldsTaskerTables(tasker_tables);
    return std::unique_ptr<AppDatabase>(std::move(out));
  }

  std::string backend() const override { return "sqlite"; }

 protected:
  absl::StatusOr<Json> Run(const std::vector<Statement>& statements, bool write, absl::Time deadline,
                           size_t max_rows) override {
    std::unique_lock<std::timed_mutex> lock(mu_, std::defer_lock);
    if (!lock.try_lock_for(absl::ToChronoNanoseconds(std::max(deadline - absl::Now(), absl::ZeroDuration())))) {
      return WithCode(absl::DeadlineExceededError("the call's deadline passed waiting for the database"),
                      "SQLITE_BUSY");
    }
    // Long statements stop at the deadline (SQLITE_INTERRUPT), and waits for
    // another process's lock end by it too.
    sqlite3_progress_handler(
        db_, 1000, [](void* d) -> int { return absl::Now() > *static_cast<absl::Time*>(d) ? 1 : 0; }, &deadline);
    const absl::Duration busy = std::min(busy_timeout_, std::max(deadline - absl::Now(), absl::Milliseconds(1)));
    sqlite3_busy_timeout(db_, static_cast<int>(absl::ToInt64Milliseconds(busy)));
    absl::StatusOr<Json> rows = Transact(statements, write, max_rows);
    sqlite3_progress_handler(db_, 0, nullptr, nullptr);
    return rows;
  }

 private:
  SqliteAppDatabase() = default;

  absl::StatusOr<Json> Transact(const std::vector<Statement>& statements, bool write, size_t max_rows) {
    const bool transaction = write || statements.size() > 1;
    if (transaction) RETURN_IF_ERROR(Exec(write ? "BEGIN IMMEDIATE" : "BEGIN"));
    Json rows = Json::array();
    for (const auto& statement : statements) {
      absl::Status status = Step(statement, &rows);
      if (!status.ok()) {
        if (transaction) Exec("ROLLBACK").IgnoreError();
        return status;
      }
    }
    if (max_rows > 0 && rows.size() > max_rows) {
      if (transaction) Exec("ROLLBACK").IgnoreError();
      return TooManyRows(rows.size());
    }
    if (transaction) {
      absl::Status status = Exec("COMMIT");
      if (!status.ok()) {
        Exec("ROLLBACK").IgnoreError();
        return status;
      }
    }
    return rows;
  }

  absl::Status Exec(const char* sql) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? absl::OkStatus() : SqliteError(db_, rc);
  }

  absl::Status Step(const Statement& statement, Json* rows) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, statement.sql.c_str(), static_cast<int>(statement.sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc);
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> owned(stmt, sqlite3_finalize);
    std::vector<std::string> texts;  // bound with SQLITE_TRANSIENT: copied
    for (size_t i = 0; i < statement.params.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      const Json& p = statement.params[i];
      if (p.is_null()) {
        rc = sqlite3_bind_null(stmt, index);
      } else if (p.is_boolean()) {
        rc = sqlite3_bind_int64(stmt, index, p.get<bool>() ? 1 : 0);
      } else if (p.is_number_integer()) {
        // Unsigned values beyond int64 were refused with the args.
        rc = sqlite3_bind_int64(stmt, index, p.is_number_unsigned() ? static_cast<int64_t>(p.get<uint64_t>())
                                                                    : p.get<int64_t>());
      } else if (p.is_number_float()) {
        rc = sqlite3_bind_double(stmt, index, p.get<double>());
      } else {
        const std::string text = p.is_string() ? p.get<std::string>() : p.dump();
        rc = sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      }
      if (rc != SQLITE_OK) return SqliteError(db_, rc);
    }
    const int n = sqlite3_column_count(stmt);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      Json row = Json::object();
      for (int c = 0; c < n; ++c) row[sqlite3_column_name(stmt, c)] = Cell(stmt, c);
      rows->push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) return SqliteError(db_, rc);
    return absl::OkStatus();
  }

  static Json Cell(sqlite3_stmt* stmt, int c) {
    const char* declared = sqlite3_column_decltype(stmt, c);
    switch (sqlite3_column_type(stmt, c)) {
      case SQLITE_NULL:
        return nullptr;
      case SQLITE_INTEGER: {
        const int64_t v = sqlite3_column_int64(stmt, c);
        if ((v == 0 || v == 1) && DeclaredAs(declared, {"BOOLEAN", "BOOL"})) return v == 1;
        return v;
      }
      case SQLITE_FLOAT: {
        const double d = sqlite3_column_double(stmt, c);
        return Double(d, d > 0 ? "Infinity" : "-Infinity");
      }
      case SQLITE_BLOB: {
        const void* data = sqlite3_column_blob(stmt, c);
        const int size = sqlite3_column_bytes(stmt, c);
        return absl::Base64Escape(absl::string_view(static_cast<const char*>(data), size));
      }
      default: {
        const char* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
        std::string text(data ? data : "", sqlite3_column_bytes(stmt, c));
        if (DeclaredAs(declared, {"JSON", "JSONB"})) {
          Json parsed = Json::parse(text, nullptr, false);
          if (!parsed.is_discarded()) return parsed;
        }
        return text;
      }
    }
  }

  std::timed_mutex mu_;
  sqlite3* db_ = nullptr;
  absl::Duration busy_timeout_;
};

// ---------------------------------------------------------------------------
// Postgres: a small pool of connections, each checked for Tasker's tables
// when it connects.

constexpr unsigned kBoolOid = 16;
constexpr unsigned kByteaOid = 17;
constexpr unsigned kInt8Oid = 20;
constexpr unsigned kInt2Oid = 21;
constexpr unsigned kInt4Oid = 23;
constexpr unsigned kOidOid = 26;
constexpr unsigned kJsonOid = 114;
constexpr unsigned kFloat4Oid = 700;
constexpr unsigned kFloat8Oid = 701;
constexpr unsigned kNumericOid = 1700;
constexpr unsigned kJsonbOid = 3802;

// The server's message without its "ERROR:  " prefix and the LINE/caret
// lines that quote our SQL.
std::string PgMessage(const std::exception& e) {
  std::string text = e.what();
  if (const size_t nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  absl::string_view view(text);
  absl::ConsumePrefix(&view, "ERROR:  ");
  absl::ConsumePrefix(&view, "FATAL:  ");
  return std::string(absl::StripAsciiWhitespace(view));
}

absl::Status FromPgException(const std::exception& e, bool* broken) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) || dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    *broken = true;
    return WithCode(absl::UnavailableError(absl::StrCat("connection lost: ", PgMessage(e))), "08006");
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state = sql->sqlstate();
    const std::string message = PgMessage(e);
    absl::Status status;
    if (state == "57014") {
      status = absl::DeadlineExceededError(absl::StrCat("the call's deadline passed: ", message));
    } else if (absl::StartsWith(state, "40")) {
      status = absl::AbortedError(message);
    } else if (absl::StartsWith(state, "23")) {
      status = absl::FailedPreconditionError(message);
    } else if (absl::StartsWith(state, "08") || absl::StartsWith(state, "57") || absl::StartsWith(state, "53")) {
      *broken = absl::StartsWith(state, "08") || absl::StartsWith(state, "57");
      status = absl::UnavailableError(message);
    } else {
      status = absl::InternalError(message);
    }
    return WithCode(status, state.empty() ? "XX000" : state);
  }
  return WithCode(absl::InternalError(PgMessage(e)), "XX000");
}

class PostgresAppDatabase : public SqlAppDatabase {
 public:
  static absl::StatusOr<std::unique_ptr<AppDatabase>> Open(const std::string& url,
                                                           const AppDatabaseOptions& options) {
    auto out = std::unique_ptr<PostgresAppDatabase>(new PostgresAppDatabase());
    out->url_ = url;
    // A host that drops packets would otherwise hold a call past any deadline.
    if (!absl::StrContains(url, "connect_timeout=")) {
      absl::StrAppend(&out->url_, absl::StrContains(url, "?") ? "&" : "?", "connect_timeout=10");
    }
    out->max_open_ = std::max(1, options.postgres_pool_size);
    // Connects (and checks the schema) now, so a wrong URL fails at start-up.
    auto conn = out->Acquire(absl::Now() + absl::Seconds(30));
    if (!conn.ok()) {
      if (conn.status().code() == absl::StatusCode::kFailedPrecondition) return conn.status();
      return absl::UnavailableError(absl::StrCat("app database: cannot connect to postgres: ",
                                                 conn.status().message()));
    }
    out->Release(std::move(*conn), false);
    return std::unique_ptr<AppDatabase>(std::move(out));
  }

  std::string backend() const override { return "postgres"; }

 protected:
  absl::StatusOr<Json> Run(const std::vector<Statement>& statements, bool write, absl::Time deadline,
                           size_t max_rows) override {
    ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> conn, Acquire(deadline));
    auto at_most = [max_rows](absl::StatusOr<Json> rows) -> absl::StatusOr<Json> {
      if (rows.ok() && max_rows > 0 && rows->size() > max_rows) return TooManyRows(rows->size());
      return rows;
    };
    bool broken = false;
    absl::StatusOr<Json> rows;
    try {
      if (write) {
        pqxx::work work(*conn);
        rows = at_most(Execute(work, statements, deadline));
        if (rows.ok()) work.commit();
      } else {
        // A select cannot write, even through a function the table's
        // defaults or views call.
        pqxx::read_transaction work(*conn);
        rows = Execute(work, statements, deadline);
        if (rows.ok()) work.commit();
      }
    } catch (const std::exception& e) {
      rows = FromPgException(e, &broken);
    }
    if (broken) LogWarning("app database connection lost", {{"error", std::string(rows.status().message())}});
    Release(std::move(conn), broken);
    return rows;
  }

 private:
  PostgresAppDatabase() = default;

  absl::StatusOr<Json> Execute(pqxx::transaction_base& work, const std::vector<Statement>& statements,
                               absl::Time deadline) {
    const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - absl::Now()));
    work.exec0(absl::StrCat("SET LOCAL statement_timeout = ", ms));
    Json rows = Json::array();
    for (const auto& statement : statements) {
      std::vector<std::string> texts(statement.params.size());
      std::vector<const char*> values(statement.params.size(), nullptr);
      for (size_t i = 0; i < statement.params.size(); ++i) {
        const Json& p = statement.params[i];
        if (p.is_null()) continue;
        // Untyped text parameters: the server infers each one's type from
        // where it stands ("col = $1"), as it would for a literal.
        texts[i] = p.is_string() ? p.get<std::string>() : p.is_boolean() ? (p.get<bool>() ? "true" : "false")
                                                                           : p.dump();
        values[i] = texts[i].c_str();
      }
      const pqxx::result result = work.exec_params(statement.sql, pqxx::prepare::make_dynamic_params(values));
      const auto columns = result.columns();
      for (const auto& r : result) {
        Json row = Json::object();
        for (pqxx::row::size_type c = 0; c < columns; ++c) {
          row[result.column_name(c)] = Cell(r[c], result.column_type(c));
        }
        rows.push_back(std::move(row));
      }
    }
    return rows;
  }

  static Json Cell(const pqxx::field& field, unsigned type) {
    if (field.is_null()) return nullptr;
    const std::string text(field.c_str(), field.size());
    switch (type) {
      case kBoolOid:
        return text == "t";
      case kInt2Oid:
      case kInt4Oid:
      case kInt8Oid:
      case kOidOid: {
        int64_t v = 0;
        if (absl::SimpleAtoi(text, &v)) return v;
        return text;
      }
      case kFloat4Oid:
      case kFloat8Oid:
      case kNumericOid: {
        int64_t i = 0;
        if (type == kNumericOid && absl::SimpleAtoi(text, &i)) return i;
        double d = 0;
        if (absl::SimpleAtod(text, &d)) return Double(d, text);
        return text;
      }
      case kJsonOid:
      case kJsonbOid: {
        Json parsed = Json::parse(text, nullptr, false);
        if (!parsed.is_discarded()) return parsed;
        return text;
      }
      case kByteaOid:
        return absl::Base64Escape(pqxx::binarystring(field).str());
      default:
        return text;
    }
  }

  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire(absl::Time deadline) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (idle_.empty() && open_ >= max_open_) {
        if (cv_.wait_until(lock, absl::ToChronoTime(deadline)) == std::cv_status::timeout &&
            idle_.empty() && open_ >= max_open_) {
          return WithCode(absl::DeadlineExceededError("the call's deadline passed waiting for a connection"),
                          "57014");
        }
      }
      if (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
      }
      ++open_;
    }
    auto conn = Connect();
    if (!conn.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      --open_;
      cv_.notify_one();
    }
    return conn;
  }

  void Release(std::unique_ptr<pqxx::connection> conn, bool broken) {
    std::lock_guard<std::mutex> lock(mu_);
    if (broken || !conn->is_open()) {
      --open_;
    } else {
      idle_.push_back(std::move(conn));
    }
    cv_.notify_one();
  }

  // A new connection, refused when the database (as its search path shows
  // it) holds Tasker's tables: checked on every connection, so a database
  // that became Tasker's store after start-up is refused too.
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect() {
    std::unique_ptr<pqxx::connection> conn;
    std::vector<std::string> tasker_tables;
    try {
      conn = std::make_unique<pqxx::connection>(url_);
      pqxx::read_transaction work(*conn);
      Builder b(true);
      std::vector<std::string> names;
      for (const char* t : kTaskerTables) names.push_back(b.Bind(Json(t)));
      b.Add(absl::StrCat("SELECT c.relname FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
                         "AND pg_catalog.pg_table_is_visible(c.oid) AND lower(c.relname) IN (",
                         absl::StrJoin(names, ", "), ") ORDER BY 1"));
      Statement statement = b.Take();
      std::vector<const char*> values;
      std::vector<std::string> texts;
      for (const auto& p : statement.params) texts.push_back(p.get<std::string>());
      for (const auto& t : texts) values.push_back(t.c_str());
      const pqxx::result result = work.exec_params(statement.sql, pqxx::prepare::make_dynamic_params(values));
      for (const auto& row : result) tasker_tables.push_back(row[0].c_str());
      work.commit();
    } catch (const std::exception& e) {
      bool broken = true;
      return FromPgException(e, &broken);
    }
    if (!tasker_tables.empty()) return HoldsTaskerTables(tasker_tables);
    return conn;
  }

  std::string url_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  int open_ = 0;
  int max_open_ = 4;
};

// ---------------------------------------------------------------------------

class DatabaseProvider : public Provider {
 public:
  explicit DatabaseProvider(AppDatabase* db) : db_(db) {}
  std::string name() const override { return "database"; }
  std::string description() const override {
    return "Tables of the operator's application database (--app_database_url): select, insert, update, delete, "
           "upsert, and the supabase-js-style chain";
  }
  std::vector<std::string> methods() const override {
    return {"select", "insert", "update", "delete", "upsert", "chain"};
  }

  absl::StatusOr<CallOutcome> Call(const CallContext& context, const std::string& method,
                                   const Json& raw_args) override {
    if (db_ == nullptr) {
      return CallOutcome::Error("NOT_CONFIGURED", "database: no application database configured (--app_database_url)",
                                false);
    }
    if (method == "chain") return Chain(context, raw_args);
    ASSIGN_OR_RETURN(const Json args, NormalizeArgs(raw_args));
    const absl::Time deadline = absl::Now() + context.timeout;
    absl::StatusOr<Json> rows;
    if (method == "select") {
      ASSIGN_OR_RETURN(const SelectQuery query, ParseSelect(args));
      rows = db_->Select(query, deadline);
    } else if (method == "insert") {
      ASSIGN_OR_RETURN(const InsertQuery query, ParseInsert(args));
      rows = db_->Insert(query, deadline);
    } else if (method == "upsert") {
      ASSIGN_OR_RETURN(const InsertQuery query, ParseUpsert(args));
      rows = db_->Insert(query, deadline);
    } else if (method == "update") {
      ASSIGN_OR_RETURN(const UpdateQuery query, ParseUpdate(args));
      rows = db_->Update(query, deadline);
    } else if (method == "delete") {
      ASSIGN_OR_RETURN(const DeleteQuery query, ParseDelete(args));
      rows = db_->Delete(query, deadline);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("method: database has no method '", method,
                                                     "'; supported: ", absl::StrJoin(methods(), ", ")));
    }
    if (!rows.ok()) return FromDatabase(rows.status());
    const size_t count = rows->size();
    return CallOutcome::Ok(Json{{"rows", std::move(*rows)}, {"count", count}});
  }

 private:
  using Op = ChainQuery::Operation;

  // A supabase-js answer: {data, error, count, status, statusText}.
  static Json Answer(Json data, Json error, Json count, int status, const char* status_text) {
    return Json{{"data", std::move(data)},
                {"error", std::move(error)},
                {"count", std::move(count)},
                {"status", status},
                {"statusText", status_text}};
  }

  static Json NotSingle(size_t rows) {
    return Answer(nullptr,
                  Json{{"code", "PGRST116"},
                       {"details", absl::StrCat("The result contains ", rows, " rows")},
                       {"hint", nullptr},
                       {"message", "JSON object requested, multiple (or no) rows returned"}},
                  nullptr, 406, "Not Acceptable");
  }

  absl::StatusOr<CallOutcome> Chain(const CallContext& context, const Json& raw_args) {
    ASSIGN_OR_RETURN(ChainQuery q, ParseChain(raw_args));
    // The grant names what the chain does: a chain that deletes needs
    // database:delete.
    if (context.grants == nullptr) return Denied(context, absl::PermissionDeniedError("no grants on the call"));
    if (absl::Status allowed = context.grants->CheckCall("database", OperationName(q.operation)); !allowed.ok()) {
      return Denied(context, allowed);
    }
    const absl::Time deadline = absl::Now() + context.timeout;
    absl::StatusOr<Json> rows;
    int64_t total = 0;
    switch (q.operation) {
      case Op::kSelect:
        rows = q.count ? db_->SelectCounted(q.select, deadline, &total) : db_->Select(q.select, deadline);
        break;
      case Op::kUpsert:
        if (q.insert.on_conflict.empty()) {
          // As PostgREST: the primary key is the conflict target.
          auto key = db_->PrimaryKey(q.insert.table, deadline);
          if (!key.ok()) return FromDatabase(key.status());
          if (key->empty()) {
            return absl::InvalidArgumentError(absl::StrCat(q.on_conflict_field, ": required: table '", q.insert.table,
                                                           "' has no primary key (or does not exist)"));
          }
          for (size_t r = 0; r < q.insert.rows.size(); ++r) {
            for (const auto& column : *key) {
              if (!q.insert.rows[r].contains(column)) {
                return absl::InvalidArgumentError(absl::StrCat(
                    q.on_conflict_field, ": required: row ", r, " has no '", column,
                    "', the primary key the upsert defaults to"));
              }
            }
          }
          q.insert.on_conflict = *std::move(key);
        }
        rows = db_->Insert(q.insert, deadline);
        break;
      case Op::kInsert:
        rows = db_->Insert(q.insert, deadline);
        break;
      case Op::kUpdate:
        rows = db_->Update(q.update, deadline);
        break;
      case Op::kDelete:
        rows = db_->Delete(q.remove, deadline);
        break;
    }
    if (!rows.ok()) {
      const absl::Status& status = rows.status();
      if (status.code() == absl::StatusCode::kOutOfRange) {
        // single() after a write that touched several rows: rolled back.
        if (q.throw_on_error) return FromDatabase(status);
        Json answer = NotSingle(0);
        answer["error"]["details"] = std::string(status.message());
        return CallOutcome::Ok(std::move(answer));
      }
      const bool retryable = status.code() == absl::StatusCode::kUnavailable ||
                             status.code() == absl::StatusCode::kDeadlineExceeded ||
                             status.code() == absl::StatusCode::kAborted;
      if (retryable || q.throw_on_error) return FromDatabase(status);
      // What supabase-js gives for a failed query: the error in the answer,
      // for the task to check (`if (error) ...`).
      auto code = status.GetPayload(kDatabaseCodePayload);
      const std::string code_text = code ? std::string(*code) : "";
      const bool conflict = status.code() == absl::StatusCode::kFailedPrecondition;
      const bool missing = code_text == "42P01" || absl::StrContains(status.message(), "no such table");
      return CallOutcome::Ok(Answer(nullptr,
                                    Json{{"code", code_text},
                                         {"details", nullptr},
                                         {"hint", nullptr},
                                         {"message", std::string(status.message())}},
                                    nullptr, conflict ? 409 : missing ? 404 : 400,
                                    conflict ? "Conflict" : missing ? "Not Found" : "Bad Request"));
    }
    Json data = *std::move(rows);
    const size_t affected = data.size();
    Json count = nullptr;
    if (q.count) count = q.operation == Op::kSelect ? total : static_cast<int64_t>(affected);
    int status = 200;
    const char* status_text = "OK";
    if (q.operation == Op::kSelect) {
      if (q.head) data = nullptr;
    } else if (!q.returning) {
      data = nullptr;
    } else if (!q.returning_columns.empty()) {
      Json projected = Json::array();
      for (const auto& row : data) {
        Json out = Json::object();
        for (const auto& column : q.returning_columns) {
          if (!row.contains(column)) {
            return CallOutcome::Ok(Answer(nullptr,
                                          Json{{"code", "42703"},
                                               {"details", nullptr},
                                               {"hint", nullptr},
                                               {"message", absl::StrCat("column \"", column, "\" does not exist")}},
                                          nullptr, 400, "Bad Request"));
          }
          out[column] = row[column];
        }
        projected.push_back(std::move(out));
      }
      data = std::move(projected);
    }
    if (q.operation == Op::kInsert || q.operation == Op::kUpsert) {
      status = 201;
      status_text = "Created";
    } else if (q.operation != Op::kSelect && !q.returning) {
      status = 204;
      status_text = "No Content";
    }
    if (q.shape != ChainQuery::Shape::kMany && data.is_array()) {
      if (data.size() == 1) {
        data = data[0];
      } else if (data.empty() && q.shape == ChainQuery::Shape::kMaybeSingle) {
        data = nullptr;
      } else {
        if (q.throw_on_error) {
          return CallOutcome::Error("DATABASE_ERROR", "database: JSON object requested, multiple (or no) rows returned",
                                    false, Json{{"backend", db_->backend()}, {"code", "PGRST116"}});
        }
        return CallOutcome::Ok(NotSingle(data.size()));
      }
    }
    return CallOutcome::Ok(Answer(std::move(data), nullptr, std::move(count), status, status_text));
  }

  CallOutcome FromDatabase(const absl::Status& status) const {
    Json details = {{"backend", db_->backend()}};
    if (auto code = status.GetPayload(kDatabaseCodePayload)) details["code"] = std::string(*code);
    const std::string message = absl::StrCat("database: ", status.message());
    switch (status.code()) {
      case absl::StatusCode::kUnavailable:
        return CallOutcome::Error("DATABASE_UNAVAILABLE", message, true, details);
      case absl::StatusCode::kDeadlineExceeded:
        return CallOutcome::Error("TIMEOUT", message, true, details);
      case absl::StatusCode::kAborted:
        return CallOutcome::Error("DATABASE_BUSY", message, true, details);
      default:
        return CallOutcome::Error("DATABASE_ERROR", message, false, details);
    }
  }

  AppDatabase* db_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AppDatabase>> AppDatabase::Open(const std::string& url,
                                                               const AppDatabaseOptions& options) {
  if (url == "sqlite::memory:") return SqliteAppDatabase::Open(":memory:", options);
  if (absl::StartsWith(url, "sqlite:")) {
    absl::string_view path(url);
    if (!absl::ConsumePrefix(&path, "sqlite://") || path.empty() || path[0] != '/' ||
        absl::StrContains(path, "?")) {
      return absl::InvalidArgumentError(
          "--app_database_url: sqlite URLs are sqlite:///absolute/path.db or sqlite::memory:");
    }
    return SqliteAppDatabase::Open(std::string(path), options);
  }
  if (absl::StartsWith(url, "postgres://") || absl::StartsWith(url, "postgresql://")) {
    return PostgresAppDatabase::Open(url, options);
  }
  return absl::InvalidArgumentError(
      "--app_database_url: must start with sqlite:/// (or be sqlite::memory:), postgres:// or postgresql://");
}

std::unique_ptr<Provider> NewDatabaseProvider(AppDatabase* db) { return std::make_unique<DatabaseProvider>(db); }

}  // namespace tasker::proxy
