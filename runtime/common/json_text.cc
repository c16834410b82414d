#include "runtime/common/json_text.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tasker {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the valid UTF-8 sequence starting at s[i] (a byte >= 0x80), or 0
// when it is not one (overlong forms, encoded surrogates and code points
// above U+10FFFF are not).
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // a surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A strict, iterative JSON scanner over one text.
class Scanner {
 public:
  Scanner(absl::string_view text, absl::string_view field, int max_depth)
      : s_(text), field_(field), max_depth_(max_depth) {}

  size_t pos() const { return pos_; }
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < s_.size() && IsSpace(s_[pos_])) ++pos_;
  }

  absl::Status Error(absl::string_view what) const {
    if (pos_ >= s_.size()) return absl::InvalidArgumentError(absl::StrCat(field_, ": not valid JSON: ", what, " at the end"));
    const unsigned char c = static_cast<unsigned char>(s_[pos_]);
    std::string shown = c >= 0x20 && c < 0x7F ? absl::StrFormat("'%c'", c) : absl::StrFormat("byte 0x%02x", c);
    return absl::InvalidArgumentError(
        absl::StrCat(field_, ": not valid JSON: ", what, " (", shown, " at byte ", pos_, ")"));
  }

  bool Consume(char c) {
    if (Peek() != c || AtEnd()) return false;
    ++pos_;
    return true;
  }

  // A string literal at pos_ (which holds '"').
  absl::Status ScanString() {
    ++pos_;
    while (true) {
      // The common case: plain ASCII.
      while (pos_ < s_.size()) {
        const unsigned char c = static_cast<unsigned char>(s_[pos_]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++pos_;
      }
      if (pos_ >= s_.size()) return Error("unterminated string");
      const unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Error("control character in a string (escape it)");
      if (c >= 0x80) {
        const size_t n = Utf8SequenceLength(s_, pos_);
        if (n == 0) return Error("invalid UTF-8 in a string");
        pos_ += n;
        continue;
      }
      // A backslash escape.
      if (pos_ + 1 >= s_.size()) return Error("unterminated escape");
      const char e = s_[pos_ + 1];
      if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
        pos_ += 2;
        continue;
      }
      if (e != 'u') {
        ++pos_;
        return Error("invalid escape");
      }
      for (size_t k = 2; k < 6; ++k) {
        if (pos_ + k >= s_.size() || HexValue(s_[pos_ + k]) < 0) {
          pos_ += k;
          return Error("invalid \\u escape (four hex digits expected)");
        }
      }
      pos_ += 6;  // any code unit, lone surrogates included (JSON.stringify writes them)
    }
  }

  absl::Status ScanNumber() {
    const size_t start = pos_;
    Consume('-');
    if (Consume('0')) {
    } else if (IsDigit(Peek()) && !AtEnd()) {
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    } else {
      return Error(pos_ == start ? "unexpected character" : "digit expected after '-'");
    }
    if (Consume('.')) {
      if (AtEnd() || !IsDigit(Peek())) return Error("digit expected after '.'");
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      if (!Consume('+')) Consume('-');
      if (AtEnd() || !IsDigit(Peek())) return Error("digit expected in the exponent");
      while (!AtEnd() && IsDigit(Peek())) ++pos_;
    }
    return absl::OkStatus();
  }

  absl::Status ScanLiteral(absl::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return Error("unexpected character");
    pos_ += word.size();
    return absl::OkStatus();
  }

  // One complete value at pos_ (after optional space), `depth` containers
  // deep already.
  absl::Status ScanValue(int depth) {
    std::vector<char> open;  // the closer each open container expects
    SkipSpace();
    while (true) {
      // A value starts here.
      SkipSpace();
      if (AtEnd()) return Error("value expected");
      const char c = Peek();
      bool scanned = true;
      if (c == '{' || c == '[') {
        if (depth + static_cast<int>(open.size()) + 1 > max_depth_) {
          return absl::InvalidArgumentError(absl::StrCat(field_, ": nested deeper than ", max_depth_,
                                                         " levels (the limit) at byte ", pos_));
        }
        ++pos_;
        SkipSpace();
        const char closer = c == '{' ? '}' : ']';
        if (Consume(closer)) {
          // empty container: a complete value
        } else {
          open.push_back(closer);
          if (closer == '}') {
            if (absl::Status s = ScanKey(); !s.ok()) return s;
          }
          scanned = false;
        }
      } else if (c == '"') {
        if (absl::Status s = ScanString(); !s.ok()) return s;
      } else if (c == 't') {
        if (absl::Status s = ScanLiteral("true"); !s.ok()) return s;
      } else if (c == 'f') {
        if (absl::Status s = ScanLiteral("false"); !s.ok()) return s;
      } else if (c == 'n') {
        if (absl::Status s = ScanLiteral("null"); !s.ok()) return s;
      } else {
        if (absl::Status s = ScanNumber(); !s.ok()) return s;
      }
      if (!scanned) continue;
      // After a complete value: close containers or go on to the next member.
      while (true) {
        if (open.empty()) return absl::OkStatus();
        SkipSpace();
        if (Consume(open.back())) {
          open.pop_back();
          continue;
        }
        if (!Consume(',')) return Error(open.back() == '}' ? "',' or '}' expected" : "',' or ']' expected");
        if (open.back() == '}') {
          SkipSpace();
          if (absl::Status s = ScanKey(); !s.ok()) return s;
        }
        break;
      }
    }
  }

  // `"key" :` at pos_.
  absl::Status ScanKey() {
    if (Peek() != '"' || AtEnd()) return Error("member name (a string) expected");
    if (absl::Status s = ScanString(); !s.ok()) return s;
    SkipSpace();
    if (!Consume(':')) return Error("':' expected");
    return absl::OkStatus();
  }

 private:
  absl::string_view s_;
  absl::string_view field_;
  int max_depth_;
  size_t pos_ = 0;
};

absl::Status CheckSize(absl::string_view text, absl::string_view field, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", text.size(), " bytes of JSON, above the limit of ",
                                                   max_bytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateJson(absl::string_view text, absl::string_view field, int max_depth, size_t max_bytes) {
  if (absl::Status s = CheckSize(text, field, max_bytes); !s.ok()) return s;
  Scanner scanner(text, field, max_depth);
  if (absl::Status s = scanner.ScanValue(0); !s.ok()) return s;
  scanner.SkipSpace();
  if (!scanner.AtEnd()) return scanner.Error("text after the value");
  return absl::OkStatus();
}

JsonType TypeOfJson(absl::string_view valid_json) {
  size_t i = 0;
  while (i < valid_json.size() && IsSpace(valid_json[i])) ++i;
  switch (i < valid_json.size() ? valid_json[i] : 'n') {
    case 'n': return JsonType::kNull;
    case 't':
    case 'f': return JsonType::kBool;
    case '"': return JsonType::kString;
    case '[': return JsonType::kArray;
    case '{': return JsonType::kObject;
    default: return JsonType::kNumber;
  }
}

const char* JsonTypeName(JsonType type) {
  switch (type) {
    case JsonType::kNull: return "null";
    case JsonType::kBool: return "a boolean";
    case JsonType::kNumber: return "a number";
    case JsonType::kString: return "a string";
    case JsonType::kArray: return "an array";
    case JsonType::kObject: return "an object";
  }
  return "?";
}

absl::StatusOr<std::vector<JsonMember>> JsonObjectMembers(absl::string_view text, absl::string_view field,
                                                          int max_depth, size_t max_bytes) {
  if (absl::Status s = CheckSize(text, field, max_bytes); !s.ok()) return s;
  Scanner scanner(text, field, max_depth);
  scanner.SkipSpace();
  if (!scanner.Consume('{')) return absl::InvalidArgumentError(absl::StrCat(field, ": must be a JSON object"));
  std::vector<JsonMember> members;
  scanner.SkipSpace();
  if (!scanner.Consume('}')) {
    while (true) {
      scanner.SkipSpace();
      const size_t key_start = scanner.pos();
      if (scanner.Peek() != '"' || scanner.AtEnd()) return scanner.Error("member name (a string) expected");
      if (absl::Status s = scanner.ScanString(); !s.ok()) return s;
      JsonMember member;
      member.key = JsonStringValue(text.substr(key_start, scanner.pos() - key_start));
      scanner.SkipSpace();
      if (!scanner.Consume(':')) return scanner.Error("':' expected");
      scanner.SkipSpace();
      const size_t value_start = scanner.pos();
      if (absl::Status s = scanner.ScanValue(1); !s.ok()) return s;
      member.raw = text.substr(value_start, scanner.pos() - value_start);
      members.push_back(std::move(member));
      scanner.SkipSpace();
      if (scanner.Consume(',')) continue;
      if (scanner.Consume('}')) break;
      return scanner.Error("',' or '}' expected");
    }
  }
  scanner.SkipSpace();
  if (!scanner.AtEnd()) return scanner.Error("text after the value");
  return members;
}

std::string JsonStringValue(absl::string_view raw) {
  std::string out;
  if (raw.size() < 2) return out;
  raw = raw.substr(1, raw.size() - 2);
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i + 1 >= raw.size()) break;
    const char e = raw[++i];
    switch (e) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        auto unit = [&](size_t at) -> int {
          if (at + 4 > raw.size()) return -1;
          int v = 0;
          for (size_t k = 0; k < 4; ++k) {
            const int h = HexValue(raw[at + k]);
            if (h < 0) return -1;
            v = v * 16 + h;
          }
          return v;
        };
        const int u = unit(i + 1);
        if (u < 0) return out;
        i += 4;
        uint32_t cp = static_cast<uint32_t>(u);
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 2 < raw.size() && raw[i + 1] == '\\' && raw[i + 2] == 'u') {
          const int low = unit(i + 3);
          if (low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<uint32_t>(low) - 0xDC00);
            i += 6;
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate
        AppendUtf8(cp, &out);
        break;
      }
      default: out.push_back(e);  // " \ /
    }
  }
  return out;
}

std::string RewriteLoneSurrogateEscapes(absl::string_view json, LoneSurrogates how) {
  std::string out(json);
  auto unit_at = [&](size_t at) -> int {  // the code unit of a \uXXXX escape at `at`, or -1
    if (at + 6 > out.size() || out[at] != '\\' || out[at + 1] != 'u') return -1;
    int v = 0;
    for (size_t k = 2; k < 6; ++k) {
      const int h = HexValue(out[at + k]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] != '\\') continue;
    const int unit = unit_at(i);
    if (unit < 0) {
      ++i;  // another escape (\\, \", ...): skip its second character
      continue;
    }
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      const int low = unit_at(i + 6);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        i += 11;  // a proper pair
        continue;
      }
    }
    if (unit >= 0xD800 && unit <= 0xDFFF) {
      if (how == LoneSurrogates::kReplacementCharacter) {
        out.replace(i + 2, 4, "fffd");
      } else {
        out.insert(i, 1, '\\');
        ++i;
      }
    }
    i += 5;
  }
  return out;
}

std::string JsonQuote(absl::string_view utf8) {
  std::string out;
  out.reserve(utf8.size() + 2);
  out.push_back('"');
  for (size_t i = 0; i < utf8.size();) {
    const unsigned char c = static_cast<unsigned char>(utf8[i]);
    if (c >= 0x80) {
      const size_t n = Utf8SequenceLength(utf8, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(utf8.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

}  // namespace tasker
