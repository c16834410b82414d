"""`tasker dev` as a test drives it: started in a temp folder on free ports,
its output collected line by line, its HTTP API called with urllib."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request


def runfiles_root():
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        return os.path.join(srcdir, os.environ.get("TEST_WORKSPACE", "tasker"))
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bazel-bin")


TASKER = os.path.join(runfiles_root(), "services", "cli", "tasker")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class DevServer:
    """One `tasker dev` process. `workdir` holds .tasker/; `tasks` the tasks folder."""

    def __init__(self, workdir, tasks, env=None, args=(), port_from_env=False):
        self.workdir = workdir
        self.tasks = tasks
        self.port = free_port()
        # PORT instead of --port.
        self.port_from_env = port_from_env
        self.grpc_port = free_port()
        self.env = dict(os.environ)
        # The service binaries: the test's runfiles mirror bazel-bin.
        self.env["TASKER_BIN_DIR"] = runfiles_root()
        self.env.update(env or {})
        if port_from_env:
            self.env["PORT"] = str(self.port)
        self.args = list(args)
        self.lines = []
        self.cond = threading.Condition()
        self.proc = None
        self.eof = False

    def start(self, wait_ready=True):
        self.proc = subprocess.Popen(
            [TASKER, "dev", *([] if self.port_from_env else [f"--port={self.port}"]), f"--grpc_port={self.grpc_port}",
             *([f"--tasks={self.tasks}"] if self.tasks else []), "--grace=10s", *self.args],
            cwd=self.workdir, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        if wait_ready:
            self.wait_for(r"^tasker dev: ready in", timeout=90)
        return self

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def output(self):
        with self.cond:
            return "\n".join(self.lines)

    def wait_for(self, pattern, timeout=30, start=0):
        """The first match of `pattern` in a line from index `start` on; fails
        with the whole output when none comes within `timeout` s."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[start:]:
                    m = regex.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise AssertionError(f"no line matching {pattern!r} within {timeout}s; output:\n" +
                                         "\n".join(self.lines))
                self.cond.wait(min(left, 0.2))

    def mark(self):
        """Index of the next line (for wait_for(start=...))."""
        with self.cond:
            return len(self.lines)

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def api(self, method, path, body=None, expect=200, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url(path), data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                status, text, headers = res.status, res.read().decode(), res.headers
        except urllib.error.HTTPError as e:
            status, text, headers = e.code, e.read().decode(), e.headers
        if expect is not None and status != expect:
            raise AssertionError(f"{method} {path}: HTTP {status}, expected {expect}: {text}")
        return json.loads(text) if headers.get_content_type() == "application/json" else text

    def wait_run(self, run_id, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            got = self.api("GET", f"/api/runs/{run_id}")
            if got["run"]["status"] in ("RUN_STATUS_COMPLETED", "RUN_STATUS_FAILED", "RUN_STATUS_CANCELLED"):
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} did not end: {got['run']}")
            time.sleep(0.05)

    def service_ports(self):
        """The ports every service listened on (their port files)."""
        run = os.path.join(self.workdir, ".tasker", "run")
        ports = {}
        for name in os.listdir(run):
            with open(os.path.join(run, name)) as f:
                text = f.read().strip()
            if text:
                ports[name] = int(text)
        return ports

    def descendants(self):
        """Pids of every process under tasker dev (the services, their workers)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            try:
                with open(f"/proc/{pid}/task/{pid}/children") as f:
                    kids = [int(p) for p in f.read().split()]
            except OSError:
                kids = []
            found.extend(kids)
            todo.extend(kids)
        return found

    def stop(self, sig=signal.SIGTERM, timeout=40):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("tasker dev did not stop within %ss; output:\n%s" % (timeout, self.output()))


def alive(pid):
    """Whether pid runs (a zombie waiting for its reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
