#include "runtime/common/json.h"

#include <cmath>

#include "gtest/gtest.h"

namespace tasker {
namespace {

TEST(JsonTest, ValuesRoundTrip) {
  auto value = ParseJsonValue(R"({"a":[1,"x",true,null],"b":{"c":2.5}})", "input");
  ASSERT_TRUE(value.ok()) << value.status();
  auto json = ValueToNlohmann(*value, "input");
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json, nlohmann::json::parse(R"({"a":[1,"x",true,null],"b":{"c":2.5}})"));
  auto back = NlohmannToValue(*json, "input");
  ASSERT_TRUE(back.ok()) << back.status();
  auto again = ValueToNlohmann(*back, "input");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *json);
}

TEST(JsonTest, AnUnsetValueIsNull) {
  EXPECT_EQ(ProtoToJson(google::protobuf::Value()), "null");
  auto json = ValueToNlohmann(google::protobuf::Value(), "result");
  ASSERT_TRUE(json.ok());
  EXPECT_TRUE(json->is_null());
}

TEST(JsonTest, BadInputIsRejectedNamingTheField) {
  auto bad = ParseJsonValue("{not json", "input");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind("input: not valid JSON", 0), 0u) << bad.status();

  google::protobuf::Value nan;
  nan.set_number_value(std::nan(""));
  auto not_json = ValueToNlohmann(nan, "args");
  EXPECT_EQ(not_json.status().code(), absl::StatusCode::kInvalidArgument) << (not_json.ok() ? not_json->dump() : std::string());
  EXPECT_EQ(not_json.status().message(), "args: not representable as JSON (NaN or Infinity)");
  google::protobuf::Value nested;
  nested.mutable_list_value()->add_values()->set_number_value(INFINITY);
  EXPECT_EQ(ValueToNlohmann(nested, "args").status().code(), absl::StatusCode::kInvalidArgument);

  auto bad_utf8 = NlohmannToValue(nlohmann::json(std::string("\xff\xfe")), "result");
  EXPECT_EQ(bad_utf8.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_utf8.status().message(), "result: not valid UTF-8");
}

TEST(JsonTest, StylesChangeNamesAndLayout) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["k"].set_string_value("v");
  EXPECT_EQ(ProtoToJson(s), R"({"k":"v"})");
  EXPECT_NE(ProtoToJson(s, {.pretty = true}).find('\n'), std::string::npos);
}

}  // namespace
}  // namespace tasker
