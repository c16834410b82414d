#!/usr/bin/env python3
"""The image's runtime stage for real, without a container engine: a
Debian 12 minbase root file system (debootstrap, the same package set as
debian:bookworm-slim's base), the Dockerfile's runtime-stage RUN instructions
executed in it verbatim (chroot), its COPY of the binaries (the ones Bazel
built here, as the build stage does), then the dev overlay's pod run inside
it as the Dockerfile's USER: every container ready on its probes, and a task
published and run to completion through the public API with the image's own
`tasker` CLI. /opt/tasker-libnode does not exist in there: the binaries find
Debian's libnode108 as installed by apt.

Manual (tag "manual": `bazel test //tests/deploy:image_smoke_test`): it
needs root, debootstrap, and Debian's package repositories (this machine's
apt sources are copied in), and takes a few minutes the first time. The
minbase tree is cached as a tarball in $TASKER_IMAGE_SMOKE_CACHE
(default /var/cache/tasker-image-smoke)."""
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import junit_runner  # noqa: E402
import kustomize  # noqa: E402
import dev_pod_test  # noqa: E402
import dockerfile_test  # noqa: E402

CACHE = os.environ.get("TASKER_IMAGE_SMOKE_CACHE", "/var/cache/tasker-image-smoke")
TASK = """module.exports = async function hello(input) {
  console.log('hello from the image');
  return {greeting: 'hello ' + input.name, sum: [1, 2, 3].reduce((a, b) => a + b, 0)};
};
"""


# debootstrap, chroot and mount live in sbin, which Bazel's test PATH lacks.
os.environ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sh(*args, **kwargs):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kwargs)


class ImageSmokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("image_smoke_test: needs root (chroot, debootstrap)")
        if not shutil.which("debootstrap") and not os.path.exists("/usr/sbin/debootstrap"):
            raise AssertionError("image_smoke_test: needs debootstrap (apt-get install debootstrap)")
        with open(dockerfile_test.DOCKERFILE) as f:
            cls.stages, _ = dockerfile_test.stages(dockerfile_test.parse_dockerfile(f.read()))
        cls.root = tempfile.mkdtemp(prefix="tasker-image-", dir="/var/tmp")
        cls.proc_mounted = False
        try:
            cls.make_image()
        except BaseException:
            cls.tearDownClass()  # unittest skips it when setUpClass fails
            raise

    @classmethod
    def make_image(cls):
        tarball = os.path.join(CACHE, "bookworm-minbase.tar")
        if not os.path.exists(tarball):
            os.makedirs(CACHE, exist_ok=True)
            staging = tempfile.mkdtemp(dir=CACHE)
            out = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", staging], capture_output=True,
                                 text=True)
            if out.returncode != 0:
                shutil.rmtree(staging, ignore_errors=True)
                raise AssertionError(f"debootstrap failed: {(out.stdout + out.stderr)[-2000:]}")
            sh("tar", "-C", staging, "-cf", tarball + ".partial", ".")
            os.rename(tarball + ".partial", tarball)
            shutil.rmtree(staging, ignore_errors=True)
        sh("tar", "-C", cls.root, "-xf", tarball)
        os.chmod(cls.root, 0o755)  # the image's / (mkdtemp made it 0700)
        # This machine's apt sources (bookworm, its updates and security) and resolver.
        for path in ("/etc/apt/sources.list", "/etc/resolv.conf"):
            if os.path.exists(path):
                shutil.copy(path, cls.root + path)
        sources_d = "/etc/apt/sources.list.d"
        for name in os.listdir(sources_d) if os.path.isdir(sources_d) else []:
            if name.endswith((".list", ".sources")) and "debian" in open(os.path.join(sources_d, name)).read():
                shutil.copy(os.path.join(sources_d, name), cls.root + sources_d)
        sh("mount", "-t", "proc", "proc", os.path.join(cls.root, "proc"))
        cls.proc_mounted = True
        cls.apply_runtime_stage()

    @classmethod
    def apply_runtime_stage(cls):
        cls.env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
        cls.user, cls.workdir = "0", "/"
        for instruction, rest in list(cls.stages.values())[-1][1:]:
            if instruction == "RUN":
                subprocess.run(["chroot", cls.root, "/bin/sh", "-c", rest], check=True, env=cls.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            elif instruction == "COPY":
                words = shlex.split(rest)
                assert words[0] == "--from=build" and words[1] == "/out/opt/tasker/bin/", rest
                dest = cls.root + words[2]
                os.makedirs(dest, exist_ok=True)
                for name, directory in dev_pod_test.BINARY_DIRS.items():
                    shutil.copy(kustomize.runfile(directory, name), os.path.join(dest, name))
                shutil.copy(kustomize.runfile("services", "cli", "tasker"), os.path.join(dest, "tasker"))
                for name in os.listdir(dest):
                    os.chmod(os.path.join(dest, name), 0o755)
            elif instruction == "ENV":
                key, _, value = rest.partition("=")
                cls.env[key] = value
            elif instruction == "WORKDIR":
                cls.workdir = rest
            elif instruction == "USER":
                cls.user = rest

    @classmethod
    def tearDownClass(cls):
        if cls.proc_mounted:
            subprocess.run(["umount", os.path.join(cls.root, "proc")])
        shutil.rmtree(cls.root, ignore_errors=True)

    def in_image(self, command, **kwargs):
        env = ["/usr/bin/env", "-i"] + [f"{k}={v}" for k, v in self.env.items()] + [f"HOME={self.workdir}"]
        return subprocess.Popen(["chroot", f"--userspec={self.user}", self.root] + env + command, **kwargs)

    def test_libraries_resolve_without_the_build_machine(self):
        self.assertFalse(os.path.exists(os.path.join(self.root, "opt/tasker-libnode")))
        bin_dir = os.path.join(self.root, "opt/tasker/bin")
        for name in sorted(os.listdir(bin_dir)):
            out = subprocess.run(["chroot", self.root, "ldd", f"/opt/tasker/bin/{name}"], capture_output=True,
                                 text=True)
            self.assertEqual(out.returncode, 0, f"{name}: {out.stderr}")
            self.assertNotIn("not found", out.stdout, name)
        out = subprocess.run(["chroot", self.root, "ldd", "/opt/tasker/bin/task-executor"], capture_output=True,
                             text=True).stdout
        self.assertRegex(out, r"libnode\.so\.108 => /(usr/)?lib/x86_64-linux-gnu/libnode\.so\.108")

    def test_dev_pod_runs_a_task_inside_the_image(self):
        tree = kustomize.copy_tree()
        try:
            docs = kustomize.render(shutil.which("kubectl"), os.path.join(tree, "overlays", "dev"))
        finally:
            shutil.rmtree(os.path.dirname(tree), ignore_errors=True)
        pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
        ports = {}

        def local(arg):
            arg = re.sub(r"(?<=[\w.]:)(\d+)\b", lambda m: str(ports.setdefault(int(m.group(1)),
                                                                              dev_pod_test.free_port())), arg)
            return re.sub(r"^(--metrics_port=)(\d+)$",
                          lambda m: m.group(1) + str(ports.setdefault(int(m.group(2)), dev_pod_test.free_port())),
                          arg)

        (init,) = pod["initContainers"]
        self.assertEqual(self.in_image([local(a) for a in init["command"]]).wait(timeout=30), 0)
        procs = []
        try:
            for c in pod["containers"]:
                binary = os.path.join(self.root, c["command"][0].lstrip("/"))
                known = dev_pod_test.known_flags(binary) if os.path.exists(binary) else set()
                # As in dev_pod_test: --metrics_port only where the binary has it.
                command = [local(a) for a in c["command"]
                           if not a.startswith("--metrics_port=") or "metrics_port" in known]
                log = open(os.path.join(self.root, "tmp", f"{c['name']}.log"), "w+")
                procs.append((c, log, self.in_image(command, stdout=log, stderr=subprocess.STDOUT)))
            deadline = time.monotonic() + 60
            for c, log, proc in procs:
                port = ports[c["readinessProbe"]["grpc"]["port"]]
                status = None
                while time.monotonic() < deadline and proc.poll() is None:
                    status = dev_pod_test.health_check(port, c["readinessProbe"]["grpc"]["service"])
                    if status is None:
                        status = dev_pod_test.health_check(port, "")
                    if status == dev_pod_test.SERVING:
                        break
                    time.sleep(0.2)
                log.seek(0)
                self.assertEqual(status, dev_pod_test.SERVING, f"{c['name']}: {log.read()[-2000:]}")
            executor = next(c for c in pod["containers"] if c["name"] == "task-executor")
            public = int(next(a for a in executor["command"] if a.startswith("--public_listen=")).rsplit(":", 1)[1])
            with open(os.path.join(self.root, "tmp", "hello.js"), "w") as f:
                f.write(TASK)
            os.chmod(os.path.join(self.root, "tmp", "hello.js"), 0o644)
            cli = ["tasker", f"--target=127.0.0.1:{ports[public]}"]
            published = self.in_image(cli + ["publish", "hello", "/tmp/hello.js"], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True)
            self.assertEqual(published.wait(timeout=60), 0, published.stdout.read())
            run = self.in_image(cli + ["submit", "hello", '{"name":"image"}', "--wait"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
            self.assertEqual(run.wait(timeout=120), 0)
            output = run.stdout.read()
            self.assertIn("COMPLETED", output)
            self.assertIn("hello image", output)
            db = os.path.join(self.root, "var/lib/tasker/tasks.db")
            self.assertEqual(os.stat(db).st_uid, int(self.user.split(":")[0]))
        finally:
            for _, _, proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for _, _, proc in procs:
                try:
                    proc.wait(timeout=45)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    junit_runner.main("image_smoke_test")
