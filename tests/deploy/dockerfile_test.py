#!/usr/bin/env python3
"""The Dockerfile, checked without a container engine (none runs here):
its stages and base image, a numeric non-root user matching the manifests'
runAsUser, a runtime stage holding only COPY'd binaries and runtime
libraries, build-stage packages that cover what tools/setup installs for the
build, bazel-bin paths that are exactly the targets it builds, and -- from
the binaries Bazel built here -- that every shared library they load
(readelf NEEDED) comes from a package of the runtime stage or its
dependencies (apt-cache depends --recurse), never from the build stage."""
import fnmatch
import glob
import os
import re
import shlex
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import junit_runner  # noqa: E402

try:
    import yaml
except ImportError:
    sys.exit("dockerfile_test: python3 cannot import yaml (apt package python3-yaml; run tools/setup)")
import kustomize  # noqa: E402

DOCKERFILE = kustomize.runfile("Dockerfile")
DOCKERIGNORE = kustomize.runfile(".dockerignore")
SETUP = kustomize.runfile("tools", "setup")
LIBNODE_PREFIX = "/opt/tasker-libnode"
# Runtime packages no binary links, each kept for a reason.
RUNTIME_EXTRAS = {
    "ca-certificates": "the proxy's and fetch's outbound HTTPS verify against it",
    "tzdata": "time zones for absl::Time formatting",
    # Prometheus metrics (issue 15): until the binaries link prometheus-cpp,
    # the image carries the two libraries unused.
    "libprometheus-cpp-core1.0": "metrics",
    "libprometheus-cpp-pull1.0": "metrics",
}
# The build's own tools among tools/setup's packages; with every C/C++ -dev
# package of tools/setup (other languages' -dev packages serve the generated
# clients' tests) they must be in the build stage. Test-only libraries aside.
BUILD_TOOLS = {"bazel-bootstrap", "g++", "protobuf-compiler", "protobuf-compiler-grpc", "grpc-proto"}
TEST_ONLY_DEV = {"libgtest-dev", "libgmock-dev"}
OTHER_LANGUAGES = ("golang-", "node-", "python3-", "ruby-", "libjs-")


def parse_dockerfile(text):
    """[(instruction, argument string)] with continuations joined, comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current:
            instruction, _, rest = current.partition(" ")
            lines.append((instruction.upper(), rest.strip()))
        current = ""
    return lines


def stages(instructions):
    """{stage name: [(instruction, argument)]} and the global ARG defaults."""
    args, out, name = {}, {}, None
    for instruction, rest in instructions:
        if instruction == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(out))
            out[name] = [(instruction, rest)]
        elif name is None:
            if instruction == "ARG":
                key, _, value = rest.partition("=")
                args[key] = value
        else:
            out[name].append((instruction, rest))
    return out, args


def apt_installed(stage):
    """Package names of `apt-get install` in a stage's RUN instructions."""
    names = []
    for instruction, rest in stage:
        if instruction != "RUN":
            continue
        for command in re.split(r"&&|;", rest):
            words = shlex.split(command)
            if "apt-get" in words and "install" in words:
                names += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return names


def apt_closure(packages):
    out = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                          "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"] + sorted(packages),
                         capture_output=True, text=True, check=True).stdout
    return {line.strip() for line in out.splitlines() if line and not line.startswith(" ")}


def setup_apt_packages():
    with open(SETUP) as f:
        text = f.read()
    block = re.search(r"^APT_PACKAGES=\((.*?)^\)", text, re.S | re.M).group(1)
    names = []
    for line in block.splitlines():
        names += line.split("#", 1)[0].split()
    return names


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DOCKERFILE) as f:
            cls.text = f.read()
        cls.stages, cls.args = stages(parse_dockerfile(cls.text))
        cls.build = cls.stages.get("build", [])
        cls.runtime = list(cls.stages.values())[-1]

    def instructions(self, stage, name):
        return [rest for instruction, rest in stage if instruction == name]

    # --- shape ---------------------------------------------------------------

    def test_two_stages_on_debian_12(self):
        self.assertEqual(list(self.stages), ["build", "runtime"])
        for name, stage in self.stages.items():
            image = stage[0][1].split()[0]
            image = re.sub(r"\$\{(\w+)\}", lambda m: self.args.get(m.group(1), ""), image)
            self.assertRegex(image, r"^debian:bookworm(-slim)?(@sha256:[0-9a-f]{64})?$", name)

    def test_runtime_runs_as_a_numeric_non_root_user_the_manifests_name(self):
        (user,) = self.instructions(self.runtime, "USER")
        m = re.fullmatch(r"(\d+)(?::(\d+))?", user)
        self.assertTrue(m, f"USER {user}: numeric, so Kubernetes' runAsNonRoot can verify it")
        uid = int(m.group(1))
        self.assertNotEqual(uid, 0)
        self.assertIn(f"--uid {uid}", self.text)
        # USER is the last word on who runs: nothing after it switches back.
        users = [i for i, (instruction, _) in enumerate(self.runtime) if instruction == "USER"]
        self.assertEqual(users, [max(users)])
        # Every pod of both overlays runs as that user.
        seen = 0
        for path in glob.glob(kustomize.runfile("deploy", "kubernetes", "overlays", "*", "*.yaml")):
            with open(path) as f:
                for doc in yaml.safe_load_all(f):
                    if doc and doc.get("kind") in ("Deployment", "Job"):
                        sc = doc["spec"]["template"]["spec"]["securityContext"]
                        self.assertEqual(sc["runAsUser"], uid, path)
                        seen += 1
        self.assertGreaterEqual(seen, 7)

    def test_runtime_paths_belong_to_the_user(self):
        (workdir,) = self.instructions(self.runtime, "WORKDIR")
        self.assertFalse(workdir.startswith("/root"), workdir)
        self.assertRegex(self.text, rf"install -d -o 65532 -g 65532 -m 0\d\d\d {re.escape(workdir)}\b")
        (path,) = [e for e in self.instructions(self.runtime, "ENV") if e.startswith("PATH=")]
        self.assertTrue(path.startswith("PATH=/opt/tasker/bin:"), path)

    def test_runtime_copies_only_the_built_binaries(self):
        copies = self.instructions(self.runtime, "COPY")
        self.assertEqual(copies, ["--from=build /out/opt/tasker/bin/ /opt/tasker/bin/"])
        self.assertEqual(self.instructions(self.runtime, "ADD"), [])
        # Nothing secret configured into the image.
        for instruction in ("ENV", "ARG", "LABEL"):
            for rest in self.instructions(self.runtime, instruction) + self.instructions(self.build, instruction):
                self.assertNotRegex(rest.upper(), r"TOKEN|PASSWORD|SECRET|_KEY|DATABASE_URL", rest)
        self.assertEqual(len(self.instructions(self.runtime, "CMD")), 1)

    def test_build_stage_builds_exactly_what_it_copies(self):
        run = next(r for r in self.instructions(self.build, "RUN") if "bazel build" in r)
        labels = re.findall(r"//([\w/]+):([\w-]+)", run)
        installed = re.findall(r"bazel-bin/([\w/-]+)", run)
        self.assertEqual(sorted(f"{pkg}/{name}" for pkg, name in labels), sorted(installed))
        self.assertIn("install -m 0755 -t /out/opt/tasker/bin", run)
        # Every binary the manifests start is in the image.
        names = {os.path.basename(p) for p in installed}
        for path in glob.glob(kustomize.runfile("deploy", "kubernetes", "overlays", "*", "*.yaml")):
            with open(path) as f:
                for binary in re.findall(r"/opt/tasker/bin/([\w-]+)", f.read()):
                    self.assertIn(binary, names, path)
        # And each was built by this test's data deps, at that path.
        for p in installed:
            self.assertTrue(os.access(kustomize.runfile(p), os.X_OK), p)

    def test_build_stage_has_what_tools_setup_installs_for_the_build(self):
        build = set(apt_installed(self.build))
        setup = set(setup_apt_packages())
        self.assertLessEqual(BUILD_TOOLS, setup)
        wanted = {p for p in setup if p in BUILD_TOOLS or (p.endswith("-dev") and not p.startswith(OTHER_LANGUAGES))}
        wanted -= TEST_ONLY_DEV
        self.assertGreater(len(wanted), 10)
        self.assertEqual(wanted - build, set(),
                         "tools/setup's C++ build packages missing from the Dockerfile's build stage (add them there, "
                         "or to TEST_ONLY_DEV if only tests use them)")
        # libnode unpacked where WORKSPACE's @libnode looks, as tools/setup does.
        self.assertIn("apt-get download libnode108 libnode-dev", self.text)
        self.assertIn(f"dpkg-deb -x \"$deb\" {LIBNODE_PREFIX}", self.text)
        with open(kustomize.runfile("WORKSPACE")) as f:
            self.assertIn(f'path = "{LIBNODE_PREFIX}"', f.read())

    def test_every_apt_name_exists(self):
        names = sorted(set(apt_installed(self.build) + apt_installed(self.runtime) + ["libnode108", "libnode-dev"]))
        out = subprocess.run(["apt-cache", "policy"] + names, capture_output=True, text=True).stdout
        candidates = dict(re.findall(r"^(\S+?)(?::amd64)?:\n(?:  .*\n)*?  Candidate: (\S+)", out, re.M))
        for name in names:
            self.assertNotIn(candidates.get(name, "(none)"), ("(none)",),
                             f"apt package {name}: no candidate (apt-get update?)")

    def test_runtime_stage_installs_no_build_packages(self):
        runtime = apt_installed(self.runtime)
        self.assertTrue(runtime)
        for name in runtime:
            self.assertFalse(name.endswith("-dev"), name)
            self.assertNotIn(name, ("g++", "gcc", "bazel-bootstrap", "protobuf-compiler", "build-essential"))
        self.assertIn("--no-install-recommends", self.text)

    # --- the binaries' libraries ---------------------------------------------

    def binaries(self):
        run = next(r for r in self.instructions(self.build, "RUN") if "bazel build" in r)
        return [kustomize.runfile(p) for p in re.findall(r"bazel-bin/([\w/-]+)", run)]

    def dynamic(self, binary):
        out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
        needed = re.findall(r"\(NEEDED\).*\[(.+)\]", out)
        runpath = re.findall(r"\((?:RUNPATH|RPATH)\).*\[(.+)\]", out)
        return needed, [p for entry in runpath for p in entry.split(":")]

    def packages_of(self, sonames):
        """{soname: Debian package or None}, with one dpkg -S for them all."""
        paths = {}
        for soname in sonames:
            for directory in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib"):
                path = os.path.join(directory, soname)
                if os.path.exists(path):
                    paths[soname] = [path, os.path.realpath(path)]
                    break
        owners = {}
        query = sorted({p for candidates in paths.values() for p in candidates})
        if query:
            out = subprocess.run(["dpkg", "-S"] + query, capture_output=True, text=True).stdout
            for line in out.splitlines():
                package, _, path = line.partition(": ")
                owners[path] = package.split(":")[0]
        result = {}
        for soname in sonames:
            package = next((owners[p] for p in paths.get(soname, []) if p in owners), None)
            # tools/setup unpacks libnode108 here (apt refuses it next to Node.js 20).
            if package is None and os.path.exists(os.path.join(LIBNODE_PREFIX, "usr/lib/x86_64-linux-gnu", soname)):
                package = "libnode108"
            result[soname] = package
        return result

    def test_every_library_a_binary_loads_is_in_the_runtime_stage(self):
        runtime = set(apt_installed(self.runtime))
        # The base image has apt, hence its dependencies (libc6, libstdc++6, ...).
        available = apt_closure(runtime | {"apt"})
        needed_packages = {}
        dynamic = {binary: self.dynamic(binary) for binary in self.binaries()}
        owner = self.packages_of({soname for needed, _ in dynamic.values() for soname in needed})
        for binary, (needed, runpath) in dynamic.items():
            self.assertIn("libc.so.6", needed, binary)
            # Nothing resolved from Bazel's tree or the build stage at run time.
            for entry in runpath:
                self.assertTrue(entry.startswith(LIBNODE_PREFIX), f"{binary}: RUNPATH {entry}")
            for soname in needed:
                package = owner[soname]
                self.assertIsNotNone(package, f"{binary}: {soname} comes from no package")
                self.assertFalse(package.endswith("-dev"), f"{binary}: {soname} from build package {package}")
                self.assertIn(package, available, f"{binary}: {soname} ({package}) is not in the runtime image")
                needed_packages.setdefault(package, set()).add(soname)
        # Only runtime libraries: each package installed is loaded by a binary
        # (or kept for a stated reason).
        for name in runtime:
            self.assertTrue(name in needed_packages or name in RUNTIME_EXTRAS, f"{name}: no binary loads it")
        # The libraries this suite was written for; a new one shows up here.
        self.assertIn("libnode108", needed_packages)
        self.assertIn("libgrpc++1.51", needed_packages)

    def test_closure_check_can_fail(self):
        # A library of no runtime package (a -dev only file) is caught.
        self.assertEqual(self.packages_of({"libgtest.so.no-such"}), {"libgtest.so.no-such": None})
        self.assertEqual(self.packages_of({"libzstd.so.1"}), {"libzstd.so.1": "libzstd1"})
        available = apt_closure({"libzstd1", "apt"})
        self.assertNotIn("libpqxx-6.4", available)
        self.assertIn("libc6", available)

    # --- build context -------------------------------------------------------

    def test_dockerignore_keeps_secrets_and_outputs_out_but_not_sources(self):
        with open(DOCKERIGNORE) as f:
            patterns = [line.strip() for line in f if line.strip() and not line.startswith("#")]

        def ignored(path):
            return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p + "/*") or
                       (p.startswith("**/") and (fnmatch.fnmatch(path, p[3:]) or fnmatch.fnmatch(path, p)))
                       for p in patterns)

        for path in (".git/config", "bazel-bin", "bazel-out", "tasks.db", "deploy/kubernetes/secrets/pki/ca.key",
                     "tasker-pki/ca.key", "x/tasker-pki/tls/storage.key", "admin.token"):
            self.assertTrue(ignored(path), path)
        for path in ("WORKSPACE", ".bazelrc", "BUILD.bazel", "third_party/bazel/rules_cc/WORKSPACE",
                     "services/storage/main.cc", "storage/sqlite/migrations/0001_initial.sql",
                     "deploy/kubernetes/secrets/kustomization.yaml", "tools/proto.bzl"):
            self.assertFalse(ignored(path), path)


if __name__ == "__main__":
    junit_runner.main("dockerfile_test")
