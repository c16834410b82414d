#!/usr/bin/env python3
"""grpcurl-style use of every binary with `buf curl` (the grpcurl stand-in
tools/setup installs): server reflection v1 and v1alpha list every service,
health included; every method of every service called with JSON (a valid
request where that is cheap, else a deliberately invalid one: the status
code and the field its message names); gRPC health per service name
following each binary's dependencies (storage stopped: the executor,
processor and keystore NOT_SERVING, Check and Watch; storage back: SERVING);
and the same with a token on a server that requires one.

The stack is the real binaries in insecure dev mode, as tests/e2e/stack.cc
starts them, each on its own port."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import junit_runner  # noqa: E402


def runfiles_root():
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        return os.path.join(srcdir, os.environ.get("TEST_WORKSPACE", "tasker"))
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bazel-bin")


BUF = os.environ.get("TASKER_BUF", "/opt/tasker-npm/node_modules/.bin/buf")
MASTER_KEY = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
TOKEN = "ops-token-for-the-grpcurl-test-0123456789"

HEALTH = "grpc.health.v1.Health"
REFLECTION = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]
# What every server serves besides its own services.
COMMON_METHODS = {f"{HEALTH}/Check", f"{HEALTH}/Watch"} | {f"{r}/ServerReflectionInfo" for r in REFLECTION}

# The services each binary serves (its health names besides "").
SERVICES = {
    "storage": ["tasker.v1.Storage"],
    "keystore": ["tasker.v1.Keystore"],
    "proxy": ["tasker.v1.WrappedServiceProxy"],
    "processor": ["tasker.v1.StackProcessor"],
    "executor": ["tasker.v1.TaskService", "tasker.v1.Executor"],
}
BINARIES = {
    "storage": "services/storage/storage-service",
    "keystore": "services/keystore/keystore",
    "proxy": "services/proxy/wrapped-service-proxy",
    "processor": "services/processor/stack-processor",
    "executor": "services/executor/task-executor",
}

# Every method of every service: (binary, "Service/Method", request, expected code, regex its message must match).
# Code "ok": a valid request (its answer printed by buf as JSON); otherwise the gRPC code in buf's
# lower-snake form and the field the error names. Requests are JSON as a grpcurl user writes them.
OK = "ok"
IA = "invalid_argument"
CALLS = [
    # storage (internal: executors, processors, the keystore)
    ("storage", "tasker.v1.Storage/PublishTaskFunction", {}, IA, r"^identifier: "),
    ("storage", "tasker.v1.Storage/GetFunction", {}, IA, r"^identifier: "),
    ("storage", "tasker.v1.Storage/ListFunctions", {}, OK, None),
    ("storage", "tasker.v1.Storage/SubmitTaskRun", {}, IA, r"^task_identifier: "),
    ("storage", "tasker.v1.Storage/GetTaskRun", {}, IA, r"^id: "),
    ("storage", "tasker.v1.Storage/GetTaskRun", {"id": "no-such-run"}, "not_found", r"no-such-run"),
    ("storage", "tasker.v1.Storage/ListTaskRuns", {}, OK, None),
    ("storage", "tasker.v1.Storage/CompleteRun", {}, IA, r"^root_stack_run_id: "),
    ("storage", "tasker.v1.Storage/FailRun", {}, IA, r"^root_stack_run_id: "),
    ("storage", "tasker.v1.Storage/CancelTaskRun", {}, IA, r"^id: "),
    ("storage", "tasker.v1.Storage/AppendRunLogs", {}, IA, r"^task_run_id: "),
    ("storage", "tasker.v1.Storage/GetStackRun", {}, IA, r"^id: "),
    ("storage", "tasker.v1.Storage/ListStackRuns", {}, OK, None),
    ("storage", "tasker.v1.Storage/ClaimWork", {}, IA, r"^kind: must be WORK_KIND_"),
    ("storage", "tasker.v1.Storage/ClaimWork", {"kind": "WORK_KIND_PERFORM_CALL", "owner": "grpcurl", "leaseMs": 1000},
     OK, None),
    ("storage", "tasker.v1.Storage/RenewLease", {}, IA, r"^stack_run_id: "),
    ("storage", "tasker.v1.Storage/ReleaseLease", {}, IA, r"^stack_run_id: "),
    ("storage", "tasker.v1.Storage/RenewLeases", {}, IA, r"^owner: "),
    ("storage", "tasker.v1.Storage/CompleteCall", {}, IA, r"^stack_run_id: "),
    ("storage", "tasker.v1.Storage/RetryCall", {}, IA, r"^stack_run_id: "),
    ("storage", "tasker.v1.Storage/RecordCalls", {}, IA, r"^root_stack_run_id: "),
    ("storage", "tasker.v1.Storage/PutCheckpoint", {}, IA, r"^root_stack_run_id: "),
    ("storage", "tasker.v1.Storage/GetJournal", {}, IA, r"^root_stack_run_id: "),
    ("storage", "tasker.v1.Storage/WriteBatch", {}, OK, None),
    ("storage", "tasker.v1.Storage/PutContinuation", {}, IA, r"^continuation.stack_run_id: "),
    ("storage", "tasker.v1.Storage/GetContinuation", {}, IA, r"^stack_run_id: "),
    ("storage", "tasker.v1.Storage/AcquireTaskLock", {}, IA, r"^task_run_id: "),
    ("storage", "tasker.v1.Storage/ReleaseTaskLock", {}, IA, r"^task_run_id: "),
    ("storage", "tasker.v1.Storage/PutKeystoreEntry", {}, IA, r"^namespace: "),
    ("storage", "tasker.v1.Storage/GetKeystoreEntry", {}, IA, r"^namespace: "),
    ("storage", "tasker.v1.Storage/DeleteKeystoreEntry", {}, IA, r"^namespace: "),
    ("storage", "tasker.v1.Storage/ListKeystoreEntries", {}, OK, None),
    # keystore
    ("keystore", "tasker.v1.Keystore/SetKey", {"namespace": "global", "key": "GRPCURL", "value": "v"}, OK, None),
    ("keystore", "tasker.v1.Keystore/GetKey", {"namespace": "global", "key": "GRPCURL"}, OK, None),
    ("keystore", "tasker.v1.Keystore/HasKey", {"namespace": "global", "key": "GRPCURL"}, OK, None),
    ("keystore", "tasker.v1.Keystore/ListKeys", {"namespace": "global"}, OK, None),
    ("keystore", "tasker.v1.Keystore/ListNamespaces", {}, OK, None),
    ("keystore", "tasker.v1.Keystore/DeleteKey", {}, IA, r"^namespace: "),
    ("keystore", "tasker.v1.Keystore/DeleteKey", {"namespace": "global", "key": "GRPCURL"}, OK, None),
    ("keystore", "tasker.v1.Keystore/SetNamespacePolicy", {}, IA, r"^key: "),
    # proxy
    ("proxy", "tasker.v1.WrappedServiceProxy/ListServices", {}, OK, None),
    ("proxy", "tasker.v1.WrappedServiceProxy/Call", {}, IA, r"^service: unknown service ''"),
    # processor
    ("processor", "tasker.v1.StackProcessor/GetProcessorStats", {}, OK, None),
    ("processor", "tasker.v1.StackProcessor/NotifyCalls", {}, OK, None),
    # executor: the public TaskService (a whole run through it: GrpcurlTest.test_e) and the internal Executor
    ("executor", "tasker.v1.TaskService/PublishTask", {}, IA, r"^code: "),
    ("executor", "tasker.v1.TaskService/PublishTask", {"code": "module.exports = async () => 1;"}, IA,
     r"^identifier: "),
    ("executor", "tasker.v1.TaskService/GetTaskFunction", {}, IA, r"^identifier: "),
    ("executor", "tasker.v1.TaskService/ListTaskFunctions", {}, OK, None),
    ("executor", "tasker.v1.TaskService/SubmitRun", {}, IA, r"^task_identifier: "),
    ("executor", "tasker.v1.TaskService/GetRun", {}, IA, r"^name: "),
    ("executor", "tasker.v1.TaskService/ListRuns", {}, OK, None),
    ("executor", "tasker.v1.TaskService/CancelRun", {}, IA, r"^name: "),
    ("executor", "tasker.v1.TaskService/WatchRun", {}, IA, r"^name: "),
    ("executor", "tasker.v1.Executor/Notify", {}, IA, r"^kind: must be WORK_KIND_"),
    ("executor", "tasker.v1.Executor/DeliverResults", {}, OK, None),
    ("executor", "tasker.v1.Executor/GetExecutorStats", {}, OK, None),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def buf_curl(target, *args, data=None, timeout=30, home=None):
    """Runs `buf curl` against 127.0.0.1 `target` (host:port or host:port/path); (exit code, stdout, stderr)."""
    cmd = [BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge", *args]
    if data is not None:
        cmd += ["-d", json.dumps(data)]
    cmd.append("http://" + target)
    env = dict(os.environ, HOME=home or os.environ.get("TEST_TMPDIR", tempfile.gettempdir()))
    got = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    return got.returncode, got.stdout, got.stderr


def error_of(stderr):
    """buf curl's error answer: {"code": "...", "message": "..."} printed on stderr."""
    start = stderr.find("{")
    if start < 0:
        return None
    try:
        return json.JSONDecoder().raw_decode(stderr[start:])[0]
    except ValueError:
        return None


class Service:
    """One binary as a process, on a fixed port (so a restart keeps its address)."""

    def __init__(self, name, workdir, args, env=None, port=None):
        self.name = name
        self.workdir = workdir
        self.args = args
        self.env = dict(os.environ, **(env or {}))
        self.port = port or free_port()
        self.proc = None
        self.log_path = os.path.join(workdir, f"{name}.log")

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        port_file = os.path.join(self.workdir, f"{self.name}.port")
        if os.path.exists(port_file):
            os.remove(port_file)
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [os.path.join(runfiles_root(), BINARIES[self.name]), f"--listen={self.target}", f"--port_file={port_file}",
             "--shutdown_grace=2s", "--dependency_check_interval=200ms", *self.args],
            cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 60
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not start:\n{self.log()}")
            time.sleep(0.05)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode if self.proc else 0
        self.proc = None
        return code

    def log(self):
        with open(self.log_path) as f:
            return f.read()


class Stack:
    """storage, keystore, proxy, processor, executor; `extra_args` go to each (default: insecure dev mode)."""

    def __init__(self, workdir, extra_args=("--insecure_dev",)):
        self.workdir = workdir
        db = f"sqlite://{workdir}/tasks.db"
        storage = Service("storage", workdir, [f"--database_url={db}", *extra_args])
        self.services = {"storage": storage}
        keystore = Service("keystore", workdir, [f"--storage={storage.target}", *extra_args],
                           env={"TASKER_MASTER_KEY": MASTER_KEY})
        proxy = Service("proxy", workdir, [f"--keystore={keystore.target}", *extra_args])
        executor_port = free_port()
        processor = Service("processor", workdir, [f"--storage={storage.target}", f"--proxy={proxy.target}",
                                                   f"--executors=127.0.0.1:{executor_port}", *extra_args])
        executor = Service("executor", workdir, [f"--storage={storage.target}", f"--processors={processor.target}",
                                                 "--default_permissions=all", "--js_workers=1", *extra_args],
                           port=executor_port)
        self.services.update(keystore=keystore, proxy=proxy, processor=processor, executor=executor)

    def start(self):
        for name in ["storage", "keystore", "proxy", "processor", "executor"]:
            self.services[name].start()
        return self

    def stop(self):
        return {name: self.services[name].stop() for name in ["executor", "processor", "proxy", "keystore", "storage"]}

    def __getitem__(self, name):
        return self.services[name]


HEALTH_PROTO = "/usr/share/grpc-proto/grpc/health/v1/health.proto"


def health(target, service, reflect=True):
    """grpc.health.v1.Health/Check: "SERVING", "NOT_SERVING", or the error code ("not_found"). The schema from
    the server's reflection, or (reflect=False: no token at hand) from Debian's grpc-proto, as a probe needs."""
    args = [] if reflect else ["--schema", HEALTH_PROTO]
    code, out, err = buf_curl(f"{target}/{HEALTH}/Check", *args, data={"service": service}, timeout=10)
    if code != 0:
        e = error_of(err)
        return e["code"] if e else f"buf exited {code}: {err}"
    return json.loads(out)["status"] if out.strip() else "UNKNOWN"


def wait_health(target, service, want, timeout=20):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = health(target, service)
        if got == want:
            return got
        time.sleep(0.2)
    raise AssertionError(f"health of {service!r} at {target}: {got}, wanted {want} within {timeout}s")


class HealthWatch:
    """A `buf curl .../Health/Watch` stream: the statuses it prints, as they come."""

    def __init__(self, target, service):
        env = dict(os.environ, HOME=os.environ.get("TEST_TMPDIR", tempfile.gettempdir()))
        self.proc = subprocess.Popen(
            [BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", json.dumps({"service": service}),
             f"http://{target}/{HEALTH}/Watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.statuses = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        text = ""
        decoder = json.JSONDecoder()
        for line in self.proc.stdout:
            text += line
            while True:
                stripped = text.lstrip()
                if not stripped:
                    break
                try:
                    obj, end = decoder.raw_decode(stripped)
                except ValueError:
                    break
                text = stripped[end:]
                with self.cond:
                    self.statuses.append(obj.get("status", "UNKNOWN"))
                    self.cond.notify_all()

    def wait_for(self, status, after=0, timeout=20):
        """Index of the first `status` at index >= after."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(after, len(self.statuses)):
                    if self.statuses[i] == status:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"Watch: no {status} after index {after} within {timeout}s: {self.statuses}")
                self.cond.wait(min(left, 0.2))

    def close(self):
        self.proc.kill()
        self.proc.wait()


class GrpcurlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cls.stack = Stack(cls.tmp).start()
        for name in SERVICES:
            wait_health(cls.stack[name].target, "", "SERVING")

    @classmethod
    def tearDownClass(cls):
        codes = cls.stack.stop()
        logs = {name: cls.stack[name].log() for name in codes}
        shutil.rmtree(cls.tmp, ignore_errors=True)
        bad = {name: code for name, code in codes.items() if code != 0}
        if bad:
            raise AssertionError(f"exit codes {bad}:\n" + "\n".join(f"== {n}\n{logs[n]}" for n in bad))

    def list_methods(self, name, protocol):
        code, out, err = buf_curl(self.stack[name].target, "--reflect-protocol", protocol, "--list-methods")
        self.assertEqual(code, 0, f"{name} {protocol}: {err}")
        return set(out.split())

    def test_a_reflection_v1_and_v1alpha_list_every_method_health_included(self):
        for name, services in SERVICES.items():
            expected = set(COMMON_METHODS)
            expected |= {method for (binary, method, *_) in CALLS if binary == name}
            for protocol in ["grpc-v1", "grpc-v1alpha"]:
                with self.subTest(binary=name, protocol=protocol):
                    self.assertEqual(self.list_methods(name, protocol), expected)
            code, out, err = buf_curl(self.stack[name].target, "--reflect-protocol", "grpc-v1", "--list-services")
            self.assertEqual(code, 0, err)
            self.assertEqual(set(out.split()), set(services) | {HEALTH, *REFLECTION})

    def test_b_every_method_of_every_service_answers_as_grpcurl_calls_it(self):
        for name, method, request, want, pattern in CALLS:
            with self.subTest(binary=name, method=method):
                code, out, err = buf_curl(f"{self.stack[name].target}/{method}", data=request)
                if want == OK:
                    self.assertEqual(code, 0, f"{method}: {err}")
                    # One JSON message (a stream's first message for server streams).
                    json.JSONDecoder().raw_decode(out.lstrip() or "{}")
                else:
                    e = error_of(err)
                    self.assertIsNotNone(e, f"{method}: exit {code}, stdout {out!r}, stderr {err!r}")
                    self.assertEqual(e["code"], want, f"{method}: {e}")
                    self.assertRegex(e.get("message", ""), pattern, f"{method}: {e}")

    def test_c_health_per_service_name(self):
        for name, services in SERVICES.items():
            target = self.stack[name].target
            for service in ["", "liveness", *services]:
                with self.subTest(binary=name, service=service):
                    self.assertEqual(health(target, service), "SERVING")
            with self.subTest(binary=name, service="unknown"):
                self.assertEqual(health(target, "tasker.v1.NoSuchService"), "not_found")

    def test_d_storage_down_dependents_not_serving_then_serving_again(self):
        executor = self.stack["executor"].target
        watch = HealthWatch(executor, "tasker.v1.TaskService")
        try:
            watch.wait_for("SERVING")
            self.stack["storage"].stop()
            mark = watch.wait_for("NOT_SERVING")
            for name in ["executor", "processor", "keystore"]:
                for service in ["", *SERVICES[name]]:
                    with self.subTest(binary=name, service=service, storage="down"):
                        wait_health(self.stack[name].target, service, "NOT_SERVING")
                # Liveness is not readiness: the process is fine.
                self.assertEqual(health(self.stack[name].target, "liveness"), "SERVING")
            # The proxy through the keystore (its credentials live in storage).
            self.assertEqual(health(self.stack["proxy"].target, ""), "NOT_SERVING")
            self.assertIn("dependency down", self.stack["executor"].log())
            self.stack["storage"].start()
            watch.wait_for("SERVING", after=mark + 1)
            for name in SERVICES:
                for service in ["", *SERVICES[name]]:
                    with self.subTest(binary=name, service=service, storage="back"):
                        wait_health(self.stack[name].target, service, "SERVING")
        finally:
            watch.close()

    def test_e_a_run_through_the_public_api_as_grpcurl_drives_it(self):
        api = f"{self.stack['executor'].target}/tasker.v1.TaskService"
        code = "module.exports = async function (input) { return {hello: input.who}; };"
        rc, out, err = buf_curl(f"{api}/PublishTask", data={"identifier": "grpcurl-hello", "code": code})
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["identifier"], "grpcurl-hello")
        rc, out, err = buf_curl(f"{api}/GetTaskFunction", data={"identifier": "grpcurl-hello"})
        self.assertEqual(rc, 0, err)
        rc, out, err = buf_curl(f"{api}/SubmitRun", data={"taskIdentifier": "grpcurl-hello",
                                                          "inputJson": json.dumps({"who": "buf"})})
        self.assertEqual(rc, 0, err)
        run_id = json.loads(out)["run"]["id"]
        # WatchRun streams events until the final one.
        rc, out, err = buf_curl(f"{api}/WatchRun", data={"name": run_id}, timeout=60)
        self.assertEqual(rc, 0, err)
        decoder, events, rest = json.JSONDecoder(), [], out.strip()
        while rest:
            event, end = decoder.raw_decode(rest)
            events.append(event)
            rest = rest[end:].strip()
        self.assertTrue(events[-1].get("final"), events)
        self.assertEqual(events[-1]["run"]["status"], "RUN_STATUS_COMPLETED", events)
        self.assertEqual(json.loads(events[-1]["run"]["resultJson"]), {"hello": "buf"})
        rc, out, err = buf_curl(f"{api}/GetRun", data={"name": f"runs/{run_id}"})
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["run"]["id"], run_id)
        rc, out, err = buf_curl(f"{api}/ListRuns", data={})
        self.assertEqual(rc, 0, err)
        self.assertIn(run_id, [r["id"] for r in json.loads(out)["runs"]])
        # Cancelling a finished run: refused, naming its state.
        rc, out, err = buf_curl(f"{api}/CancelRun", data={"name": run_id})
        self.assertEqual(error_of(err)["code"], "failed_precondition", err)


class TokenTest(unittest.TestCase):
    """A server that requires tokens: health needs none, reflection and calls need one."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        with open(os.path.join(cls.tmp, "credentials"), "w") as f:
            f.write(f"ops admin {TOKEN}\nexecutor-1 executor {TOKEN}-executor\n")
        cls.storage = Service("storage", cls.tmp, [f"--database_url=sqlite://{cls.tmp}/tasks.db",
                                                  f"--credentials_file={cls.tmp}/credentials"]).start()

    @classmethod
    def tearDownClass(cls):
        cls.storage.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_health_without_a_token_calls_and_reflection_with_one(self):
        target = self.storage.target
        self.assertEqual(health(target, "tasker.v1.Storage", reflect=False), "SERVING")
        self.assertEqual(health(target, "", reflect=False), "SERVING")
        code, _, err = buf_curl(target, "--list-services")
        self.assertNotEqual(code, 0)
        self.assertIn("not authenticated", err)  # buf's words for UNAUTHENTICATED from reflection
        auth = f"Authorization: Bearer {TOKEN}-executor"
        code, out, err = buf_curl(target, "--reflect-header", auth, "--list-services")
        self.assertEqual(code, 0, err)
        self.assertIn("tasker.v1.Storage", out.split())
        # -H for the call, --reflect-header '*' to send it with reflection too.
        code, out, err = buf_curl(f"{target}/tasker.v1.Storage/ListFunctions", "-H", auth, "--reflect-header", "*",
                                  data={})
        self.assertEqual(code, 0, err)
        # A known token without the role: refused naming the role.
        code, out, err = buf_curl(f"{target}/tasker.v1.Storage/ListFunctions", "-H",
                                  f"Authorization: Bearer {TOKEN}", "--reflect-header", "*", data={})
        self.assertEqual(error_of(err)["code"], "permission_denied", err)


if __name__ == "__main__":
    junit_runner.main("grpcurl_test")
