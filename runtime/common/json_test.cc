#include "runtime/common/json.h"

#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "tasker/v1/common.pb.h"

namespace tasker {
namespace {

TEST(JsonTest, StylesChangeNamesAndLayout) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["k"].set_string_value("v");
  EXPECT_EQ(ProtoToJson(s), R"({"k":"v"})");
  EXPECT_NE(ProtoToJson(s, {.pretty = true}).find('\n'), std::string::npos);
}

TEST(JsonTest, PayloadsAreSplicedInAsJsonUnderTheirNameWithoutTheSuffix) {
  v1::TaskRun run;
  run.set_id("run_1");
  run.set_input_json(R"({"b":1,"a":-0,"s":"\ud83d"})");
  run.mutable_error()->set_message("m");
  run.mutable_error()->set_details_json("[1,2]");
  EXPECT_EQ(ProtoToJsonWithPayloads(run),
            R"({"id":"run_1","error":{"message":"m","details":[1,2]},"input":{"b":1,"a":-0,"s":"\ud83d"}})");
  EXPECT_EQ(ProtoToJsonWithPayloads(run, {.proto_field_names = true}),
            R"({"id":"run_1","error":{"message":"m","details":[1,2]},"input":{"b":1,"a":-0,"s":"\ud83d"}})");
  // (Fields in field-number order.) Pretty: the payload kept byte for byte.
  const std::string pretty = ProtoToJsonWithPayloads(run, {.pretty = true});
  EXPECT_NE(pretty.find(R"("input": {"b":1,"a":-0,"s":"\ud83d"})"), std::string::npos) << pretty;
  // The message itself is unchanged; an empty payload is left out.
  EXPECT_EQ(run.input_json(), R"({"b":1,"a":-0,"s":"\ud83d"})");
  EXPECT_EQ(ProtoToJsonWithPayloads(v1::TaskRun()), "{}");
}

}  // namespace
}  // namespace tasker
