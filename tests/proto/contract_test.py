#!/usr/bin/env python3
"""The protos as a public contract (proto/README.md):

- import root proto/: every file compiles with `protoc -I proto`, imports its
  siblings as "tasker/v1/x.proto", and generated Python lands in tasker.v1;
- no public file (common, task_service, keystore) imports an internal one;
- every file sets an importable go_package, java_package, csharp_namespace...;
- `buf lint` is clean with the checked-in buf.yaml;
- `buf breaking` against the newest tag proto/v* (or, with no such tag, the
  protos committed at HEAD) finds nothing, and does find a field renumbered or
  removed in a copy (so the check is live).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

def _runfile(path):
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        return os.path.join(srcdir, os.environ.get("TEST_WORKSPACE", "tasker"), path)
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", path)


sys.path.insert(0, os.path.dirname(_runfile("tests/deploy/junit_runner.py")))
import junit_runner  # noqa: E402

PROTO_DIR = _runfile("proto/tasker/v1")
BUF_YAML = _runfile("buf.yaml")
BUF = "/opt/tasker-npm/node_modules/.bin/buf"
PUBLIC = {"common.proto", "task_service.proto", "keystore.proto"}
INTERNAL = {"records.proto", "storage.proto", "executor.proto", "stack_processor.proto", "proxy.proto"}
# The repository (for git): buf.yaml's runfile is a symlink into it.
REPO = os.path.dirname(os.path.realpath(BUF_YAML))


def _files():
    return sorted(f for f in os.listdir(PROTO_DIR) if f.endswith(".proto"))


def _read(name):
    with open(os.path.join(PROTO_DIR, name)) as f:
        return f.read()


def _imports(text):
    return re.findall(r'^import\s+(?:public\s+|weak\s+)?"([^"]+)";', text, re.M)


def _option(text, name):
    m = re.search(r'^option\s+' + re.escape(name) + r'\s*=\s*("(?:[^"\\]|\\.)*"|\w+);', text, re.M)
    return m.group(1) if m else None


def _module_copy(dest):
    """buf.yaml and proto/tasker/v1/*.proto (real files) under dest."""
    os.makedirs(os.path.join(dest, "proto", "tasker", "v1"))
    shutil.copyfile(BUF_YAML, os.path.join(dest, "buf.yaml"))
    for f in _files():
        shutil.copyfile(os.path.join(PROTO_DIR, f), os.path.join(dest, "proto", "tasker", "v1", f))
    return dest


def _buf(*args, cwd=None):
    env = dict(os.environ)
    # buf keeps a cache; the sandbox's HOME may not be writable.
    env["BUF_CACHE_DIR"] = tempfile.mkdtemp(prefix="buf-cache-")
    env["HOME"] = env["BUF_CACHE_DIR"]
    return subprocess.run([BUF, *args], capture_output=True, text=True, cwd=cwd, env=env)


def _git(*args):
    try:
        return subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True)
    except FileNotFoundError as e:  # no git on this machine
        return subprocess.CompletedProcess(args, 127, "", str(e))


class ContractTest(unittest.TestCase):
    def test_the_files_are_the_public_and_internal_ones(self):
        self.assertEqual(set(_files()), PUBLIC | INTERNAL)

    def test_no_public_file_imports_an_internal_one(self):
        for name in sorted(PUBLIC):
            for imported in _imports(_read(name)):
                self.assertTrue(imported.startswith("google/protobuf/") or
                                (imported.startswith("tasker/v1/") and os.path.basename(imported) in PUBLIC),
                                f"{name} imports {imported}")
        # The check sees imports at all: an internal file imports records.proto.
        self.assertIn("tasker/v1/records.proto", _imports(_read("storage.proto")))

    def test_imports_start_at_the_proto_root(self):
        for name in _files():
            for imported in _imports(_read(name)):
                self.assertTrue(imported.startswith(("tasker/v1/", "google/protobuf/")), f"{name}: {imported}")
                if imported.startswith("tasker/v1/"):
                    self.assertTrue(os.path.exists(os.path.join(PROTO_DIR, os.path.basename(imported))), imported)

    def test_protoc_with_the_proto_root_compiles_every_file_and_python_lands_in_tasker_v1(self):
        root = os.path.dirname(os.path.dirname(PROTO_DIR))
        out = tempfile.mkdtemp(prefix="protoc-")
        for name in _files():
            proc = subprocess.run(["/usr/bin/protoc", "-I", root, "-I", "/usr/include", f"--python_out={out}",
                                   f"tasker/v1/{name}"], capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, f"protoc -I proto tasker/v1/{name}: {proc.stderr}")
        for name in _files():
            self.assertTrue(os.path.exists(os.path.join(out, "tasker", "v1", name.replace(".proto", "_pb2.py"))), name)
        generated = open(os.path.join(out, "tasker", "v1", "task_service_pb2.py")).read()
        self.assertIn("from tasker.v1 import common_pb2", generated)
        self.assertNotIn("from proto.", generated)

    def test_every_file_sets_the_language_options(self):
        for name in _files():
            text = _read(name)
            self.assertRegex(re.search(r"^package\s+([\w.]+);", text, re.M).group(1), r"^tasker\.v1$", name)
            go = _option(text, "go_package")
            self.assertIsNotNone(go, name)
            # Importable: a module path starting with a dotted host, then ";name".
            self.assertRegex(go, r'^"[a-z0-9-]+(\.[a-z0-9-]+)+/[\w./-]+/tasker/v1;taskerv1"$', name)
            self.assertEqual(_option(text, "java_package"), '"dev.tasker.v1"', name)
            self.assertEqual(_option(text, "java_multiple_files"), "true", name)
            self.assertEqual(_option(text, "csharp_namespace"), '"Tasker.V1"', name)
            self.assertIsNotNone(_option(text, "java_outer_classname"), name)
            self.assertIsNotNone(_option(text, "objc_class_prefix"), name)
            self.assertIsNotNone(_option(text, "php_namespace"), name)
            self.assertIsNotNone(_option(text, "ruby_package"), name)

    def test_buf_lint_is_clean(self):
        module = _module_copy(tempfile.mkdtemp(prefix="buf-lint-"))
        proc = _buf("lint", cwd=module)
        self.assertEqual(proc.returncode, 0, f"buf lint:\n{proc.stdout}{proc.stderr}")
        # And lint is live: a message named against the style is reported.
        with open(os.path.join(module, "proto", "tasker", "v1", "common.proto"), "a") as f:
            f.write("\nmessage bad_name {}\n")
        proc = _buf("lint", cwd=module)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("bad_name", proc.stdout + proc.stderr)

    def _baseline(self):
        """The contract to compare with: the newest tag proto/v*, else HEAD."""
        tags = _git("tag", "--list", "proto/v*", "--sort=-v:refname")
        if tags.returncode != 0:
            self.skipTest(f"no git repository at {REPO}: {tags.stderr.strip()}")
        ref = tags.stdout.split()[0] if tags.stdout.split() else "HEAD"
        dest = tempfile.mkdtemp(prefix="buf-against-")
        for path in ("buf.yaml", "proto/tasker/v1"):
            listed = _git("ls-tree", "-r", "--name-only", ref, "--", path)
            self.assertEqual(listed.returncode, 0, listed.stderr)
            for f in listed.stdout.split():
                if f.endswith(".proto") or f == "buf.yaml":
                    shown = _git("show", f"{ref}:{f}")
                    self.assertEqual(shown.returncode, 0, shown.stderr)
                    os.makedirs(os.path.dirname(os.path.join(dest, f)) or dest, exist_ok=True)
                    with open(os.path.join(dest, f), "w") as out:
                        out.write(shown.stdout)
        self.assertTrue(os.path.exists(os.path.join(dest, "proto", "tasker", "v1", "common.proto")), ref)
        return ref, dest

    def test_buf_breaking_against_the_previous_tag(self):
        ref, against = self._baseline()
        current = _module_copy(tempfile.mkdtemp(prefix="buf-current-"))
        proc = _buf("breaking", current, "--against", against)
        self.assertEqual(proc.returncode, 0, f"buf breaking against {ref}:\n{proc.stdout}{proc.stderr}")

    def test_buf_breaking_catches_a_renumbered_and_a_removed_field(self):
        base = _module_copy(tempfile.mkdtemp(prefix="buf-base-"))
        for change, pattern, replacement, expected in [
            ("renumbered", r"(\n  string task_identifier = )2;", r"\g<1>99;", "task_identifier"),
            ("removed", r"\n  string idempotency_key = 8;", "", "idempotency_key"),
        ]:
            changed = _module_copy(tempfile.mkdtemp(prefix="buf-changed-"))
            path = os.path.join(changed, "proto", "tasker", "v1", "common.proto")
            text = open(path).read()
            new_text, n = re.subn(pattern, replacement, text, count=1)
            self.assertEqual(n, 1, f"{change}: the pattern no longer matches common.proto")
            open(path, "w").write(new_text)
            proc = _buf("breaking", changed, "--against", base)
            self.assertNotEqual(proc.returncode, 0, f"{change}: buf breaking found nothing")
            self.assertIn(expected, proc.stdout + proc.stderr, change)


if __name__ == "__main__":
    junit_runner.main("contract_test")
