// How the tasker CLI prints: aligned tables, relative times and durations,
// colours only on a terminal (never with NO_COLOR), YAML for scripts, and a
// progress line redrawn in place on a terminal.
#ifndef TASKER_SERVICES_CLI_OUTPUT_H_
#define TASKER_SERVICES_CLI_OUTPUT_H_

#include <cstdio>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace tasker::cli {

// Colours for one stream: on when asked ("always"), or when "auto" and the
// stream is a terminal, NO_COLOR is unset or empty and TERM is not "dumb".
class Style {
 public:
  Style() = default;
  Style(const std::string& color_setting, FILE* stream);
  bool color() const { return color_; }
  std::string Bold(const std::string& s) const { return Wrap("1", s); }
  std::string Dim(const std::string& s) const { return Wrap("2", s); }
  std::string Red(const std::string& s) const { return Wrap("31", s); }
  std::string Green(const std::string& s) const { return Wrap("32", s); }
  std::string Yellow(const std::string& s) const { return Wrap("33", s); }
  std::string Cyan(const std::string& s) const { return Wrap("36", s); }
  // A status word ("COMPLETED", "FAILED", ...) in its colour.
  std::string Status(const std::string& status) const;

 private:
  std::string Wrap(const char* code, const std::string& s) const;
  bool color_ = false;
};

// Whether the stream is a terminal.
bool IsTerminal(FILE* stream);

// Columns aligned by their visible width (colour codes and UTF-8 counted
// right); two spaces between columns; the last column not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  size_t size() const { return rows_.size() - 1; }
  std::string Render(const Style& style) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Visible width of `s`: UTF-8 code points, ANSI escapes not counted.
size_t VisibleWidth(const std::string& s);

// "just now", "3s ago", "5m ago", "2h ago", "3d ago"; past a week, the date.
// "in 5s" for a time ahead of `now`. "-" for an unset time.
std::string RelativeTime(absl::Time t, absl::Time now);
// "850ms", "4.2s", "3m04s", "1h02m", "2d03h".
std::string HumanDuration(absl::Duration d);
// "2026-12-03 04:50:01" in local time.
std::string LocalTime(absl::Time t);

// A JSON value as block-style YAML (1.2; strings double-quoted when a plain
// scalar would be read as something else). Ends with a newline.
std::string ToYaml(const nlohmann::json& value);

// "RUN_STATUS_COMPLETED" -> "COMPLETED".
std::string ShortEnum(const std::string& name, const std::string& prefix);

// JSON text shortened to `max` visible characters with "…".
std::string Ellipsize(const std::string& s, size_t max);

// A line on a terminal redrawn in place (carriage return, clear to end of
// line), cut to the terminal's width. Inactive off a terminal: then it writes
// nothing at all.
class ProgressLine {
 public:
  explicit ProgressLine(FILE* stream);
  ~ProgressLine() { Clear(); }
  bool active() const { return active_; }
  void Draw(const std::string& text);
  // Erases the line (before other output, and at the end).
  void Clear();

 private:
  FILE* stream_;
  bool active_;
  bool drawn_ = false;
};

}  // namespace tasker::cli

#endif  // TASKER_SERVICES_CLI_OUTPUT_H_
