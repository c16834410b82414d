#include "services/cli/jsdoc.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tasker::cli {
namespace {

using Json = nlohmann::json;

struct Section {
  std::string tag;  // empty: the free text before the first tag
  int line = 0;     // 1-based line of the file where it starts
  std::vector<std::string> lines;
};

int LineOf(absl::string_view code, size_t pos) {
  int line = 1;
  for (size_t i = 0; i < pos && i < code.size(); ++i) line += code[i] == '\n';
  return line;
}

// The text of the leading /** ... */ block and the line it starts on, or
// false when the file does not start with one.
bool LeadingBlock(absl::string_view code, absl::string_view* block, int* first_line) {
  size_t pos = 0;
  if (absl::StartsWith(code, "#!")) {
    pos = code.find('\n');
    if (pos == absl::string_view::npos) return false;
  }
  while (pos < code.size()) {
    const char c = code[pos];
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      ++pos;
      continue;
    }
    absl::string_view rest = code.substr(pos);
    if (absl::StartsWith(rest, "//")) {
      pos = code.find('\n', pos);
      if (pos == absl::string_view::npos) return false;
      continue;
    }
    if (absl::StartsWith(rest, "'use strict'") || absl::StartsWith(rest, "\"use strict\"")) {
      pos += 12;
      if (pos < code.size() && code[pos] == ';') ++pos;
      continue;
    }
    if (absl::StartsWith(rest, "/*")) {
      const size_t end = code.find("*/", pos + 2);
      if (end == absl::string_view::npos) return false;
      // "/**/" is an empty plain comment; "/***" a banner, not JSDoc.
      if (absl::StartsWith(rest, "/**") && !absl::StartsWith(rest, "/**/") && !absl::StartsWith(rest, "/***")) {
        *block = code.substr(pos + 3, end - pos - 3);
        *first_line = LineOf(code, pos);
        return true;
      }
      pos = end + 2;  // a plain comment (a license header): the JSDoc may follow
      continue;
    }
    return false;
  }
  return false;
}

std::vector<Section> Sections(absl::string_view block, int first_line) {
  std::vector<Section> sections(1);
  sections[0].line = first_line;
  int line = first_line;
  for (absl::string_view raw : absl::StrSplit(block, '\n')) {
    absl::string_view text = absl::StripLeadingAsciiWhitespace(raw);
    if (absl::ConsumePrefix(&text, "*")) absl::ConsumePrefix(&text, " ");
    text = absl::StripTrailingAsciiWhitespace(text);
    if (absl::StartsWith(text, "@") && text.size() > 1 && absl::ascii_isalpha(static_cast<unsigned char>(text[1]))) {
      size_t end = 1;
      while (end < text.size() && !absl::ascii_isspace(static_cast<unsigned char>(text[end]))) ++end;
      Section section;
      section.tag = absl::AsciiStrToLower(text.substr(1, end - 1));
      section.line = line;
      section.lines.push_back(std::string(absl::StripLeadingAsciiWhitespace(text.substr(end))));
      sections.push_back(std::move(section));
    } else {
      sections.back().lines.push_back(std::string(text));
    }
    ++line;
  }
  return sections;
}

// The lines joined with newlines, without leading and trailing blank lines.
std::string Text(const std::vector<std::string>& lines) {
  return std::string(absl::StripAsciiWhitespace(absl::StrJoin(lines, "\n")));
}

// Consumes a balanced `open ... close` group at the start of `text` (after
// whitespace), returning what is inside.
bool ConsumeGroup(absl::string_view* text, char open, char close, std::string* inside) {
  *text = absl::StripLeadingAsciiWhitespace(*text);
  if (text->empty() || (*text)[0] != open) return false;
  int depth = 0;
  for (size_t i = 0; i < text->size(); ++i) {
    if ((*text)[i] == open) ++depth;
    if ((*text)[i] == close && --depth == 0) {
      *inside = std::string(absl::StripAsciiWhitespace(text->substr(1, i - 1)));
      text->remove_prefix(i + 1);
      return true;
    }
  }
  return false;
}

// "- text", "text": the description after a name.
std::string Description(absl::string_view text) {
  text = absl::StripLeadingAsciiWhitespace(text);
  if (absl::ConsumePrefix(&text, "-")) text = absl::StripLeadingAsciiWhitespace(text);
  // Continuation lines of a param read as one paragraph.
  std::vector<absl::string_view> words;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) words.push_back(line);
  }
  return absl::StrJoin(words, " ");
}

Json Param(const Section& section, std::vector<std::string>* warnings) {
  absl::string_view text;
  const std::string joined = Text(section.lines);
  text = joined;
  Json param = Json::object();
  std::string type;
  if (ConsumeGroup(&text, '{', '}', &type)) {
    // Closure's optional marker: {string=}.
    if (absl::EndsWith(type, "=")) {
      type.pop_back();
      param["optional"] = true;
    }
    param["type"] = type;
  }
  text = absl::StripLeadingAsciiWhitespace(text);
  std::string name;
  std::string bracketed;
  if (ConsumeGroup(&text, '[', ']', &bracketed)) {
    param["optional"] = true;
    const size_t eq = bracketed.find('=');
    name = std::string(absl::StripAsciiWhitespace(absl::string_view(bracketed).substr(0, eq)));
    if (eq != std::string::npos) {
      param["default"] = std::string(absl::StripAsciiWhitespace(absl::string_view(bracketed).substr(eq + 1)));
    }
  } else {
    size_t end = 0;
    while (end < text.size() && !absl::ascii_isspace(static_cast<unsigned char>(text[end]))) ++end;
    name = std::string(text.substr(0, end));
    text.remove_prefix(end);
  }
  if (name.empty()) {
    warnings->push_back(absl::StrCat("line ", section.line, ": @param without a name (left out)"));
    return nullptr;
  }
  Json out = {{"name", name}};
  if (param.contains("type")) out["type"] = param["type"];
  out["optional"] = param.value("optional", false);
  if (param.contains("default")) out["default"] = param["default"];
  const std::string description = Description(text);
  if (!description.empty()) out["description"] = description;
  return out;
}

}  // namespace

TaskDoc ParseTaskDoc(absl::string_view code) {
  TaskDoc doc;
  absl::string_view block;
  int first_line = 0;
  if (!LeadingBlock(code, &block, &first_line)) return doc;
  std::string free_text, description;
  bool has_example = false;
  Json params = Json::array();
  for (const Section& section : Sections(block, first_line)) {
    const std::string text = Text(section.lines);
    if (section.tag.empty()) {
      free_text = text;
    } else if (section.tag == "description" || section.tag == "desc" || section.tag == "summary") {
      if (description.empty()) description = text;
    } else if (section.tag == "param" || section.tag == "arg" || section.tag == "argument") {
      Json param = Param(section, &doc.warnings);
      if (!param.is_null()) params.push_back(std::move(param));
    } else if (section.tag == "returns" || section.tag == "return") {
      absl::string_view rest = text;
      std::string type;
      Json returns = Json::object();
      if (ConsumeGroup(&rest, '{', '}', &type)) returns["type"] = type;
      const std::string what = Description(rest);
      if (!what.empty()) returns["description"] = what;
      doc.metadata["returns"] = returns;
    } else if (section.tag == "example") {
      if (has_example) continue;  // the first one is the input the UI offers
      absl::string_view json = text;
      // A fenced example (```json ... ```) is the same JSON.
      if (absl::ConsumePrefix(&json, "```")) {
        const size_t eol = json.find('\n');
        json = eol == absl::string_view::npos ? absl::string_view() : json.substr(eol + 1);
        json = absl::StripSuffix(absl::StripTrailingAsciiWhitespace(json), "```");
      }
      Json parsed = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) {
        doc.warnings.push_back(
            absl::StrCat("line ", section.line, ": @example is not a JSON input (left out): ", text.substr(0, 60)));
      } else {
        doc.metadata["example"] = std::move(parsed);
        has_example = true;
      }
    }
  }
  if (description.empty()) description = free_text;
  if (!description.empty()) doc.metadata["description"] = description;
  if (!params.empty()) doc.metadata["params"] = std::move(params);
  return doc;
}

}  // namespace tasker::cli
