// The web UI of the HTTP gateway: a small single-page app (HTML, CSS and
// JavaScript from services/executor/web/, embedded in the binary at build
// time; no external assets, no build step) and the JSON it reads:
//
//   GET  /                       the app (its pages are #/ tasks, #/tasks/NAME,
//                                #/runs, #/runs/ID) when the client accepts
//                                text/html (a browser); otherwise the routes,
//                                as JSON (as the old dev server answered curl)
//   GET  /ui/app.js, /ui/app.css its assets
//   GET  /api/tasks              {"tasks": [latest version of each task, with
//                                its metadata; no code]}
//   GET  /api/tasks/:name        {"versions": [every version, newest first; the
//                                newest with its code]}
//   POST /api/runs               {"task", "input"?, "version"?} -> {"run", "created"}
//   GET  /api/runs?limit=&task=&status=&page_token=
//                                {"runs": [newest first], "nextPageToken"}
//                                (status: completed, failed, ... comma-separated)
//   GET  /api/runs/:id           {"run" (with its logs), "stackRuns"}
//   POST /api/runs/:id/cancel    the cancelled run
//
// Payloads appear as JSON values ("input": {...}) as everywhere in the HTTP
// API, and runs and stack runs in their public view (TaskApi). Errors:
// {"error": {"code", "message"}} with the gateway's status codes. The routes
// are behind the gateway's authentication like every other one.
#ifndef TASKER_SERVICES_EXECUTOR_WEB_UI_H_
#define TASKER_SERVICES_EXECUTOR_WEB_UI_H_

#include <functional>
#include <string>

#include "services/executor/task_api.h"

namespace httplib {
class Server;
struct Request;
}  // namespace httplib

namespace tasker::services {

// `caller` names the identity behind a request (the audit log of a cancel).
void RegisterWebUi(httplib::Server& server, TaskApi* api,
                   std::function<std::string(const httplib::Request&)> caller);

}  // namespace tasker::services

#endif  // TASKER_SERVICES_EXECUTOR_WEB_UI_H_
