#include "services/common/permissions.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace tasker::services {
namespace {

constexpr char kSyntax[] =
    "expected '*', '<service>:<method glob>' (optionally 'as subject=<glob>' for gapi, 'as url=<url glob>' for "
    "http), 'keystore:read:<namespace glob>' or 'keystore:write:<namespace glob>'";

bool ValidGlob(absl::string_view glob) {
  if (glob.empty() || glob.size() > 200) return false;
  for (char c : glob) {
    if (!absl::ascii_isalnum(c) && !absl::StrContains("*._-@+/", c)) return false;
  }
  return true;
}

// http(s)://host[:port][/path...]: the origin in lower case, then path
// characters (no spaces, quotes, angle brackets, backslashes or braces).
absl::StatusOr<std::string> ValidUrlGlob(absl::string_view glob) {
  if (glob.size() > 500) return absl::InvalidArgumentError("the URL glob is at most 500 characters");
  absl::string_view origin, rest;
  if (!SplitUrl(glob, &origin, &rest)) {
    return absl::InvalidArgumentError("the URL glob starts with http:// or https:// and a host, e.g. "
                                      "https://api.example.com/*");
  }
  const absl::string_view authority = origin.substr(origin.find("://") + 3);
  for (char c : authority) {
    if (!absl::ascii_isalnum(c) && !absl::StrContains("*.-:[]", c)) {
      return absl::InvalidArgumentError(
          "the URL glob's host is letters, digits, '*', '.', '-', a port, or an [IPv6] address (no user@)");
    }
  }
  for (char c : rest) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || absl::StrContains("\"<>\\^`{|}", c)) {
      return absl::InvalidArgumentError("the URL glob's path has a character URLs cannot hold unescaped");
    }
  }
  return absl::StrCat(absl::AsciiStrToLower(origin), rest);
}

}  // namespace

bool SplitUrl(absl::string_view url, absl::string_view* origin, absl::string_view* rest) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return false;
  const std::string scheme = absl::AsciiStrToLower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return false;
  size_t path = url.find_first_of("/?#", scheme_end + 3);
  if (path == absl::string_view::npos) path = url.size();
  if (path == scheme_end + 3) return false;  // no host
  *origin = url.substr(0, path);
  *rest = url.substr(path);
  return true;
}

bool UrlGlobMatch(absl::string_view glob, absl::string_view url) {
  absl::string_view glob_origin, glob_rest, url_origin, url_rest;
  if (!SplitUrl(glob, &glob_origin, &glob_rest) || !SplitUrl(url, &url_origin, &url_rest)) return false;
  if (!GlobMatch(glob_origin, url_origin)) return false;
  if (glob_rest.empty()) return true;  // the whole origin
  if (url_rest.empty()) url_rest = "/";
  return GlobMatch(glob_rest, url_rest);
}

bool GlobMatch(absl::string_view glob, absl::string_view text) {
  // Iterative wildcard match with backtracking to the last '*'.
  size_t g = 0, t = 0, star = absl::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = t;
    } else if (g < glob.size() && glob[g] == text[t]) {
      ++g;
      ++t;
    } else if (star != absl::string_view::npos) {
      g = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

absl::StatusOr<Permission> ParsePermission(absl::string_view text) {
  std::vector<absl::string_view> words = absl::StrSplit(text, ' ', absl::SkipEmpty());
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "': ", why));
  };
  if (words.empty()) return bad(kSyntax);
  Permission p;
  p.text = absl::StrJoin(words, " ");
  if (words.size() == 1 && words[0] == "*") {
    p.all = true;
    return p;
  }
  std::vector<absl::string_view> parts = absl::StrSplit(words[0], ':');
  if (parts.size() < 2) return bad(kSyntax);
  p.service = std::string(parts[0]);
  for (char c : p.service) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_') return bad("the service name is letters, digits, '-', '_'");
  }
  if (p.service.empty()) return bad(kSyntax);
  if (p.service == "keystore") {
    if (parts.size() != 3 || (parts[1] != "read" && parts[1] != "write") || words.size() != 1) {
      return bad("expected 'keystore:read:<namespace glob>' or 'keystore:write:<namespace glob>'");
    }
    p.keystore_write = parts[1] == "write";
    p.namespace_glob = std::string(parts[2]);
    if (!ValidGlob(p.namespace_glob)) return bad("the namespace glob is letters, digits, '*', '.', '_', '-'");
    return p;
  }
  if (parts.size() != 2) return bad(kSyntax);
  p.method_glob = std::string(parts[1]);
  if (!ValidGlob(p.method_glob)) return bad("the method glob is letters, digits, '*', '.', '_', '-'");
  if (words.size() == 1) return p;
  if (words.size() == 3 && words[1] == "as" && absl::StartsWith(words[2], "url=")) {
    if (p.service != "http") return bad("'as url=' applies to http only");
    auto glob = ValidUrlGlob(words[2].substr(4));
    if (!glob.ok()) return bad(glob.status().message());
    p.url_glob = *glob;
    p.text = absl::StrCat(words[0], " as url=", p.url_glob);
    return p;
  }
  if (words.size() != 3 || words[1] != "as" || !absl::StartsWith(words[2], "subject=")) return bad(kSyntax);
  if (p.service != "gapi") return bad("'as subject=' applies to gapi only");
  p.subject_glob = std::string(words[2].substr(8));
  if (!ValidGlob(p.subject_glob)) return bad("the subject glob is an email address pattern, e.g. *@example.com");
  return p;
}

absl::StatusOr<std::vector<std::string>> DeclaredPermissions(absl::string_view metadata_json, bool* declared) {
  *declared = false;
  std::vector<std::string> out;
  if (metadata_json.empty()) return out;
  nlohmann::json metadata = nlohmann::json::parse(metadata_json, nullptr, false);
  if (metadata.is_discarded() || !metadata.is_object()) {
    return absl::InvalidArgumentError("metadata_json: must be a JSON object");
  }
  auto it = metadata.find("permissions");
  if (it == metadata.end()) return out;
  *declared = true;
  if (!it->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("metadata_json.permissions: must be an array of strings, got ",
                                                   it->type_name()));
  }
  if (it->size() > 100) return absl::InvalidArgumentError("metadata_json.permissions: at most 100 entries");
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& entry = (*it)[i];
    if (!entry.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata_json.permissions[", i, "]: must be a string, got ", entry.type_name()));
    }
    auto parsed = ParsePermission(entry.get<std::string>());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata_json.permissions[", i, "]: ", parsed.status().message()));
    }
    out.push_back(parsed->text);
  }
  return out;
}

Grants::Grants(const std::vector<std::string>& permissions) {
  for (const auto& text : permissions) {
    auto p = ParsePermission(text);
    if (p.ok()) permissions_.push_back(*std::move(p));
  }
}

absl::Status Grants::CheckCall(absl::string_view service, absl::string_view method) const {
  if (service == "keystore") return absl::OkStatus();  // per namespace: CheckKeystore
  // Per operation: the provider checks database:<operation> for what the
  // chain does.
  if (service == "database" && method == "chain") return absl::OkStatus();
  for (const Permission& p : permissions_) {
    if (p.all || (p.service == service && GlobMatch(p.method_glob, method))) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("missing permission '", service, ":", method, "'", permissions_.empty() ?
                   " (this version declares no permissions: add them to metadata.permissions and republish)" : ""));
}

absl::Status Grants::CheckSubject(absl::string_view service, absl::string_view method, absl::string_view subject,
                                  absl::string_view admin) const {
  for (const Permission& p : permissions_) {
    if (p.all) return absl::OkStatus();
    if (p.service != service || !GlobMatch(p.method_glob, method)) continue;
    if (subject == admin) return absl::OkStatus();
    if (!p.subject_glob.empty() && GlobMatch(p.subject_glob, subject)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("missing permission '", service, ":", method, " as subject=",
                                                  subject, "' (acting as another user needs it)"));
}

absl::Status Grants::CheckUrl(absl::string_view service, absl::string_view method, absl::string_view url) const {
  for (const Permission& p : permissions_) {
    if (p.all) return absl::OkStatus();
    if (p.service != service || !GlobMatch(p.method_glob, method)) continue;
    if (p.url_glob.empty() || UrlGlobMatch(p.url_glob, url)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("missing permission '", service, ":", method, " as url=", url, "'"));
}

absl::Status Grants::CheckKeystore(bool write, absl::string_view ns) const {
  for (const Permission& p : permissions_) {
    if (p.all) return absl::OkStatus();
    if (p.service != "keystore" || !GlobMatch(p.namespace_glob, ns)) continue;
    if (p.keystore_write || !write) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrCat("missing permission 'keystore:", write ? "write" : "read", ":", ns, "'"));
}

}  // namespace tasker::services
