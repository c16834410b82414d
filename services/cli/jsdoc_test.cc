#include "services/cli/jsdoc.h"

#include <gtest/gtest.h>

namespace tasker::cli {
namespace {

using Json = nlohmann::json;

TEST(JsDocTest, DescriptionParamsReturnsAndExample) {
  const TaskDoc doc = ParseTaskDoc(R"(/**
 * Searches Gmail for every user of the domain.
 * Second line of the description.
 *
 * @param {string} query - Gmail search query
 * @param {number} [samplesPerUser=2] - messages per user,
 *   shown per user
 * @param {object} [input.options] options
 * @returns {Promise<object>} matches per user
 * @example
 * {"query": "newer_than:7d",
 *  "samplesPerUser": 2}
 */
module.exports = async function (input) { return input; };
)");
  EXPECT_TRUE(doc.warnings.empty());
  EXPECT_EQ(doc.metadata["description"], "Searches Gmail for every user of the domain.\nSecond line of the description.");
  ASSERT_EQ(doc.metadata["params"].size(), 3u);
  EXPECT_EQ(doc.metadata["params"][0],
            Json::parse(R"({"name":"query","type":"string","optional":false,"description":"Gmail search query"})"));
  EXPECT_EQ(doc.metadata["params"][1], Json::parse(R"({"name":"samplesPerUser","type":"number","optional":true,
                                                      "default":"2","description":"messages per user, shown per user"})"));
  EXPECT_EQ(doc.metadata["params"][2],
            Json::parse(R"({"name":"input.options","type":"object","optional":true,"description":"options"})"));
  EXPECT_EQ(doc.metadata["returns"], Json::parse(R"({"type":"Promise<object>","description":"matches per user"})"));
  EXPECT_EQ(doc.metadata["example"], Json::parse(R"({"query":"newer_than:7d","samplesPerUser":2})"));
}

TEST(JsDocTest, DescriptionTagWinsOverFreeText) {
  const TaskDoc doc = ParseTaskDoc("/**\n * @task query-stack-runs\n * @description Lists stack runs.\n */\nreturn 1;");
  EXPECT_EQ(doc.metadata["description"], "Lists stack runs.");
  EXPECT_FALSE(doc.metadata.contains("params"));
}

TEST(JsDocTest, OnlyTheLeadingBlockCounts) {
  EXPECT_TRUE(ParseTaskDoc("const a = 1;\n/** Not the task's doc. */\nreturn a;").metadata.empty());
  // A shebang, line comments, "use strict" and a license comment may come first.
  const TaskDoc doc = ParseTaskDoc("#!/usr/bin/env node\n// header\n'use strict';\n/* license */\n/** Doc. */\nreturn 1;");
  EXPECT_EQ(doc.metadata["description"], "Doc.");
  EXPECT_TRUE(ParseTaskDoc("").metadata.empty());
  EXPECT_TRUE(ParseTaskDoc("/** never closed").metadata.empty());
}

TEST(JsDocTest, FencedExampleAndFirstExampleWins) {
  const TaskDoc doc = ParseTaskDoc("/**\n * @example\n * ```json\n * [1, 2]\n * ```\n * @example\n * {\"b\": 1}\n */");
  EXPECT_EQ(doc.metadata["example"], Json::parse("[1,2]"));
}

TEST(JsDocTest, ExampleThatIsNotJsonIsAWarningWithItsLine) {
  const TaskDoc doc = ParseTaskDoc("\n/**\n * Does things.\n * @example\n * await run({a: 1})\n */\nreturn 1;");
  EXPECT_FALSE(doc.metadata.contains("example"));
  EXPECT_EQ(doc.metadata["description"], "Does things.");
  ASSERT_EQ(doc.warnings.size(), 1u);
  EXPECT_EQ(doc.warnings[0].rfind("line 4: @example is not a JSON input", 0), 0u) << doc.warnings[0];
}

TEST(JsDocTest, ParamForms) {
  const TaskDoc doc = ParseTaskDoc(
      "/**\n * @param name no type\n * @param {string=} closureOptional\n * @param {{a: number}} nested - a record\n"
      " * @param {string}\n */");
  const Json& params = doc.metadata["params"];
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[0], Json::parse(R"({"name":"name","optional":false,"description":"no type"})"));
  EXPECT_EQ(params[1], Json::parse(R"({"name":"closureOptional","type":"string","optional":true})"));
  EXPECT_EQ(params[2], Json::parse(R"({"name":"nested","type":"{a: number}","optional":false,"description":"a record"})"));
  ASSERT_EQ(doc.warnings.size(), 1u);
  EXPECT_EQ(doc.warnings[0], "line 5: @param without a name (left out)");
}

}  // namespace
}  // namespace tasker::cli
