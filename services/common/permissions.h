// What a task may reach: the permissions a function version declares in its
// metadata ("permissions": [...]), fixed at publish and enforced by the
// wrapped-service proxy on every host call.
//
//   *                                   everything (the development default)
//   <service>:<method>                  e.g. gapi:admin.users.list, openai:chat.completions
//   <service>:<glob>                    e.g. gapi:gmail.*, openai:*, database:select
//   gapi:<glob> as subject=<glob>       also act as these users (domain-wide
//                                       delegation), e.g. gapi:gmail.* as subject=*@example.com
//   http:fetch                          a task's fetch() to any URL the operator allows
//   http:fetch as url=<url glob>        only to matching URLs (each redirect target too),
//                                       e.g. http:fetch as url=https://api.example.com/*
//   keystore:read:<namespace glob>      get, has, list (getKey, hasKey, listKeys) in these namespaces
//   keystore:write:<namespace glob>     set, setKey (and read) in these namespaces
//
// Globs: '*' matches any run of characters (dots included). A gapi grant
// without "as subject=" acts only as the proxy's configured admin user.
//
// URL globs are `scheme://host[:port][path]`: the scheme and host part is
// matched on its own (its '*' never reaches into the path, so
// https://*.example.com/* cannot match https://evil.com/x.example.com/), the
// path part (path and query) after it; a glob without a path matches every
// path of that origin. URLs are compared normalized (scheme and host lower
// case, default ports dropped).
//
// The database provider's `chain` method (the supabase-js-style chain) needs
// no permission of its own: it checks database:<operation> for the
// operation the chain performs (select, insert, update, delete, upsert).
#ifndef TASKER_SERVICES_COMMON_PERMISSIONS_H_
#define TASKER_SERVICES_COMMON_PERMISSIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tasker::services {

struct Permission {
  std::string text;  // as declared, normalized (single spaces)
  bool all = false;  // "*"
  std::string service;
  std::string method_glob;   // services other than keystore
  std::string subject_glob;  // gapi "as subject=" (empty: none)
  std::string url_glob;      // http "as url=" (empty: none)
  bool keystore_write = false;
  std::string namespace_glob;  // keystore
};

// Parses one permission; INVALID_ARGUMENT explaining the syntax.
absl::StatusOr<Permission> ParsePermission(absl::string_view text);

// The permissions a function's metadata declares: its "permissions" member,
// an array of strings (absent: `declared` false and none). INVALID_ARGUMENT
// naming "metadata_json.permissions[i]". Returns normalized texts.
absl::StatusOr<std::vector<std::string>> DeclaredPermissions(absl::string_view metadata_json, bool* declared);

// '*' matches any run of characters.
bool GlobMatch(absl::string_view glob, absl::string_view text);

// Splits an http(s) URL (or URL glob) into its "scheme://authority" origin
// and the rest ("/path?query", possibly empty). False when it is not one.
bool SplitUrl(absl::string_view url, absl::string_view* origin, absl::string_view* rest);
// A URL glob (see above) against a normalized URL.
bool UrlGlobMatch(absl::string_view glob, absl::string_view url);

// A function version's grants, checked per call.
class Grants {
 public:
  // Unparseable entries (stored by an older publisher) grant nothing.
  explicit Grants(const std::vector<std::string>& permissions);

  // PERMISSION_DENIED naming the permission a call to service.method needs.
  absl::Status CheckCall(absl::string_view service, absl::string_view method) const;
  // For gapi: may the call act as `subject`? `admin` is the configured
  // default user, allowed with the method.
  absl::Status CheckSubject(absl::string_view service, absl::string_view method, absl::string_view subject,
                            absl::string_view admin) const;
  absl::Status CheckKeystore(bool write, absl::string_view ns) const;
  // For http: may the call reach `url` (normalized)? A grant of the method
  // without "as url=" reaches any URL.
  absl::Status CheckUrl(absl::string_view service, absl::string_view method, absl::string_view url) const;
  // Whether reading namespace `ns` is granted (listNamespaces filtering).
  bool CanReadNamespace(absl::string_view ns) const { return CheckKeystore(false, ns).ok(); }
  bool empty() const { return permissions_.empty(); }

 private:
  std::vector<Permission> permissions_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_COMMON_PERMISSIONS_H_
