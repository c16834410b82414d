#!/usr/bin/env python3
"""Runs the dev overlay's pod without a cluster: its init container and its
five containers' commands exactly as `kubectl kustomize` renders them, with
the image's layout (/opt/tasker/bin, /var/lib/tasker) mapped to a temp
directory, every port remapped to a free one, and -- when run as root, as CI
is -- as the image's user 65532. Each container must become ready on its
probes (gRPC health on its readiness service name, `liveness`), the executor
must serve its public port, and the data must land where the claim is."""
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import junit_runner  # noqa: E402

try:
    import grpc
    import yaml  # noqa: F401
except ImportError as e:
    sys.exit(f"dev_pod_test: {e} (apt packages python3-grpcio, python3-yaml; run tools/setup)")
import kustomize  # noqa: E402

UID = 65532
BINARIES = ["storage-service", "keystore", "wrapped-service-proxy", "stack-processor", "task-executor",
            "tasker-js-worker"]
BINARY_DIRS = {"storage-service": "services/storage", "keystore": "services/keystore",
               "wrapped-service-proxy": "services/proxy", "stack-processor": "services/processor",
               "task-executor": "services/executor", "tasker-js-worker": "runtime/js"}
SERVING, NOT_SERVING = 1, 2


def health_check(port, service, timeout=2.0):
    """grpc.health.v1.Health/Check over plaintext: the status, or None when
    unreachable / the name is unknown (NOT_FOUND)."""
    name = service.encode()
    request = b"\x0a" + bytes([len(name)]) + name if name else b""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            reply = check(request, timeout=timeout)
        except grpc.RpcError:
            return None
    # HealthCheckResponse{status = 1 (enum)}: b"\x08" + varint, or empty for UNKNOWN.
    return reply[1] if len(reply) >= 2 and reply[0] == 0x08 else 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def known_flags(binary):
    out = subprocess.run([binary, "--helpfull"], capture_output=True, text=True)
    return set(re.findall(r"--(\w+)", out.stdout + out.stderr))


class DevPodTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        kubectl = shutil.which("kubectl")
        if not kubectl:
            raise AssertionError("no kubectl on PATH (tools/setup installs Debian's kubernetes-client)")
        tree = kustomize.copy_tree()
        try:
            docs = kustomize.render(kubectl, os.path.join(tree, "overlays", "dev"))
        finally:
            shutil.rmtree(os.path.dirname(tree), ignore_errors=True)
        (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
        cls.pod = deployment["spec"]["template"]["spec"]
        # The image's layout under one directory the unprivileged user can reach.
        cls.root = tempfile.mkdtemp(prefix="tasker-dev-pod-", dir="/tmp")
        os.chmod(cls.root, 0o755)
        cls.bin = os.path.join(cls.root, "opt", "tasker", "bin")
        os.makedirs(cls.bin)
        for name in BINARIES:
            shutil.copy(kustomize.runfile(BINARY_DIRS[name], name), os.path.join(cls.bin, name))
            os.chmod(os.path.join(cls.bin, name), 0o755)
        cls.data = os.path.join(cls.root, "var", "lib", "tasker")
        cls.tmp = os.path.join(cls.root, "tmp")
        for d in (cls.data, cls.tmp):
            os.makedirs(d)
            os.chmod(d, 0o750 if d == cls.data else 0o1777)
        cls.as_user = os.geteuid() == 0
        if cls.as_user:
            os.chown(cls.data, UID, UID)
        cls.ports = {}
        cls.procs = []
        cls.logs = {}

    @classmethod
    def tearDownClass(cls):
        for _, proc in cls.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in cls.procs:
            try:
                proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(cls.root, ignore_errors=True)

    @classmethod
    def port(cls, number):
        if number not in cls.ports:
            cls.ports[number] = free_port()
        return cls.ports[number]

    @classmethod
    def localize(cls, arg):
        """An argument of the pod, for this machine: paths into the temp
        layout, every port (host:port or --metrics_port=N) remapped."""
        arg = arg.replace("/opt/tasker/bin", cls.bin).replace("/var/lib/tasker", cls.data)
        arg = re.sub(r"(?<=[\w.]:)(\d+)\b", lambda m: str(cls.port(int(m.group(1)))), arg)
        return re.sub(r"^(--metrics_port=)(\d+)$", lambda m: m.group(1) + str(cls.port(int(m.group(2)))), arg)

    @classmethod
    def spawn(cls, name, command, **kwargs):
        def drop():
            os.setgroups([])
            os.setgid(UID)
            os.setuid(UID)
        log = open(os.path.join(cls.root, f"{name}.log"), "w+")
        cls.logs[name] = log
        env = {"PATH": "/usr/bin:/bin", "TMPDIR": cls.tmp, "HOME": cls.data}
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cls.data,
                                preexec_fn=drop if cls.as_user else None, **kwargs)

    def log_of(self, name):
        log = self.logs[name]
        log.flush()
        log.seek(0)
        return log.read()[-3000:]

    def test_the_pod_starts_and_every_container_becomes_ready(self):
        # Init container: the master key, once.
        (init,) = self.pod["initContainers"]
        proc = self.spawn("init", [self.localize(a) for a in init["command"]])
        self.assertEqual(proc.wait(timeout=30), 0, self.log_of("init"))
        key = os.path.join(self.data, "master-key")
        with open(key) as f:
            first = f.read()
        self.assertRegex(first, r"^[0-9a-f]{64}$")
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        if self.as_user:
            self.assertEqual(os.stat(key).st_uid, UID)
        # Run again (a pod restart): the key is kept.
        self.assertEqual(self.spawn("init-again", [self.localize(a) for a in init["command"]]).wait(timeout=30), 0)
        with open(key) as f:
            self.assertEqual(f.read(), first)

        containers = self.pod["containers"]
        for c in containers:
            command = [self.localize(a) for a in c["command"]]
            binary = command[0]
            self.assertTrue(binary.startswith(self.bin), binary)
            self.assertIn("metrics_port", known_flags(binary), binary)
            self.procs.append((c["name"], self.spawn(c["name"], command)))

        deadline = time.monotonic() + 60
        for c, (name, proc) in zip(containers, self.procs):
            probe = c["readinessProbe"]["grpc"]
            port = self.port(probe["port"])
            status = None
            while time.monotonic() < deadline and proc.poll() is None:
                # The probe asks the binary's own service name (per-service
                # health): an unknown name answers NOT_FOUND, never SERVING.
                status = health_check(port, probe["service"])
                if status == SERVING:
                    break
                time.sleep(0.2)
            self.assertIsNone(proc.poll(), f"{name} exited: {self.log_of(name)}")
            self.assertEqual(status, SERVING, f"{name} not ready on {probe}: {self.log_of(name)}")
            live = c["livenessProbe"]["grpc"]
            self.assertEqual(health_check(self.port(live["port"]), live["service"]), SERVING, name)
            # The metrics port the manifest declares serves Prometheus text.
            metrics = next(int(a.split("=", 1)[1]) for a in c["command"] if a.startswith("--metrics_port="))
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port(metrics)}/metrics", timeout=5) as r:
                self.assertIn("# TYPE exposer_scrapes_total counter", r.read().decode(), name)

        # The public API answers on the executor's public port; SQLite is on the claim.
        executor = next(c for c in containers if c["name"] == "task-executor")
        public = next(int(a.rsplit(":", 1)[1]) for a in executor["command"] if a.startswith("--public_listen="))
        self.assertEqual(health_check(self.port(public), ""), SERVING)
        self.assertTrue(os.path.exists(os.path.join(self.data, "tasks.db")))
        if self.as_user:
            self.assertEqual(os.stat(os.path.join(self.data, "tasks.db")).st_uid, UID)


if __name__ == "__main__":
    junit_runner.main("dev_pod_test")
