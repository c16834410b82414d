#!/usr/bin/env python3
"""`tasker dev`: hot reload of the tasks folder (a change live within a second,
runs in flight keep their version, a syntax error reported with file:line:column
while the previous version stays live, NAME/index.js, deleted files), and the
life of the services (clean stop, no orphans after SIGKILL, a failing service
named, restarts publishing only what changed)."""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import dev_server  # noqa: E402
import junit_runner  # noqa: E402


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # As editors save: a new file renamed over the old one.
    tmp = path + ".tmp~"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def versioned(n, doc="Returns its version."):
    return f"/**\n * {doc}\n * @param {{string}} [who=you] - whom it answers\n * @example\n * {{\"who\": \"me\"}}\n */\n" \
           f"module.exports = async function (input) {{ return {{version: {n}, who: input.who}}; }};\n"


class HotReloadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cls.tasks = os.path.join(cls.tmp, "tasks")
        os.makedirs(cls.tasks)
        cls.dev = dev_server.DevServer(cls.tmp, cls.tasks).start()

    @classmethod
    def tearDownClass(cls):
        code = cls.dev.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if code != 0:
            raise AssertionError(f"tasker dev exited {code}:\n{cls.dev.output()}")

    def version_of(self, name):
        for t in self.dev.api("GET", "/api/tasks")["tasks"]:
            if t["identifier"] == name:
                return int(t["version"])
        return 0

    def run_task(self, name, task_input):
        run = self.dev.api("POST", "/api/runs", {"task": name, "input": task_input})["run"]
        return self.dev.wait_run(run["id"])["run"]

    def publish_and_wait(self, name, text, version):
        """Writes the file; returns how long until `version` was live (s)."""
        path = os.path.join(self.tasks, name + ".js")
        start = time.monotonic()
        write(path, text)
        while self.version_of(name) < version:
            if time.monotonic() - start > 10:
                raise AssertionError(f"{name} v{version} not live after 10 s:\n{self.dev.output()}")
            time.sleep(0.01)
        return time.monotonic() - start

    def test_a_change_is_live_within_a_second(self):
        mark = self.dev.mark()
        self.publish_and_wait("counter", versioned(1), 1)
        m = self.dev.wait_for(r"^published counter v1 \((\d+) B\)$", start=mark)
        self.assertEqual(int(m.group(1)), len(versioned(1)))
        latencies = [self.publish_and_wait("counter", versioned(n), n) for n in (2, 3, 4)]
        print(f"republish latencies: {', '.join(f'{1000 * s:.0f} ms' for s in latencies)}", file=sys.stderr)
        self.assertLess(statistics.median(latencies), 1.0, latencies)
        self.assertLess(max(latencies), 2.0, latencies)
        run = self.run_task("counter", {"who": "test"})
        self.assertEqual(run["result"], {"version": 4, "who": "test"})
        self.assertEqual(run["taskVersion"], "4")
        # The JSDoc went with the code.
        meta = self.dev.api("GET", "/api/tasks/counter")["versions"][0]["metadata"]
        self.assertEqual(meta["description"], "Returns its version.")
        self.assertEqual(meta["example"], {"who": "me"})
        # Saving the same content again publishes nothing.
        mark = self.dev.mark()
        write(os.path.join(self.tasks, "counter.js"), versioned(4))
        os.utime(os.path.join(self.tasks, "counter.js"))
        time.sleep(0.6)
        self.assertEqual(self.version_of("counter"), 4)
        self.assertNotIn("published counter", "\n".join(self.dev.lines[mark:]))

    def test_runs_in_flight_keep_their_version(self):
        slow = ("let x = 0;\nfor (let i = 0; i < 3e8; i++) x += i % 7;\nreturn {version: 1, x: x > 0};\n")
        self.publish_and_wait("pinned", slow, 1)
        first = self.dev.api("POST", "/api/runs", {"task": "pinned", "input": {}})["run"]
        self.publish_and_wait("pinned", "return {version: 2};\n", 2)
        second = self.dev.api("POST", "/api/runs", {"task": "pinned", "input": {}})["run"]
        done_first = self.dev.wait_run(first["id"])["run"]
        self.assertEqual(done_first["taskVersion"], "1")
        self.assertEqual(done_first["result"], {"version": 1, "x": True})
        done_second = self.dev.wait_run(second["id"])["run"]
        self.assertEqual(done_second["taskVersion"], "2")
        self.assertEqual(done_second["result"], {"version": 2})

    def test_a_syntax_error_is_located_and_the_previous_version_stays_live(self):
        self.publish_and_wait("fragile", versioned(1), 1)
        path = os.path.join(self.tasks, "fragile.js")
        mark = self.dev.mark()
        # Line 10, column 13: the second "=".
        write(path, versioned(1) + "\nfunction helper() {\n  const a = = 2;\n}\n")
        m = self.dev.wait_for(r"^(.*):(\d+):(\d+): SyntaxError: (.*)$", start=mark, timeout=10)
        self.assertEqual(m.group(1), path)
        self.assertEqual((int(m.group(2)), int(m.group(3))), (10, 13), m.group(0))
        self.dev.wait_for(r"^  \(fragile v1 stays live\)$", start=mark)
        self.assertIn("      const a = = 2;", self.dev.output())  # the line, with a caret under the column
        time.sleep(0.3)
        self.assertEqual(self.version_of("fragile"), 1)
        self.assertEqual(self.run_task("fragile", {"who": "x"})["result"], {"version": 1, "who": "x"})
        # Undone: v1 is what is live, nothing to publish.
        mark = self.dev.mark()
        write(path, versioned(1))
        self.dev.wait_for(r": back to fragile v1, which stays live$", start=mark, timeout=10)
        self.assertEqual(self.version_of("fragile"), 1)
        # Fixed differently: a new version.
        self.publish_and_wait("fragile", versioned(2), 2)
        # A new task that does not compile is not published at all.
        mark = self.dev.mark()
        write(os.path.join(self.tasks, "stillborn.js"), "return (;\n")
        self.dev.wait_for(r"stillborn\.js:1:9: SyntaxError", start=mark, timeout=10)
        self.dev.wait_for(r"^  \(stillborn is not published\)$", start=mark)
        self.assertEqual(self.version_of("stillborn"), 0)

    def test_folder_tasks_and_deleted_files(self):
        folder = os.path.join(self.tasks, "nested")
        mark = self.dev.mark()
        os.makedirs(folder)
        write(os.path.join(folder, "index.js"), "/** A task in a folder. */\nreturn 'nested';\n")
        self.dev.wait_for(r"^published nested v1 ", start=mark, timeout=10)
        self.assertEqual(self.run_task("nested", None)["result"], "nested")
        write(os.path.join(folder, "index.js"), "/** A task in a folder. */\nreturn 'nested 2';\n")
        self.dev.wait_for(r"^published nested v2 ", start=mark, timeout=10)
        mark = self.dev.mark()
        shutil.rmtree(folder)
        self.dev.wait_for(r"deleted: nested v2 stays published$", start=mark, timeout=10)
        self.assertEqual(self.version_of("nested"), 2)
        self.assertEqual(self.run_task("nested", None)["result"], "nested 2")
        # Files that are not tasks are left alone.
        mark = self.dev.mark()
        with open(os.path.join(self.tasks, "notes.txt"), "w") as f:
            f.write("not a task")
        with open(os.path.join(self.tasks, ".hidden.js"), "w") as f:
            f.write("return 1;")
        time.sleep(0.5)
        self.assertEqual(self.dev.lines[mark:], [])


class LifecycleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        self.tasks = os.path.join(self.tmp, "tasks")
        os.makedirs(self.tasks)
        self.servers = []

    def tearDown(self):
        for dev in self.servers:
            if dev.proc and dev.proc.poll() is None:
                dev.stop(signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server(self, **kwargs):
        dev = dev_server.DevServer(self.tmp, self.tasks, **kwargs)
        self.servers.append(dev)
        return dev

    def test_stops_cleanly_and_a_restart_publishes_only_what_changed(self):
        write(os.path.join(self.tasks, "a.js"), "return 'a1';\n")
        write(os.path.join(self.tasks, "b.js"), "return 'b1';\n")
        db = os.path.join(self.tmp, "data", "dev.db")
        dev = self.server(env={"SQLITE_DB_PATH": db}).start()
        dev.wait_for(r"^published b v1 ")
        self.assertIn(f"database   sqlite {db}", dev.output())
        self.assertTrue(os.path.exists(db))
        ports = dev.service_ports()
        self.assertEqual(set(ports), {"storage.port", "keystore.port", "proxy.port", "processor.port",
                                      "executor.port", "http.port"})
        self.assertEqual(dev.stop(signal.SIGINT), 0, dev.output())
        self.assertIn("tasker dev: stopped.", dev.output())
        for name, port in ports.items():
            self.assertFalse(dev_server.listening(port), f"{name} still listens on {port}")
        for name in ("storage", "keystore", "proxy", "processor", "executor"):
            self.assertTrue(os.path.getsize(os.path.join(self.tmp, ".tasker", "logs", name + ".log")) > 0, name)

        write(os.path.join(self.tasks, "b.js"), "return 'b2';\n")
        again = self.server(env={"SQLITE_DB_PATH": db}).start()
        again.wait_for(r"^published b v2 ")
        again.wait_for(r"^up to date: a v1$")
        self.assertNotIn("published a", again.output())
        self.assertEqual(again.stop(), 0)

    def test_port_from_the_environment_and_a_port_in_use(self):
        dev = self.server(port_from_env=True).start()
        self.assertIn(f"web UI     http://127.0.0.1:{dev.port}/", dev.output())
        self.assertEqual(dev.api("GET", "/health")["status"], "ok")
        # A second one on the same port says so and exits 1.
        second = self.server(args=["--verbose"])
        second.port = dev.port
        second.start(wait_ready=False)
        self.assertEqual(second.proc.wait(timeout=30), 1)
        second.wait_for(f"port {dev.port} on 127.0.0.1 is in use; choose another with --port or PORT")
        self.assertEqual(dev.stop(), 0)

    def test_sigkill_leaves_no_orphans(self):
        write(os.path.join(self.tasks, "x.js"), "return 1;\n")
        dev = self.server().start()
        dev.wait_for(r"^published x v1 ")
        pids = dev.descendants()
        # Five services and the executor's JavaScript workers.
        self.assertGreaterEqual(len(pids), 6, pids)
        dev.proc.kill()
        dev.proc.wait()
        deadline = time.monotonic() + 10
        while any(dev_server.alive(p) for p in pids):
            if time.monotonic() > deadline:
                left = [p for p in pids if dev_server.alive(p)]
                for p in left:
                    os.kill(p, signal.SIGKILL)
                self.fail(f"still running 10 s after tasker dev was killed: {left}")
            time.sleep(0.05)

    def test_a_service_that_dies_is_named_and_stops_the_rest(self):
        dev = self.server().start()
        ports = dev.service_ports()
        storage = [p for p in dev.descendants()
                   if "storage-service" in open(f"/proc/{p}/cmdline").read()]
        self.assertEqual(len(storage), 1)
        os.kill(storage[0], signal.SIGKILL)
        self.assertEqual(dev.proc.wait(timeout=60), 1)
        dev.wait_for(r"^tasker dev: storage died; stopping the other services$")
        self.assertRegex(dev.output(), r"storage exited unexpectedly \(killed by signal 9")
        for name, port in ports.items():
            self.assertFalse(dev_server.listening(port), f"{name} still listens on {port}")

    def test_a_service_that_fails_to_start_is_named(self):
        dev = self.server(env={"TASKER_DATABASE_URL": "postgres://tasker@127.0.0.1:1/nothing"})
        dev.start(wait_ready=False)
        self.assertEqual(dev.proc.wait(timeout=60), 1)
        dev.wait_for(r"^tasker dev: storage failed to start \(exit code \d+\)")
        # Why, in the service's own words.
        self.assertIn("[storage] error: cannot start (error=UNAVAILABLE: cannot connect to postgres", dev.output())

    def test_old_platform_variables(self):
        # The old publish script's folder, $TASKS_DIRECTORY/endpoints.
        old = os.path.join(self.tmp, "taskcode")
        write(os.path.join(old, "endpoints", "legacy.js"), "return 'from endpoints';\n")
        key_file = os.path.join(self.tmp, "sa.json")
        with open(key_file, "w") as f:
            f.write('{"type": "service_account"}')
        dev = self.server(env={"TASKS_DIRECTORY": old, "DEBUG": "*", "SUPABASE_URL": "http://127.0.0.1:54321",
                               "SERVICE_BASE_URL": "http://localhost:3000", "TASK_TIMEOUT": "300000",
                               "NODE_ENV": "development", "OPENAI_API_KEY": "sk-test", "GAPI_KEY": key_file,
                               "GAPI_ADMIN_EMAIL": "admin@example.com", "LOG_LEVEL": "debug"})
        dev.tasks = None  # no --tasks
        dev.start()
        dev.wait_for(r"^published legacy v1 ")
        out = dev.output()
        self.assertIn("ignoring SUPABASE_URL, SERVICE_BASE_URL (the old platform's service clients", out)
        self.assertIn("ignoring TASK_TIMEOUT (the old platform's tuning", out)
        self.assertNotIn("NODE_ENV", out)
        # DEBUG streams every line; LOG_LEVEL=debug reaches the services.
        self.assertRegex(out, r"\[storage\] info: ")
        cmdlines = [open(f"/proc/{p}/cmdline").read() for p in dev.descendants()]
        self.assertTrue(any("storage-service" in c and "--log_level=debug" in c for c in cmdlines), cmdlines)
        for key, var in (("OPENAI_API_KEY", "OPENAI_API_KEY"), ("GAPI_KEY", "GAPI_KEY"),
                         ("GAPI_ADMIN_EMAIL", "GAPI_ADMIN_EMAIL")):
            self.assertIn(f"keystore: {key} set from {var}", out)
        # They are in the keystore, where the providers read them.
        buf = "/opt/tasker-npm/node_modules/@bufbuild/buf-linux-x64/bin/buf"
        got = subprocess.run([buf, "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d",
                              '{"namespace":"global","key":"GAPI_KEY"}',
                              f"http://127.0.0.1:{dev.service_ports()['keystore.port']}/tasker.v1.Keystore/GetKey"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertEqual(json.loads(json.loads(got.stdout)["value"]), {"type": "service_account"})
        self.assertEqual(dev.stop(), 0)

    def test_missing_binaries_are_named(self):
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        dev = self.server(env={"TASKER_BIN_DIR": empty})
        dev.start(wait_ready=False)
        self.assertEqual(dev.proc.wait(timeout=30), 1)
        dev.wait_for(r"cannot find the service binaries \(missing in .*empty: services/storage/storage-service")
        self.assertIn("TASKER_BIN_DIR", dev.output())


if __name__ == "__main__":
    junit_runner.main("dev_test")
