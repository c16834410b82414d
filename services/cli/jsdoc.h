// A task file's JSDoc block, as `tasker dev` publishes it with the code
// (the function's metadata_json):
//
//   /**
//    * Searches Gmail for every user of the domain.     <- description (free text,
//    *                                                      or @description)
//    * @param {string} query - Gmail search query
//    * @param {number} [samplesPerUser=2] - messages per user
//    * @returns {object} matches per user
//    * @example
//    * {"query": "newer_than:7d", "samplesPerUser": 2}  <- example input (JSON)
//    */
//
// becomes {"description": "...", "params": [{"name": "query", "type": "string",
// "description": "Gmail search query", "optional": false}, {"name":
// "samplesPerUser", "type": "number", "optional": true, "default": "2", ...}],
// "returns": {"type": "object", "description": "..."}, "example": {...}}.
// Only the block at the top of the file counts (after a shebang, blank lines
// and `//` comments).
#ifndef TASKER_SERVICES_CLI_JSDOC_H_
#define TASKER_SERVICES_CLI_JSDOC_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace tasker::cli {

struct TaskDoc {
  // The metadata object; empty ({}) when the file has no leading JSDoc.
  nlohmann::json metadata = nlohmann::json::object();
  // What was wrong and left out ("line 7: @example is not valid JSON: ..."),
  // 1-based lines of the file.
  std::vector<std::string> warnings;
};

TaskDoc ParseTaskDoc(absl::string_view code);

}  // namespace tasker::cli

#endif  // TASKER_SERVICES_CLI_JSDOC_H_
