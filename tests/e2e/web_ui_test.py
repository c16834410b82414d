#!/usr/bin/env python3
"""The web UI in headless Chromium against the real stack (`tasker dev`): the
task and its description are listed, a run submitted through the form shows
completed with its result, the run page shows the calls as a stack-run tree.
Screenshots (PNG) go to the test's undeclared outputs (bazel-testlogs/.../
test.outputs/outputs.zip)."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import dev_server  # noqa: E402
import junit_runner  # noqa: E402

BROWSER_SCRIPT = os.path.join(dev_server.runfiles_root(), "tests", "e2e", "web_ui_browser.js")
NODE_PATH = "/opt/tasker-npm/node_modules"

GREET = """\
/**
 * Greets someone: looks their greeting up in the application database
 * and records the visit.
 * @param {string} name - who to greet
 * @param {number} [times=1] - how many times
 * @returns {object} the greeting, and whether the name was known
 * @example
 * {"name": "Ada", "times": 2}
 */
module.exports = async function (input) {
  console.log('looking up', input.name);
  const found = await __callHostTool__('database', 'select', {
    table: 'greetings', filters: [{column: 'name', op: 'eq', value: input.name}]});
  const text = found.rows.length ? found.rows[0].text : `Hello, ${input.name}`;
  await __callHostTool__('database', 'insert', {table: 'greetings', rows: [{name: input.name, text: 'visited'}]});
  console.info('recorded the visit');
  return {greeting: Array(input.times || 1).fill(text).join(' '), known: found.rows.length > 0};
};
"""


class WebUiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        tasks = os.path.join(cls.tmp, "tasks")
        os.makedirs(tasks)
        with open(os.path.join(tasks, "greet.js"), "w") as f:
            f.write(GREET)
        # The `database` provider's application database (.tasker/app.db by default).
        os.makedirs(os.path.join(cls.tmp, ".tasker"))
        db = sqlite3.connect(os.path.join(cls.tmp, ".tasker", "app.db"))
        db.executescript("CREATE TABLE greetings (id INTEGER PRIMARY KEY, name TEXT, text TEXT);"
                         "INSERT INTO greetings (name, text) VALUES ('Ada', 'Hello, Ada!');")
        db.commit()
        db.close()
        cls.dev = dev_server.DevServer(cls.tmp, tasks).start()
        cls.dev.wait_for(r"^published greet v1 \(")

    @classmethod
    def tearDownClass(cls):
        code = cls.dev.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if code != 0:
            raise AssertionError(f"tasker dev exited {code}:\n{cls.dev.output()}")

    def test_page_is_served_self_contained(self):
        # curl (no text/html in Accept) gets the routes as JSON, as from the old dev server.
        index = self.dev.api("GET", "/")
        self.assertIn("POST /task/submit", index["endpoints"])
        html = self.dev.api("GET", "/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
        self.assertIn('<script src="/ui/app.js"', html)
        self.assertNotIn("http://", html.replace("http://127.0.0.1", ""))  # no external assets
        js = self.dev.api("GET", "/ui/app.js")
        self.assertIn("function route()", js)
        self.dev.api("GET", "/ui/nope.js", expect=404)

    def test_api_lists_the_task_with_its_jsdoc(self):
        tasks = self.dev.api("GET", "/api/tasks")["tasks"]
        greet = next(t for t in tasks if t["identifier"] == "greet")
        meta = greet["metadata"]
        self.assertTrue(meta["description"].startswith("Greets someone"))
        self.assertEqual(meta["example"], {"name": "Ada", "times": 2})
        self.assertEqual([p["name"] for p in meta["params"]], ["name", "times"])
        self.assertEqual(meta["params"][1]["default"], "1")
        self.assertNotIn("code", greet)
        versions = self.dev.api("GET", "/api/tasks/greet")["versions"]
        self.assertIn("__callHostTool__", versions[0]["code"])
        self.dev.api("GET", "/api/tasks/nope", expect=404)
        bad = self.dev.api("POST", "/api/runs", {"input": {}}, expect=400)
        self.assertEqual(bad["error"]["message"], "task: required")
        self.dev.api("GET", "/api/runs?status=sleeping", expect=400)

    def test_api_runs_filters_and_cancel(self):
        submitted = self.dev.api("POST", "/api/runs", {"task": "greet", "input": {"name": "Bob"}})
        self.assertTrue(submitted["created"])
        run = self.dev.wait_run(submitted["run"]["id"])
        self.assertEqual(run["run"]["result"], {"greeting": "Hello, Bob", "known": False})
        self.assertEqual(run["run"]["input"], {"name": "Bob"})
        self.assertEqual(len([s for s in run["stackRuns"] if s.get("parentId")]), 2)
        for s in run["stackRuns"]:
            self.assertNotIn("leaseOwner", s)  # the public view
        done = self.dev.api("GET", "/api/runs?task=greet&status=completed,failed&limit=100")["runs"]
        self.assertIn(run["run"]["id"], [r["id"] for r in done])
        self.assertTrue(all(r["taskIdentifier"] == "greet" for r in done))
        self.assertEqual(self.dev.api("GET", "/api/runs?status=running&task=greet")["runs"], [])
        self.assertEqual(len(self.dev.api("GET", "/api/runs?limit=1")["runs"]), 1)
        # A finished run cannot be cancelled; an unknown one is not found.
        refused = self.dev.api("POST", f"/api/runs/{run['run']['id']}/cancel", expect=412)
        self.assertEqual(refused["error"]["code"], "FAILED_PRECONDITION")
        self.dev.api("GET", "/api/runs/run_nope", expect=404)
        self.dev.api("POST", "/api/runs", {"task": "nope", "input": {}}, expect=404)

    def test_browser_submits_a_run_and_shows_its_stack_runs(self):
        out = os.environ.get("TEST_UNDECLARED_OUTPUTS_DIR") or self.tmp
        env = dict(os.environ, NODE_PATH=NODE_PATH, HOME=self.tmp)
        proc = subprocess.run(["node", BROWSER_SCRIPT, self.dev.url("/"), "greet", "Greets someone", out],
                              capture_output=True, text=True, timeout=240, env=env)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        self.assertTrue(lines, f"no result from the browser script (exit {proc.returncode}):\n"
                               f"{proc.stdout}\n{proc.stderr}")
        got = json.loads(lines[-1])
        self.assertTrue(got["ok"], f"{got}\n{proc.stderr}\ntasker dev:\n{self.dev.output()}")
        self.assertEqual(got["result"], {"greeting": "Hello, Ada! Hello, Ada!", "known": True})
        self.assertEqual(got["calls"], ["database.select", "database.insert"])
        self.assertIn("looking up Ada", got["logs"])
        for shot in got["screenshots"]:
            with open(shot, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", shot)
        # What the page showed is what the API says.
        run = self.dev.api("GET", f"/api/runs/{got['runId']}")
        self.assertEqual(run["run"]["status"], "RUN_STATUS_COMPLETED")
        self.assertEqual(run["run"]["result"], got["result"])
        calls = sorted((s for s in run["stackRuns"] if s.get("parentId")), key=lambda s: s["callIndex"])
        self.assertEqual([f"{s['service']}.{s['method']}" for s in calls], got["calls"])


if __name__ == "__main__":
    junit_runner.main("web_ui_test")
