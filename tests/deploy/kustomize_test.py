#!/usr/bin/env python3
"""deploy/kubernetes renders with `kubectl kustomize` -- both the kubectl on
PATH and Debian 12's kubectl 1.20, whose built-in kustomize (v2.0.3) is the
oldest the manifests support -- to the same objects; and the dev overlay is
what docs/deploy.md promises: one pod running every service, SQLite on a
claim, only the public API beyond the pod's loopback."""
import base64
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import junit_runner  # noqa: E402

try:
    import yaml  # noqa: F401
except ImportError:
    sys.exit("kustomize_test: python3 cannot import yaml (apt package python3-yaml; run tools/setup)")
import kustomize  # noqa: E402

BINARIES = {"storage": "storage-service", "keystore": "keystore", "proxy": "wrapped-service-proxy",
            "stack-processor": "stack-processor", "task-executor": "task-executor"}
HEALTH_NAME = {"storage": "tasker.v1.Storage", "task-executor": "tasker.v1.TaskService",
               "stack-processor": "tasker.v1.StackProcessor", "keystore": "tasker.v1.Keystore",
               "proxy": "tasker.v1.WrappedServiceProxy"}


def normalized(doc):
    """Secret data decoded: kustomize versions wrap base64 lines differently."""
    if doc.get("kind") == "Secret" and doc.get("data"):
        doc = dict(doc, data={k: base64.b64decode("".join(v.split())) for k, v in doc["data"].items()})
    return doc


def flags(container):
    out = {}
    for arg in (container.get("command") or [])[1:] + (container.get("args") or []):
        name, eq, value = str(arg).partition("=")
        out[name] = value if eq else True
    return out


class KustomizeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tree = kustomize.copy_tree()
        kustomize.make_secret_files(cls.tree)
        cls.kubectls = kustomize.kubectls()
        cls.rendered = {}  # (version, directory) -> docs
        for version, kubectl in cls.kubectls.items():
            for directory in kustomize.OVERLAYS + ("secrets",):
                cls.rendered[(version, directory)] = kustomize.render(kubectl, os.path.join(cls.tree, directory))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.tree), ignore_errors=True)

    def docs(self, directory):
        """The directory rendered by the newest kubectl."""
        return self.rendered[(max(self.kubectls), directory)]

    def test_rendered_by_kubectl_1_20_and_the_current_one(self):
        self.assertIn((1, 20), self.kubectls,
                      f"Debian 12's kubectl 1.20 not found (on PATH or {kustomize.OLD_KUBECTL}; run tools/setup)")
        self.assertTrue(any(v > (1, 20) for v in self.kubectls) or len(self.kubectls) == 1)

    def test_every_kubectl_renders_the_same_objects(self):
        versions = sorted(self.kubectls)
        for directory in kustomize.OVERLAYS + ("secrets",):
            first = kustomize.by_key(self.rendered[(versions[0], directory)])
            self.assertTrue(first, directory)
            for version in versions[1:]:
                other = kustomize.by_key(self.rendered[(version, directory)])
                self.assertEqual(sorted(first), sorted(other), f"{directory}: kubectl {versions[0]} vs {version}")
                for key in first:
                    self.assertEqual(normalized(first[key]), normalized(other[key]),
                                     f"{directory} {key}: kubectl {versions[0]} vs {version}")

    def test_every_document_is_a_whole_object(self):
        # Old kustomize turns some patches into stray fragments; none here.
        for (version, directory), docs in self.rendered.items():
            for d in docs:
                self.assertIn("kind", d, f"{directory} by kubectl {version}: {d}")
                self.assertIn("name", d.get("metadata", {}), f"{directory} by kubectl {version}: {d}")

    def test_overlays_share_the_base(self):
        base = kustomize.by_key(self.docs("base"))
        self.assertEqual(sorted(base), [("NetworkPolicy", "default-deny-ingress"),
                                        ("NetworkPolicy", "tasker-api-public"), ("Service", "tasker-api")])
        for overlay, namespace in (("overlays/dev", "tasker-dev"), ("overlays/prod", "tasker")):
            docs = kustomize.by_key(self.docs(overlay))
            for key in base:
                self.assertIn(key, docs, overlay)
            self.assertIn(("Namespace", namespace), docs, overlay)
            for key, d in docs.items():
                if d["kind"] != "Namespace":
                    self.assertEqual(d["metadata"].get("namespace"), namespace, f"{overlay} {key}")

    def test_every_pod_meets_pod_security_restricted(self):
        """The checks of Pod Security Admission's `restricted` profile that
        the namespaces enforce, on every pod template of both overlays."""
        allowed_volumes = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                           "projected", "secret"}
        pods = 0
        for overlay in ("overlays/dev", "overlays/prod"):
            docs = self.docs(overlay)
            (namespace,) = [d for d in docs if d["kind"] == "Namespace"]
            self.assertEqual(namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted")
            for d in docs:
                if d["kind"] not in ("Deployment", "Job"):
                    continue
                pods += 1
                where = f"{overlay} {d['kind']}/{d['metadata']['name']}"
                spec = d["spec"]["template"]["spec"]
                pod_sc = spec.get("securityContext") or {}
                for field in ("hostNetwork", "hostPID", "hostIPC"):
                    self.assertFalse(spec.get(field), where)
                for volume in spec.get("volumes", []):
                    self.assertLessEqual(set(volume) - {"name"}, allowed_volumes, where)
                for c in spec.get("initContainers", []) + spec["containers"]:
                    sc = c.get("securityContext") or {}
                    self.assertIs(sc.get("allowPrivilegeEscalation"), False, f"{where} {c['name']}")
                    self.assertFalse(sc.get("privileged"), where)
                    self.assertEqual(sc.get("capabilities", {}).get("drop"), ["ALL"], f"{where} {c['name']}")
                    self.assertFalse(sc.get("capabilities", {}).get("add"), where)
                    self.assertIs(sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")), True, f"{where} {c['name']}")
                    self.assertNotEqual(sc.get("runAsUser", pod_sc.get("runAsUser")), 0, where)
                    seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile")) or {}
                    self.assertIn(seccomp.get("type"), ("RuntimeDefault", "Localhost"), f"{where} {c['name']}")
                    for port in c.get("ports", []):
                        self.assertNotIn("hostPort", port, where)
        self.assertEqual(pods, 7)

    # --- the dev overlay -----------------------------------------------------

    def dev_pod(self):
        deployments = [d for d in self.docs("overlays/dev") if d["kind"] == "Deployment"]
        self.assertEqual(len(deployments), 1)
        self.assertEqual(deployments[0]["spec"]["replicas"], 1)
        self.assertEqual(deployments[0]["spec"]["strategy"], {"type": "Recreate"})
        return deployments[0]["spec"]["template"]

    def test_dev_is_one_pod_running_every_service(self):
        pod = self.dev_pod()
        kinds = sorted({d["kind"] for d in self.docs("overlays/dev")})
        self.assertEqual(kinds, ["Deployment", "Namespace", "NetworkPolicy", "PersistentVolumeClaim", "Service",
                                 "ServiceAccount"])
        containers = {c["name"]: c for c in pod["spec"]["containers"]}
        self.assertEqual(set(containers), set(BINARIES))
        health_ports, metrics_ports = set(), set()
        for name, c in containers.items():
            self.assertEqual(c["command"][0], f"/opt/tasker/bin/{BINARIES[name]}")
            f = flags(c)
            self.assertIs(f.get("--insecure_dev"), True, name)
            # Internal RPCs stay on the pod's loopback.
            self.assertTrue(f["--listen"].startswith("127.0.0.1:"), name)
            for flag in ("--storage", "--keystore", "--proxy", "--executors", "--processors"):
                if flag in f:
                    self.assertTrue(f[flag].startswith("127.0.0.1:"), f"{name} {flag}")
            health = int(f["--health_listen"].rsplit(":", 1)[1])
            self.assertEqual(c["readinessProbe"]["grpc"], {"port": health, "service": HEALTH_NAME[name]}, name)
            self.assertEqual(c["livenessProbe"]["grpc"], {"port": health, "service": "liveness"}, name)
            health_ports.add(health)
            metrics_ports.add(int(f["--metrics_port"]))
            ports = {p["containerPort"] for p in c.get("ports", [])}
            self.assertIn(health, ports, name)
            self.assertIn(int(f["--metrics_port"]), ports, name)
            sc = c["securityContext"]
            self.assertEqual((sc["allowPrivilegeEscalation"], sc["readOnlyRootFilesystem"], sc["capabilities"]),
                             (False, True, {"drop": ["ALL"]}), name)
            self.assertIn("memory", c["resources"]["limits"], name)
        # One network per pod: every port distinct.
        self.assertEqual(len(health_ports), 5)
        self.assertEqual(len(metrics_ports), 5)
        self.assertFalse(health_ports & metrics_ports)
        spec = pod["spec"]
        self.assertIs(spec["automountServiceAccountToken"], False)
        self.assertIs(spec["securityContext"]["runAsNonRoot"], True)
        self.assertEqual(spec["securityContext"]["seccompProfile"], {"type": "RuntimeDefault"})

    def test_dev_storage_is_sqlite_on_the_claim(self):
        pod = self.dev_pod()
        claims = [d for d in self.docs("overlays/dev") if d["kind"] == "PersistentVolumeClaim"]
        self.assertEqual(len(claims), 1)
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        storage = next(c for c in pod["spec"]["containers"] if c["name"] == "storage")
        url = flags(storage)["--database_url"]
        self.assertTrue(url.startswith("sqlite:///"), url)
        path = url[len("sqlite://"):]
        mount = next(m for m in storage["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/"))
        self.assertEqual(volumes[mount["name"]]["persistentVolumeClaim"]["claimName"],
                         claims[0]["metadata"]["name"])
        self.assertFalse(mount.get("readOnly"))
        # The keystore's master key: made once by the init container, on the same claim.
        keystore = next(c for c in pod["spec"]["containers"] if c["name"] == "keystore")
        key_file = flags(keystore)["--master_key_file"]
        (init,) = pod["spec"]["initContainers"]
        self.assertIn(f"test -s {key_file} ||", init["command"][-1])
        self.assertNotIn("TASKER_DATABASE_URL", str(pod))  # no Postgres in dev

    def test_dev_public_api_reaches_only_the_executor_ports(self):
        pod = self.dev_pod()
        docs = kustomize.by_key(self.docs("overlays/dev"))
        api = docs[("Service", "tasker-api")]["spec"]
        self.assertEqual(api.get("type"), "ClusterIP")  # port-forward, never exposed
        self.assertEqual(api["selector"], pod["metadata"]["labels"])
        executor = next(c for c in pod["spec"]["containers"] if c["name"] == "task-executor")
        named = {p.get("name"): p["containerPort"] for p in executor["ports"]}
        f = flags(executor)
        self.assertEqual({named[p["targetPort"]] for p in api["ports"]},
                         {int(f["--public_listen"].rsplit(":", 1)[1]), int(f["--http_listen"].rsplit(":", 1)[1])})
        public = docs[("NetworkPolicy", "tasker-api-public")]["spec"]
        self.assertEqual(public["podSelector"], {"matchLabels": pod["metadata"]["labels"]})
        self.assertEqual({p["port"] for p in public["ingress"][0]["ports"]}, {p["port"] for p in api["ports"]})
        # Only the executor listens beyond loopback, and only with its public ports.
        for c in pod["spec"]["containers"]:
            for flag in ("--public_listen", "--http_listen"):
                if flag in flags(c):
                    self.assertEqual(c["name"], "task-executor")


if __name__ == "__main__":
    junit_runner.main("kustomize_test")
