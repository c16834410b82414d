// The CLI's flag parser, settings precedence, config files and formats.
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "services/cli/args.h"
#include "services/cli/output.h"

namespace tasker::cli {
namespace {

const std::vector<FlagSpec> kFlags = {
    {"help", "", "", 'h'},          {"output", "FORMAT", "", 'o'}, {"address", "ADDR", ""},
    {"token_file", "FILE", ""},     {"wait", "", "", 'w'},        {"limit", "N", "", 'n'},
    {"config", "FILE", ""},         {"keystore", "ADDR", ""},     {"tls_ca", "FILE", ""},
    {"tls_cert", "FILE", ""},       {"tls_key", "FILE", ""},      {"timeout", "D", ""},
    {"target", "ADDR", ""},         {"color", "WHEN", ""},        {"no_color", "", ""},
    {"tls_server_name", "N", ""},
};

TEST(ParseArgsTest, FlagsAnywhereInEveryForm) {
  auto parsed = ParseArgs({"-o", "json", "submit", "--address=a:1", "task", "--wait", "-n5", "--token-file", "f",
                           "--nowait", "--", "--not-a-flag"},
                          kFlags);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->positional, (std::vector<std::string>{"submit", "task", "--not-a-flag"}));
  EXPECT_EQ(parsed->Get("output"), "json");
  EXPECT_EQ(parsed->Get("address"), "a:1");
  EXPECT_EQ(parsed->Get("limit"), "5");
  EXPECT_EQ(parsed->Get("token_file"), "f");
  EXPECT_FALSE(parsed->Bool("wait"));  // --nowait came last
  EXPECT_EQ(ParseArgs({"--frob"}, kFlags).status().message(), "unknown flag --frob");
  EXPECT_EQ(ParseArgs({"-x"}, kFlags).status().message(), "unknown flag -x");
  EXPECT_EQ(ParseArgs({"--address"}, kFlags).status().message(), "--address: needs a value (ADDR)");
  EXPECT_EQ(ParseArgs({"--wait=maybe"}, kFlags).status().message(), "--wait: 'maybe' is not true or false");
  EXPECT_TRUE(ParseArgs({"--wait=false"}, kFlags).ok());
}

TEST(ConfigTextTest, YamlSubsetAndJson) {
  auto yaml = ParseConfigText(
      "# Tasker\naddress: \"tasker:443\"  # public\ntoken_file: 'it''s'\ntls:\n  ca: ca.crt\n  cert: c.crt # x\n"
      "timeout: 10s\n",
      "c.yaml");
  ASSERT_TRUE(yaml.ok()) << yaml.status();
  EXPECT_EQ(*yaml, (std::map<std::string, std::string>{{"address", "tasker:443"},
                                                        {"token_file", "it's"},
                                                        {"tls.ca", "ca.crt"},
                                                        {"tls.cert", "c.crt"},
                                                        {"timeout", "10s"}}));
  auto json = ParseConfigText(R"({"address": "x:1", "tls": {"ca": "a"}, "timeout": 5})", "c.json");
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->at("tls.ca"), "a");
  EXPECT_EQ(json->at("timeout"), "5");
  EXPECT_EQ(ParseConfigText("address\n", "c.yaml").status().message(), "c.yaml:1: expected 'key: value'");
  EXPECT_FALSE(ParseConfigText("{nope", "c.json").ok());
}

class SettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp", "/settings",
                        absl::ToUnixNanos(absl::Now()));
    ASSERT_EQ(system(("mkdir -p " + dir_ + "/home/.config/tasker").c_str()), 0);
    env_["HOME"] = dir_ + "/home";
  }
  absl::StatusOr<Settings> Resolve(std::vector<std::string> args) {
    auto parsed = ParseArgs(args, kFlags);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return ResolveSettings(*parsed, [&](const char* name) -> std::optional<std::string> {
      auto it = env_.find(name);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    });
  }
  std::string dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(SettingsTest, FlagOverEnvironmentOverFileOverDefault) {
  auto defaults = Resolve({});
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->address, "127.0.0.1:50052");
  EXPECT_EQ(defaults->address_source, "default");
  EXPECT_EQ(defaults->keystore_address, "127.0.0.1:50053");
  EXPECT_EQ(defaults->output, "table");
  EXPECT_EQ(defaults->timeout, absl::Seconds(30));

  const std::string file = dir_ + "/home/.config/tasker/config.yaml";
  std::ofstream(file) << "address: file:1\ntoken_file: token\ntls:\n  ca: ca.pem\noutput: yaml\n";
  std::ofstream(dir_ + "/home/.config/tasker/token") << "file-token\n";
  auto from_file = Resolve({});
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(from_file->address, "file:1");
  EXPECT_EQ(from_file->address_source, "config " + file);
  EXPECT_EQ(from_file->keystore_address, "file:50053");
  EXPECT_EQ(from_file->token, "file-token");
  EXPECT_EQ(from_file->tls_ca, dir_ + "/home/.config/tasker/ca.pem");  // relative to the file
  EXPECT_EQ(from_file->output, "yaml");

  env_["TASKER_ADDRESS"] = "env:2";
  env_["TASKER_TOKEN"] = "env-token";
  auto from_env = Resolve({});
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->address, "env:2");
  EXPECT_EQ(from_env->address_source, "env TASKER_ADDRESS");
  EXPECT_EQ(from_env->token, "env-token");

  std::ofstream(dir_ + "/flag-token") << "flag-token";
  auto from_flags = Resolve({"--target=flag:3", "--token_file=" + dir_ + "/flag-token", "-o", "json"});
  ASSERT_TRUE(from_flags.ok()) << from_flags.status();
  EXPECT_EQ(from_flags->address, "flag:3");
  EXPECT_EQ(from_flags->address_source, "flag --target");
  EXPECT_EQ(from_flags->token, "flag-token");
  EXPECT_EQ(from_flags->output, "json");

  // TASKER_CONFIG names another file, which must exist.
  env_["TASKER_CONFIG"] = dir_ + "/missing.yaml";
  EXPECT_EQ(Resolve({}).status().message(), "TASKER_CONFIG: cannot read " + dir_ + "/missing.yaml");
  std::ofstream(dir_ + "/bad.yaml") << "adress: x\n";
  env_["TASKER_CONFIG"] = dir_ + "/bad.yaml";
  EXPECT_NE(Resolve({}).status().message().find("unknown key 'adress'"), std::string::npos);
}

TEST_F(SettingsTest, BadValuesNameTheirSource) {
  EXPECT_EQ(Resolve({"-o", "xml"}).status().message(), "--output: 'xml' is not table, json or yaml");
  EXPECT_EQ(Resolve({"--timeout=soon"}).status().message(),
            "flag --timeout: 'soon' is not a duration (e.g. 30s, 5m, 2h, 1d)");
  EXPECT_EQ(Resolve({"--tls_cert=c"}).status().message(), "--tls_cert and --tls_key: give both or neither");
  EXPECT_EQ(Resolve({"--token_file=/nonexistent"}).status().message(),
            "flag --token_file: cannot read /nonexistent");
  EXPECT_EQ(Resolve({"--no_color"})->color, "never");
}

TEST(OutputTest, TablesAlignByVisibleWidth) {
  Style color("always", stdout);
  Table table({"A", "STATUS", "C"});
  table.Add({"xx", color.Status("COMPLETED"), "é"});
  table.Add({"y", "FAILED", ""});
  EXPECT_EQ(table.Render(Style("never", stdout)),
            "A   STATUS     C\nxx  \033[32mCOMPLETED\033[0m  é\ny   FAILED\n");
  EXPECT_EQ(VisibleWidth("\033[1mab\033[0mé"), 3u);
}

TEST(OutputTest, TimesAndDurations) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  EXPECT_EQ(RelativeTime(now - absl::Milliseconds(300), now), "just now");
  EXPECT_EQ(RelativeTime(now - absl::Seconds(3), now), "3s ago");
  EXPECT_EQ(RelativeTime(now - absl::Minutes(5), now), "5m ago");
  EXPECT_EQ(RelativeTime(now - absl::Hours(2), now), "2h ago");
  EXPECT_EQ(RelativeTime(now - absl::Hours(50), now), "2d ago");
  EXPECT_EQ(RelativeTime(now + absl::Seconds(5), now), "in 5s");
  EXPECT_EQ(RelativeTime(absl::InfinitePast(), now), "-");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(850)), "850ms");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(4210)), "4.2s");
  EXPECT_EQ(HumanDuration(absl::Seconds(184)), "3m04s");
  EXPECT_EQ(HumanDuration(absl::Minutes(62)), "1h02m");
  EXPECT_EQ(HumanDuration(absl::Hours(51)), "2d03h");
}

TEST(OutputTest, YamlQuotesWhatWouldReadAsSomethingElse) {
  auto j = nlohmann::json::parse(R"({"id": "run_1", "version": "1", "flag": "yes", "empty": "", "n": 3,
    "list": [{"a": 1, "b": [true, null]}, "x: y", []], "obj": {}, "text": "line\nbreak", "t": "2026-12-03T04:50:01Z"})");
  EXPECT_EQ(ToYaml(j),
            "empty: \"\"\n"
            "flag: \"yes\"\n"
            "id: run_1\n"
            "list:\n"
            "  - a: 1\n"
            "    b:\n"
            "      - true\n"
            "      - null\n"
            "  - \"x: y\"\n"
            "  - []\n"
            "\"n\": 3\n"
            "obj: {}\n"
            "t: \"2026-12-03T04:50:01Z\"\n"
            "text: \"line\\nbreak\"\n"
            "version: \"1\"\n");
  EXPECT_EQ(ToYaml(nlohmann::json::array()), "[]\n");
}

TEST(OutputTest, EllipsizeKeepsColourCodesWhole) {
  EXPECT_EQ(Ellipsize("abcdef", 4), "abc…");
  EXPECT_EQ(Ellipsize("abc", 4), "abc");
  EXPECT_EQ(Ellipsize("\033[36mabcdef\033[0m", 4), "\033[36mabc…\033[0m");
}

}  // namespace
}  // namespace tasker::cli
