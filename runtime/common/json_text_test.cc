#include "runtime/common/json_text.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tasker {
namespace {

using ::testing::HasSubstr;

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(ValidateJson, AcceptsWhatJsonStringifyWrites) {
  for (const char* text : {R"({"b":1,"a":2})", "-0", "12345678901234567890", "1e400", "1.5E-7", R"("\ud83d")",
                           R"("\udc00\ud83d\ude00")", "null", "true", "false", R"([1,"x",{"k":[]},{}])",
                           " \t\r\n{ \"a\" : [ 1 , 2 ] } ", "\"caf\xC3\xA9 \xF0\x9F\x98\x80\"", R"("\"\\\/\b\f\n\r\t")"}) {
    EXPECT_TRUE(ValidateJson(text, "input").ok()) << text << ": " << ValidateJson(text, "input");
  }
}

TEST(ValidateJson, RefusesWhatIsNotJsonNamingTheField) {
  for (const char* text : {"", "{", "[1,]", "{\"a\":1,}", "{'a':1}", "01", "-", "1.", "1e", "+1", "NaN",
                           "Infinity", "undefined", "\"\\x\"", "\"\\u12\"", "\"a\nb\"", "\"unterminated",
                           "{\"a\" 1}", "[1 2]", "1 2", "{\"a\":1}}", "tru", "nul", "\"\xC3\"", "\"\xED\xA0\xBD\"",
                           "\"\xC0\xAF\"", "\"\xF4\x90\x80\x80\""}) {
    absl::Status status = ValidateJson(text, "input");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(status.message()), HasSubstr("input: ")) << text;
  }
}

TEST(ValidateJson, DepthLimitIsExactAndIterative) {
  EXPECT_TRUE(ValidateJson(Nested(512), "input").ok());
  EXPECT_TRUE(ValidateJson(Nested(kMaxJsonDepth), "input").ok());
  absl::Status deep = ValidateJson(Nested(kMaxJsonDepth + 1), "input");
  EXPECT_EQ(deep.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(deep.message()), HasSubstr("nested deeper than 1000 levels"));
  // Far deeper than any stack could recurse: refused, no crash.
  const std::string huge = std::string(1'000'000, '[');
  EXPECT_EQ(ValidateJson(huge, "input").code(), absl::StatusCode::kInvalidArgument);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_THAT(std::string(ValidateJson(objects, "args").message()), HasSubstr("args: nested deeper"));
}

TEST(ValidateJson, SizeLimitNamesTheLimit) {
  const std::string big = "\"" + std::string(100, 'x') + "\"";
  absl::Status status = ValidateJson(big, "result", kMaxJsonDepth, 50);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("above the limit of 50 bytes"));
  EXPECT_TRUE(ValidateJson(std::string(10 << 20, ' ') + "1", "result").ok());
}

TEST(JsonObjectMembers, KeepsOrderAndRawText) {
  auto members = JsonObjectMembers(R"( {"name":"t","input":{"b":1,"a":-0.0e0},"n":12345678901234567890} )", "body");
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->size(), 3u);
  EXPECT_EQ((*members)[0].key, "name");
  EXPECT_EQ((*members)[0].raw, R"("t")");
  EXPECT_EQ((*members)[1].key, "input");
  EXPECT_EQ((*members)[1].raw, R"({"b":1,"a":-0.0e0})");
  EXPECT_EQ((*members)[2].raw, "12345678901234567890");
  EXPECT_EQ(TypeOfJson((*members)[1].raw), JsonType::kObject);
  EXPECT_EQ(TypeOfJson((*members)[2].raw), JsonType::kNumber);
}

TEST(JsonObjectMembers, RefusesNonObjectsAndDeepValues) {
  EXPECT_THAT(std::string(JsonObjectMembers("[1]", "body").status().message()), HasSubstr("body: must be a JSON object"));
  EXPECT_EQ(JsonObjectMembers("{\"a\":1", "body").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(JsonObjectMembers("{\"input\":" + Nested(kMaxJsonDepth - 1) + "}", "body").ok());
  EXPECT_EQ(JsonObjectMembers("{\"input\":" + Nested(kMaxJsonDepth) + "}", "body").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(JsonStringValue, DecodesEscapesAndSurrogates) {
  EXPECT_EQ(JsonStringValue(R"("a\"b\\c\/\n\u00e9")"), "a\"b\\c/\n\xC3\xA9");
  EXPECT_EQ(JsonStringValue(R"("\ud83d\ude00")"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(JsonStringValue(R"("\ud83d")"), "\xEF\xBF\xBD");
}

TEST(JsonQuote, RoundTripsAndRepairsUtf8) {
  EXPECT_EQ(JsonQuote("a\"b\n\x01"), R"("a\"b\n\u0001")");
  EXPECT_EQ(JsonQuote("\xF0\x9F\x98\x80"), "\"\xF0\x9F\x98\x80\"");
  EXPECT_EQ(JsonQuote("bad\xFF"), "\"bad\xEF\xBF\xBD\"");
  for (const std::string s : {"plain", "tab\there", "\xC3\xA9t\xC3\xA9"}) {
    EXPECT_EQ(JsonStringValue(JsonQuote(s)), s);
    EXPECT_TRUE(ValidateJson(JsonQuote(s), "s").ok());
  }
}

TEST(RewriteLoneSurrogateEscapes, KeepsPairsAndOtherEscapes) {
  const std::string json = R"({"a":"\ud83d","b":"\ud83d\ude00","c":"\\ud83d","d":"\udc00x"})";
  EXPECT_EQ(RewriteLoneSurrogateEscapes(json, LoneSurrogates::kReplacementCharacter),
            R"({"a":"\ufffd","b":"\ud83d\ude00","c":"\\ud83d","d":"\ufffdx"})");
  EXPECT_EQ(RewriteLoneSurrogateEscapes(json, LoneSurrogates::kAsText),
            R"({"a":"\\ud83d","b":"\ud83d\ude00","c":"\\ud83d","d":"\\udc00x"})");
}

}  // namespace
}  // namespace tasker
