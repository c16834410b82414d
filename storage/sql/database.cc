#include "storage/sql/database.h"

#include "absl/strings/numbers.h"

namespace tasker::storage::sql {

bool Row::IsNull(size_t i) const {
  return i >= cells_.size() || std::holds_alternative<std::monostate>(cells_[i]);
}

int64_t Row::Int(size_t i) const {
  if (i >= cells_.size()) return 0;
  if (const auto* v = std::get_if<int64_t>(&cells_[i])) return *v;
  if (const auto* s = std::get_if<std::string>(&cells_[i])) {
    int64_t value = 0;
    if (absl::SimpleAtoi(*s, &value)) return value;
  }
  return 0;
}

std::string Row::Str(size_t i) const {
  if (i >= cells_.size()) return "";
  if (const auto* s = std::get_if<std::string>(&cells_[i])) return *s;
  if (const auto* v = std::get_if<int64_t>(&cells_[i])) return std::to_string(*v);
  return "";
}

}  // namespace tasker::storage::sql
