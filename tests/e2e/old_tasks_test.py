#!/usr/bin/env python3
"""Tasks written for the earlier JavaScript platform, unchanged, through
`tasker dev` and the old HTTP API: timers, crypto/URL/TextEncoder/atob/
structuredClone, positional __callHostTool__ calls and `tools.*` chains to the
keystore and a supabase-style database, fetch as a durable call; hot reload of
such a task. The task files are tests/e2e/testdata/old_tasks/."""
import http.server
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import dev_server  # noqa: E402
import junit_runner  # noqa: E402

OLD_TASKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata", "old_tasks")


class Echo(http.server.BaseHTTPRequestHandler):
    """A local JSON API for fetch: answers what it was sent."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        out = json.dumps({"method": "POST", "path": self.path, "json": json.loads(body or b"null"),
                          "contentType": self.headers.get("Content-Type")}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


class OldTasksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cls.tasks = os.path.join(cls.tmp, "tasks")
        shutil.copytree(OLD_TASKS, cls.tasks)
        # The application database the old tasks' supabase chains reach.
        os.makedirs(os.path.join(cls.tmp, ".tasker"), exist_ok=True)
        db = sqlite3.connect(os.path.join(cls.tmp, ".tasker", "app.db"))
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount INTEGER, "
                   "status TEXT NOT NULL DEFAULT 'new')")
        db.commit()
        db.close()
        cls.echo = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
        threading.Thread(target=cls.echo.serve_forever, daemon=True).start()
        cls.dev = dev_server.DevServer(cls.tmp, cls.tasks).start()
        for name in ("timers", "web-globals", "keystore-notes", "orders", "fetcher"):
            cls.dev.wait_for(rf"published {name} v1", timeout=30)

    @classmethod
    def tearDownClass(cls):
        code = cls.dev.stop()
        cls.echo.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if code != 0:
            raise AssertionError(f"tasker dev exited {code}:\n{cls.dev.output()}")

    def run_old(self, name, task_input):
        """As an old client did: submit, then execute (which waits for the run)."""
        submitted = self.dev.api("POST", "/task/submit", {"task_identifier": name, "input": task_input})
        self.assertTrue(submitted["success"], submitted)
        run_id = submitted["taskRunId"]
        self.assertIsInstance(run_id, int)
        done = self.dev.api("POST", f"/task/execute/{run_id}?wait=60", {}, expect=None)
        self.assertTrue(done.get("success"), f"{name}: {done}\n{self.status(run_id)}")
        return done["result"], run_id

    def status(self, run_id):
        return self.dev.api("GET", f"/task/status/{run_id}", expect=None)

    def test_timers_are_durable_calls(self):
        result, run_id = self.run_old("timers", {"ms": 300})
        # (test_an_old_task_edited... may have added "edited" already.)
        self.assertIs(result["waited"], True, result)
        self.assertEqual(result["ticks"], [1, 2, 3])
        self.assertIs(result["cancelledRan"], False)
        # Each timer is a stack run in the journal.
        timers = [s for s in self.status(run_id)["stack_runs"] if s["service_name"] == "timer"]
        self.assertGreaterEqual(len(timers), 5, timers)
        self.assertTrue(all(s["status"] == "completed" for s in timers), timers)

    def test_web_globals(self):
        result, run_id = self.run_old("web-globals", {"name": "Zoë", "url": "https://api.example.com/v1/items?page=2#top"})
        self.assertEqual(result, {
            "uuidOk": True, "randomBytes": 8, "host": "api.example.com",
            "href": "https://api.example.com/v1/items?page=3&q=a+b%26c#top", "query": "a=1&b=two",
            "utf8Bytes": 4, "decoded": "Zoë", "b64": "aGVsbG8=", "unb64": "hello", "cloneOk": True})
        logs = self.status(run_id)["logs"]
        self.assertTrue(any(line["message"].startswith("uuid ") for line in logs), logs)

    def test_keystore_positional_calls_and_tools_chain(self):
        # The operator opens the namespace to task code, over the old route.
        opened = self.dev.api("POST", "/task/keystore",
                              {"namespace": "notes", "key": "seed", "value": "x", "task_readable": True})
        self.assertTrue(opened["success"], opened)
        result, _ = self.run_old("keystore-notes", {"note": "remember the milk"})
        self.assertEqual(result["value"], "remember the milk")
        self.assertIs(result["has"], True)
        self.assertEqual(sorted(result["keys"]), ["latest", "seed"])
        self.assertIs(result["timeOk"], True)

    def test_supabase_style_database_chain(self):
        result, _ = self.run_old("orders", {"customer": "ada", "amount": 42})
        self.assertEqual(result["count"], 1, result)
        self.assertEqual(result["first"], {"customer": "ada", "amount": 42, "status": "paid"})

    def test_fetch_is_a_durable_call(self):
        url = f"http://127.0.0.1:{self.echo.server_address[1]}/things"
        result, run_id = self.run_old("fetcher", {"url": url})
        self.assertEqual(result["status"], 201)
        self.assertIs(result["ok"], True)
        self.assertEqual(result["type"], "application/json")
        self.assertEqual(result["body"]["json"], {"hello": "world"})
        self.assertEqual(result["body"]["contentType"], "application/json")
        calls = [s for s in self.status(run_id)["stack_runs"] if s["operation"] == "http.fetch"]
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0]["input"]["url"], url)

    def test_an_old_task_edited_is_republished_and_used(self):
        path = os.path.join(self.tasks, "timers.js")
        with open(path) as f:
            text = f.read()
        mark = self.dev.mark()
        with open(path + ".tmp~", "w") as f:
            f.write(text.replace("cancelledRan };", "cancelledRan, edited: true };"))
        os.rename(path + ".tmp~", path)
        self.dev.wait_for(r"published timers v2", timeout=10, start=mark)
        result, _ = self.run_old("timers", {"ms": 10})
        self.assertIs(result.get("edited"), True, result)


if __name__ == "__main__":
    junit_runner.main("old_tasks_test")
