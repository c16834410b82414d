#include "services/common/permissions.h"

#include "gtest/gtest.h"

namespace tasker::services {
namespace {

TEST(PermissionsTest, DeclaredPermissionsAreValidatedNamingTheEntry) {
  bool declared = false;
  auto ok = DeclaredPermissions(
      R"({"description":"x","permissions":["gapi:admin.users.list","gapi:gmail.*  as   subject=*@example.com",)"
      R"("keystore:read:google","openai:*","*"]})",
      &declared);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(declared);
  EXPECT_EQ(ok->at(1), "gapi:gmail.* as subject=*@example.com");
  auto none = DeclaredPermissions(R"({"description":"x"})", &declared);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(declared);
  EXPECT_TRUE(none->empty());
  for (const auto& [metadata, message] : std::vector<std::pair<std::string, std::string>>{
           {R"({"permissions":"gapi:*"})", "metadata_json.permissions: must be an array of strings, got string"},
           {R"({"permissions":["gapi:*", 3]})", "metadata_json.permissions[1]: must be a string, got number"},
           {R"({"permissions":["gapi"]})", "metadata_json.permissions[0]: 'gapi': expected '*'"},
           {R"({"permissions":["keystore:delete:x"]})", "metadata_json.permissions[0]: 'keystore:delete:x'"},
           {R"({"permissions":["openai:* as subject=a@b.c"]})", "'as subject=' applies to gapi only"},
           {R"({"permissions":["gapi:a b"]})", "metadata_json.permissions[0]"},
           {R"({"permissions":["gapi:x;drop"]})", "method glob"}}) {
    auto bad = DeclaredPermissions(metadata, &declared);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << metadata;
    EXPECT_NE(bad.status().message().find(message), std::string::npos) << bad.status() << " vs " << message;
  }
}

TEST(PermissionsTest, GrantsAllowOnlyWhatIsDeclared) {
  Grants grants({"gapi:admin.users.list", "gapi:gmail.* as subject=*@example.com", "keystore:read:google*",
                 "keystore:write:scratch", "openai:*"});
  EXPECT_TRUE(grants.CheckCall("gapi", "admin.users.list").ok());
  EXPECT_TRUE(grants.CheckCall("gapi", "gmail.users.messages.get").ok());
  EXPECT_TRUE(grants.CheckCall("openai", "chat.completions").ok());
  absl::Status denied = grants.CheckCall("gapi", "admin.domains.list");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("missing permission 'gapi:admin.domains.list'"), std::string::npos);
  EXPECT_EQ(grants.CheckCall("websearch", "search").code(), absl::StatusCode::kPermissionDenied);
  // Subjects: the admin with the method; others only as granted.
  EXPECT_TRUE(grants.CheckSubject("gapi", "admin.users.list", "admin@example.com", "admin@example.com").ok());
  EXPECT_EQ(grants.CheckSubject("gapi", "admin.users.list", "ceo@example.com", "admin@example.com").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(grants.CheckSubject("gapi", "gmail.users.messages.list", "ceo@example.com", "admin@example.com").ok());
  absl::Status other_domain =
      grants.CheckSubject("gapi", "gmail.users.messages.list", "ceo@evil.com", "admin@example.com");
  EXPECT_EQ(other_domain.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(other_domain.message().find("gapi:gmail.users.messages.list as subject=ceo@evil.com"), std::string::npos);
  // Keystore: read globs, write only where granted (write implies read).
  EXPECT_TRUE(grants.CheckKeystore(false, "google").ok());
  EXPECT_TRUE(grants.CheckKeystore(false, "google-drive").ok());
  EXPECT_EQ(grants.CheckKeystore(true, "google").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(grants.CheckKeystore(true, "scratch").ok());
  EXPECT_TRUE(grants.CheckKeystore(false, "scratch").ok());
  EXPECT_EQ(grants.CheckKeystore(false, "global").code(), absl::StatusCode::kPermissionDenied);
  // Nothing declared: nothing allowed, and the message says what to do.
  Grants none({});
  absl::Status empty = none.CheckCall("gapi", "admin.users.list");
  EXPECT_NE(empty.message().find("declares no permissions"), std::string::npos);
  // "*" allows everything.
  Grants all({"*"});
  EXPECT_TRUE(all.CheckCall("gapi", "anything").ok());
  EXPECT_TRUE(all.CheckSubject("gapi", "x", "a@b.c", "admin").ok());
  EXPECT_TRUE(all.CheckKeystore(true, "any").ok());
}

TEST(PermissionsTest, GlobMatching) {
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("gmail.*", "gmail.users.messages.list"));
  EXPECT_FALSE(GlobMatch("gmail.*", "gmailx"));
  EXPECT_TRUE(GlobMatch("*@example.com", "a.b@example.com"));
  EXPECT_FALSE(GlobMatch("*@example.com", "a@example.com.evil.org"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYY"));
}


TEST(PermissionsTest, UrlGrantsAreParsedNormalizedAndMatchedPerPart) {
  bool declared = false;
  auto ok = DeclaredPermissions(
      R"({"permissions":["http:fetch","http:fetch as url=HTTPS://API.Example.com/v1/*","http:* as url=http://*.example.org"]})",
      &declared);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->at(1), "http:fetch as url=https://api.example.com/v1/*");  // the origin in lower case
  for (const auto& [permission, message] : std::vector<std::pair<std::string, std::string>>{
           {"gapi:* as url=https://x/", "'as url=' applies to http only"},
           {"http:fetch as url=ftp://x/", "starts with http:// or https://"},
           {"http:fetch as url=https:///x", "starts with http:// or https://"},
           {"http:fetch as url=https://user@x/", "no user@"},
           {"http:fetch as url=https://x/a\"b", "the URL glob's path"},
           {"http:fetch as subject=a@b.c", "'as subject=' applies to gapi only"}}) {
    auto bad = ParsePermission(permission);
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << permission;
    EXPECT_NE(bad.status().message().find(message), std::string::npos) << permission << ": " << bad.status();
  }
  // The origin's '*' stays in the host: a path cannot pose as a subdomain.
  EXPECT_TRUE(UrlGlobMatch("https://*.example.com/*", "https://api.example.com/x"));
  EXPECT_FALSE(UrlGlobMatch("https://*.example.com/*", "https://evil.com/x.example.com/y"));
  EXPECT_FALSE(UrlGlobMatch("https://api.example.com/*", "https://api.example.com.evil.org/x"));
  EXPECT_FALSE(UrlGlobMatch("https://api.example.com/*", "https://api.example.com:8443/x"));
  EXPECT_FALSE(UrlGlobMatch("https://api.example.com/*", "http://api.example.com/x"));
  EXPECT_TRUE(UrlGlobMatch("https://api.example.com", "https://api.example.com/any/path?q=1"));  // no path: any
  EXPECT_TRUE(UrlGlobMatch("https://api.example.com/v1/*", "https://api.example.com/v1/users?id=2"));
  EXPECT_FALSE(UrlGlobMatch("https://api.example.com/v1/*", "https://api.example.com/v2/users"));
  EXPECT_TRUE(UrlGlobMatch("https://api.example.com/", "https://api.example.com"));

  Grants grants({"http:fetch as url=https://api.example.com/v1/*", "openai:*"});
  EXPECT_TRUE(grants.CheckCall("http", "fetch").ok());
  EXPECT_TRUE(grants.CheckUrl("http", "fetch", "https://api.example.com/v1/x").ok());
  absl::Status denied = grants.CheckUrl("http", "fetch", "https://api.example.com/v2/x");
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("missing permission 'http:fetch as url=https://api.example.com/v2/x'"),
            std::string::npos);
  EXPECT_TRUE(Grants({"http:fetch"}).CheckUrl("http", "fetch", "https://anything.example/").ok());
  EXPECT_TRUE(Grants({"*"}).CheckUrl("http", "fetch", "https://anything.example/").ok());
  EXPECT_EQ(Grants({"openai:*"}).CheckUrl("http", "fetch", "https://a.example/").code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(PermissionsTest, TheDatabaseChainIsCheckedPerOperation) {
  // ProxyCore lets database.chain through; the provider checks
  // database:<operation> for what the chain does.
  Grants select_only({"database:select"});
  EXPECT_TRUE(select_only.CheckCall("database", "chain").ok());
  EXPECT_TRUE(select_only.CheckCall("database", "select").ok());
  EXPECT_EQ(select_only.CheckCall("database", "delete").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(Grants({}).CheckCall("database", "chain").ok());
  EXPECT_EQ(Grants({}).CheckCall("database", "select").code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace tasker::services
