#include "services/cli/output.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tasker::cli {

bool IsTerminal(FILE* stream) { return isatty(fileno(stream)) == 1; }

Style::Style(const std::string& color_setting, FILE* stream) {
  if (color_setting == "always") {
    color_ = true;
  } else if (color_setting == "never") {
    color_ = false;
  } else {
    const char* no_color = std::getenv("NO_COLOR");
    const char* term = std::getenv("TERM");
    color_ = IsTerminal(stream) && (!no_color || !*no_color) && !(term && std::string(term) == "dumb");
  }
}

std::string Style::Wrap(const char* code, const std::string& s) const {
  if (!color_ || s.empty()) return s;
  return absl::StrCat("\033[", code, "m", s, "\033[0m");
}

std::string Style::Status(const std::string& status) const {
  if (status == "COMPLETED") return Green(status);
  if (status == "FAILED") return Red(status);
  if (status == "CANCELLED") return Yellow(status);
  if (status == "RUNNING") return Cyan(status);
  return status;
}

size_t VisibleWidth(const std::string& s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = s[i];
    if (c == 0x1b && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && !(s[i] >= '@' && s[i] <= '~')) ++i;
      continue;
    }
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string Table::Render(const Style& style) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (row.size() > widths.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], VisibleWidth(row[i]));
  }
  std::string out;
  for (size_t r = 0; r < rows_.size(); ++r) {
    const auto& row = rows_[r];
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const std::string cell = r == 0 ? style.Bold(row[i]) : row[i];
      line += cell;
      if (i + 1 < row.size()) line += std::string(widths[i] - VisibleWidth(row[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string HumanDuration(absl::Duration d) {
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  const int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms < 1000) return absl::StrCat(ms, "ms");
  if (ms < 60 * 1000) return absl::StrFormat("%.1fs", ms / 1000.0);
  const int64_t s = ms / 1000;
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  if (s < 86400) return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
  return absl::StrFormat("%dd%02dh", s / 86400, (s % 86400) / 3600);
}

std::string LocalTime(absl::Time t) {
  if (t == absl::UnixEpoch() || t == absl::InfinitePast()) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", t, absl::LocalTimeZone());
}

std::string RelativeTime(absl::Time t, absl::Time now) {
  if (t == absl::UnixEpoch() || t == absl::InfinitePast()) return "-";
  absl::Duration d = now - t;
  const bool future = d < absl::ZeroDuration();
  if (future) d = -d;
  const int64_t s = absl::ToInt64Seconds(d);
  std::string amount;
  if (s < 1) return "just now";
  if (s < 60) {
    amount = absl::StrCat(s, "s");
  } else if (s < 3600) {
    amount = absl::StrCat(s / 60, "m");
  } else if (s < 86400) {
    amount = absl::StrCat(s / 3600, "h");
  } else if (s < 7 * 86400) {
    amount = absl::StrCat(s / 86400, "d");
  } else {
    return absl::FormatTime("%Y-%m-%d", t, absl::LocalTimeZone());
  }
  return future ? absl::StrCat("in ", amount) : absl::StrCat(amount, " ago");
}

std::string ShortEnum(const std::string& name, const std::string& prefix) {
  return absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
}

std::string Ellipsize(const std::string& s, size_t max) {
  if (VisibleWidth(s) <= max) return s;
  std::string out;
  size_t width = 0;
  bool escapes = false;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = s[i];
    if (c == 0x1b && i + 1 < s.size() && s[i + 1] == '[') {
      // Colour codes take no room: copied whole.
      size_t end = i + 2;
      while (end < s.size() && !(s[end] >= '@' && s[end] <= '~')) ++end;
      out += s.substr(i, end + 1 - i);
      i = end;
      escapes = true;
      continue;
    }
    if ((c & 0xC0) != 0x80) {
      if (width + 1 >= max) break;
      ++width;
    }
    out += s[i];
  }
  return absl::StrCat(out, "…", escapes ? "\033[0m" : "");
}

namespace {

bool PlainSafe(const std::string& s) {
  if (s.empty()) return false;
  const std::string lower = absl::AsciiStrToLower(s);
  // YAML 1.1 readers (PyYAML) take these as booleans or null.
  for (const char* word : {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}) {
    if (lower == word) return false;
  }
  const char first = s[0];
  if (!(absl::ascii_isalpha(first) || first == '_' || first == '/')) return false;
  for (char c : s) {
    if (!(absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '/' || c == '-' || c == '@')) return false;
  }
  return true;
}

std::string Scalar(const nlohmann::json& v) {
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    return PlainSafe(s) ? s : nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (v.is_object()) return "{}";
  if (v.is_array()) return "[]";
  return v.dump();
}

bool Nested(const nlohmann::json& v) { return (v.is_object() || v.is_array()) && !v.empty(); }

void Emit(const nlohmann::json& v, int indent, std::string* out) {
  const std::string pad(indent, ' ');
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) {
      const std::string k = Scalar(nlohmann::json(key));
      if (Nested(value)) {
        absl::StrAppend(out, pad, k, ":\n");
        Emit(value, indent + 2, out);
      } else {
        absl::StrAppend(out, pad, k, ": ", Scalar(value), "\n");
      }
    }
    return;
  }
  for (const auto& item : v) {
    if (!Nested(item)) {
      absl::StrAppend(out, pad, "- ", Scalar(item), "\n");
      continue;
    }
    // The item's first line takes the dash: "- key: value".
    std::string nested;
    Emit(item, indent + 2, &nested);
    absl::StrAppend(out, pad, "- ", nested.substr(indent + 2));
  }
}

}  // namespace

std::string ToYaml(const nlohmann::json& value) {
  if (!Nested(value)) return Scalar(value) + "\n";
  std::string out;
  Emit(value, 0, &out);
  return out;
}

ProgressLine::ProgressLine(FILE* stream) : stream_(stream) {
  const char* term = std::getenv("TERM");
  active_ = IsTerminal(stream) && !(term && std::string(term) == "dumb");
}

void ProgressLine::Draw(const std::string& text) {
  if (!active_) return;
  size_t columns = 80;
  struct winsize ws;
  if (ioctl(fileno(stream_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) columns = ws.ws_col;
  const std::string line = Ellipsize(text, columns > 1 ? columns - 1 : columns);
  std::fputs(absl::StrCat("\r\033[K", line).c_str(), stream_);
  std::fflush(stream_);
  drawn_ = true;
}

void ProgressLine::Clear() {
  if (!active_ || !drawn_) return;
  std::fputs("\r\033[K", stream_);
  std::fflush(stream_);
  drawn_ = false;
}

}  // namespace tasker::cli
