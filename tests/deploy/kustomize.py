"""Renders deploy/kubernetes's kustomizations the way an operator does:
`kubectl kustomize DIR`, with every kubectl this machine has (tools/setup:
the kubectl on PATH, and Debian 12's kubectl 1.20 -- the oldest built-in
kustomize the manifests support -- unpacked into /opt/tasker-kubectl-1.20).

The tree is copied out of the runfiles first (symlinks dereferenced):
kustomize refuses files whose real path leaves the kustomization's root, and
runfiles are symlinks into the source tree."""
import json
import os
import shutil
import subprocess
import tempfile

import yaml

OLD_KUBECTL = "/opt/tasker-kubectl-1.20/usr/bin/kubectl"
OVERLAYS = ("base", "overlays/dev", "overlays/prod")
SERVICES = ["storage", "task-executor", "stack-processor", "keystore", "proxy"]


def runfile(*parts):
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        return os.path.join(srcdir, os.environ.get("TEST_WORKSPACE", "tasker"), *parts)
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", *parts)


GEN_CERTS = runfile("tools", "gen-certs")


def copy_tree():
    """A private copy of deploy/kubernetes (without any local secrets/pki)."""
    tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    dest = os.path.join(tmp, "kubernetes")
    shutil.copytree(runfile("deploy", "kubernetes"), dest, symlinks=False,
                    ignore=shutil.ignore_patterns("pki"))
    return dest


def kubectl_version(kubectl):
    out = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True,
                         check=True).stdout
    info = json.loads(out)["clientVersion"]
    return int(info["major"]), int(info["minor"].rstrip("+"))


def kubectls():
    """{(major, minor): path} of the kubectl on PATH and the unpacked 1.20."""
    found = {}
    for path in (shutil.which("kubectl"), OLD_KUBECTL):
        if path and os.access(path, os.X_OK):
            found.setdefault(kubectl_version(path), path)
    return found


def render(kubectl, directory):
    """The objects `kubectl kustomize directory` prints; raises with its stderr."""
    proc = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"{kubectl} kustomize {directory} failed: {proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]


def make_secret_files(tree):
    """Writes what deploy/kubernetes/secrets reads, as an operator would:
    tools/gen-certs output plus a master key and a database URL."""
    pki = os.path.join(tree, "secrets", "pki")
    subprocess.run([GEN_CERTS, pki, "--tokens", "--namespace", "tasker"], check=True, capture_output=True)
    with open(os.path.join(pki, "master-key"), "w") as f:
        f.write("00" * 32)
    with open(os.path.join(pki, "database-url"), "w") as f:
        f.write("postgres://tasker:pw@postgres:5432/tasker")
    return pki


def by_key(docs):
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}
