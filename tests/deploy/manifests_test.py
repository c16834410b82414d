#!/usr/bin/env python3
"""deploy/kubernetes/overlays/prod, as `kubectl kustomize` renders it, follows
the trust model: no dev mode, every server on credentials and mutual TLS,
only tasker-api facing outside with the public ports alone, NetworkPolicies
opening each internal port to exactly the roles that call it (and metrics to
Prometheus), each pod holding only its own token and key, secrets read-only,
and names that match what tools/gen-certs writes and deploy/kubernetes/secrets
generates. Also the operations side: per-service ServiceAccounts without
tokens, probes on each service's health name, disruption budgets, autoscalers
for executors and processors, and the migrations Job."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import junit_runner  # noqa: E402

try:
    import yaml
except ImportError:  # tools/setup installs python3-yaml
    sys.exit("manifests_test: python3 cannot import yaml (apt package python3-yaml; run tools/setup)")


import kustomize  # noqa: E402

NAMESPACE = "tasker"

# The pods of each role (their `app` label).
ROLE_APP = {"executor": "task-executor", "processor": "stack-processor", "proxy": "proxy", "keystore": "keystore",
            "admin": "tasker-admin"}
PUBLIC = "*"  # any source
# (app, port) -> who may connect: the roles of the trust model, or anyone.
EXPECTED_INGRESS = {
    ("storage", 50051): {"executor", "processor", "keystore"},
    ("task-executor", 50052): {"processor"},
    ("stack-processor", 50055): {"executor"},
    ("proxy", 50054): {"processor"},
    ("keystore", 50053): {"proxy", "admin"},
    ("task-executor", 50050): {PUBLIC},
    ("task-executor", 8443): {PUBLIC},
}
METRICS_PORT = 9090
for _app in ("storage", "task-executor", "stack-processor", "keystore", "proxy"):
    EXPECTED_INGRESS[(_app, METRICS_PORT)] = {"prometheus"}
# The one peer the metrics policy admits: Prometheus's pods in its namespace.
PROMETHEUS_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                   "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}
# Internal Services: name -> (port, headless).
INTERNAL_SERVICES = {"storage": (50051, False), "task-executor": (50052, True), "keystore": (50053, False),
                     "proxy": (50054, False), "stack-processor": (50055, True)}
PUBLIC_PORTS = {50050, 8443}
APPS = ["storage", "task-executor", "stack-processor", "keystore", "proxy"]
SERVER_FLAGS = ["--credentials_file", "--tls_cert", "--tls_key", "--tls_ca", "--require_client_cert",
                "--health_listen", "--listen", "--metrics_port"]
# The gRPC health name each readiness probe asks for: the service's own,
# NOT_SERVING while a dependency it needs is down.
HEALTH_NAME = {"storage": "tasker.v1.Storage", "task-executor": "tasker.v1.TaskService",
               "stack-processor": "tasker.v1.StackProcessor", "keystore": "tasker.v1.Keystore",
               "proxy": "tasker.v1.WrappedServiceProxy"}
AUTOSCALED = {"task-executor", "stack-processor"}
# Flags naming another Tasker service -> the Service they must name.
TARGET_FLAGS = {"--storage": "storage", "--keystore": "keystore", "--proxy": "proxy",
                "--executors": "task-executor", "--processors": "stack-processor"}


def load():
    """The prod overlay rendered by the kubectl on PATH, and the Secrets that
    deploy/kubernetes/secrets generates from tools/gen-certs' files."""
    tree = kustomize.copy_tree()
    try:
        kubectl = shutil.which("kubectl")
        if not kubectl:
            raise AssertionError("no kubectl on PATH (tools/setup installs Debian's kubernetes-client)")
        docs = kustomize.render(kubectl, os.path.join(tree, "overlays", "prod"))
        kustomize.make_secret_files(tree)
        secrets = kustomize.render(kubectl, os.path.join(tree, "secrets"))
    finally:
        shutil.rmtree(os.path.dirname(tree), ignore_errors=True)
    return docs, secrets


def flags(container):
    """{--flag: value or True} of a container's command and args."""
    out = {}
    for arg in (container.get("command") or [])[1:] + (container.get("args") or []):
        name, eq, value = str(arg).partition("=")
        out[name] = value if eq else True
    return out


def selector_matches(selector, labels):
    if selector.get("matchExpressions"):
        raise AssertionError("matchExpressions in a pod selector: extend this test")
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


class ManifestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.docs, cls.secret_docs = load()
        cls.text = yaml.safe_dump_all(cls.docs)
        cls.deployments = {d["metadata"]["name"]: d for d in cls.docs if d["kind"] == "Deployment"}
        cls.services = {d["metadata"]["name"]: d for d in cls.docs if d["kind"] == "Service"}
        cls.policies = [d for d in cls.docs if d["kind"] == "NetworkPolicy"]
        cls.jobs = {d["metadata"]["name"]: d for d in cls.docs if d["kind"] == "Job"}
        cls.secrets = {d["metadata"]["name"]: d for d in cls.secret_docs}

    def of_kind(self, kind):
        return {d["metadata"]["name"]: d for d in self.docs if d["kind"] == kind}

    def pod(self, app):
        if app in self.jobs:
            return self.jobs[app]["spec"]["template"]
        return self.deployments[app]["spec"]["template"]

    def container(self, app):
        containers = self.pod(app)["spec"]["containers"]
        self.assertEqual(len(containers), 1, app)
        return containers[0]

    def container_ports(self, app):
        """{number: name} of the app's container ports."""
        return {p["containerPort"]: p.get("name") for p in self.container(app).get("ports", [])}

    def mounted_file(self, app, path):
        """(secret name, key) behind a file path in the app's container, or None."""
        volumes = {v["name"]: v for v in self.pod(app)["spec"].get("volumes", [])}
        for mount in self.container(app).get("volumeMounts", []):
            prefix = mount["mountPath"].rstrip("/") + "/"
            if not path.startswith(prefix):
                continue
            secret = volumes[mount["name"]].get("secret")
            if not secret:
                return None
            relative = path[len(prefix):]
            items = secret.get("items")
            if items is None:
                return secret["secretName"], relative
            for item in items:
                if item["path"] == relative:
                    return secret["secretName"], item["key"]
        return None

    # --- shape ---------------------------------------------------------------

    def test_every_document_is_a_named_object_once(self):
        seen = set()
        for d in self.docs:
            self.assertIn("apiVersion", d)
            key = (d["kind"], d["metadata"]["name"])
            self.assertNotIn(key, seen)
            seen.add(key)
            if d["kind"] == "Namespace":
                self.assertEqual(d["metadata"]["name"], NAMESPACE)
                # Pod Security Admission: nothing less than `restricted` starts here.
                self.assertEqual(d["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "restricted")
                continue
            self.assertEqual(d["metadata"].get("namespace"), NAMESPACE, key)
        self.assertEqual(sorted(self.deployments), sorted(APPS))
        for app, d in self.deployments.items():
            labels = d["spec"]["template"]["metadata"]["labels"]
            self.assertEqual(labels, {"app": app})
            self.assertEqual(d["spec"]["selector"], {"matchLabels": {"app": app}})

    # --- flags ---------------------------------------------------------------

    def test_no_dev_mode_anywhere(self):
        self.assertNotIn("insecure_dev", re.sub(r"(?m)#.*$", "", self.text))
        for app in APPS:
            c = self.container(app)
            for arg in (c.get("command") or []) + (c.get("args") or []):
                self.assertNotIn("insecure", str(arg), app)
            for env in c.get("env", []):
                self.assertNotIn("INSECURE", env["name"], app)

    def test_every_server_runs_on_credentials_and_mutual_tls(self):
        for app in APPS:
            f = flags(self.container(app))
            for flag in SERVER_FLAGS:
                self.assertIn(flag, f, f"{app}: {flag}")
            self.assertIs(f["--require_client_cert"], True, app)
            self.assertEqual(self.mounted_file(app, f["--credentials_file"]), ("tasker-credentials", "credentials"))
            self.assertEqual(self.mounted_file(app, f["--tls_ca"]), ("tasker-tls", "ca.crt"), app)
            # Its own certificate and key, nobody else's.
            self.assertEqual(self.mounted_file(app, f["--tls_cert"]), ("tasker-tls", f"{app}.crt"), app)
            self.assertEqual(self.mounted_file(app, f["--tls_key"]), ("tasker-tls", f"{app}.key"), app)

    def test_every_caller_presents_its_own_token(self):
        for app in APPS:
            f = flags(self.container(app))
            if app == "storage":
                # Storage calls no one: no token to present, none mounted.
                self.assertNotIn("--token_file", f)
                continue
            self.assertIn("--token_file", f, app)
            self.assertEqual(self.mounted_file(app, f["--token_file"]), ("tasker-credentials", f"{app}.token"), app)
            # Peers are dialled by Service name or pod IP: one name checks them all.
            self.assertEqual(f.get("--tls_server_name"), "tasker-internal", app)

    def test_executor_public_api_and_permissions(self):
        f = flags(self.container("task-executor"))
        self.assertEqual(f["--default_permissions"], "none")
        self.assertEqual(f["--public_listen"], "0.0.0.0:50050")
        self.assertEqual(f["--http_listen"], "0.0.0.0:8443")
        self.assertEqual(f["--listen"], "0.0.0.0:50052")
        self.assertEqual(self.mounted_file("task-executor", f["--http_tls_cert"]), ("tasker-tls", "task-executor.crt"))
        self.assertEqual(self.mounted_file("task-executor", f["--http_tls_key"]), ("tasker-tls", "task-executor.key"))
        self.assertEqual(self.mounted_file("task-executor", f["--http_tls_client_ca"]), ("tasker-tls", "ca.crt"))
        # Processors push results to this pod, not to 127.0.0.1.
        self.assertEqual(f["--advertise_address"], "$(POD_IP):50052")

    def test_proxy_has_no_storage_and_keystore_no_service_token(self):
        proxy = flags(self.container("proxy"))
        self.assertNotIn("--storage", proxy)
        env = {e["name"]: e for e in self.container("proxy").get("env", [])}
        ref = env["TASKER_APP_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        self.assertEqual(ref["name"], "tasker-app-database")
        keystore = flags(self.container("keystore"))
        self.assertNotIn("--service_token_file", keystore)
        self.assertEqual(self.mounted_file("keystore", keystore["--master_key_file"]), ("tasker-keys", "master-key"))

    def test_variables_in_commands_are_defined(self):
        for app in APPS:
            c = self.container(app)
            defined = {e["name"] for e in c.get("env", [])}
            for arg in (c.get("command") or []) + (c.get("args") or []):
                for var in re.findall(r"\$\((\w+)\)", str(arg)):
                    self.assertIn(var, defined, f"{app}: $({var})")

    def test_listen_ports_are_container_ports(self):
        for app in APPS:
            f = flags(self.container(app))
            ports = self.container_ports(app)
            for flag in ("--listen", "--public_listen", "--http_listen", "--health_listen"):
                if flag in f:
                    self.assertIn(int(f[flag].rsplit(":", 1)[1]), ports, f"{app} {flag}")
            self.assertEqual(ports.get(int(f["--metrics_port"])), "metrics", app)
            self.assertEqual(len(ports), len(set(ports.values())), app)

    # --- Services ------------------------------------------------------------

    def test_only_tasker_api_faces_outside_with_the_public_ports(self):
        self.assertEqual(sorted(self.services), sorted(["tasker-api"] + list(INTERNAL_SERVICES)))
        api = self.services["tasker-api"]["spec"]
        self.assertIn(api.get("type"), ("LoadBalancer", "NodePort"))
        self.assertEqual(api["selector"], {"app": "task-executor"})
        self.assertEqual({p["port"] for p in api["ports"]}, PUBLIC_PORTS)
        names = self.container_ports("task-executor")
        for p in api["ports"]:
            target = p.get("targetPort", p["port"])
            number = next(n for n, name in names.items() if target in (n, name))
            self.assertIn(number, PUBLIC_PORTS, f"tasker-api port {p['port']} reaches container port {number}")
        for name, (port, headless) in INTERNAL_SERVICES.items():
            spec = self.services[name]["spec"]
            self.assertEqual(spec.get("type", "ClusterIP"), "ClusterIP", name)
            for field in ("externalIPs", "externalName", "loadBalancerIP"):
                self.assertNotIn(field, spec, name)
            self.assertEqual([p["port"] for p in spec["ports"]], [port], name)
            self.assertEqual(spec.get("clusterIP") == "None", headless, name)
            self.assertIn(port, self.container_ports(spec["selector"]["app"]), name)

    # --- NetworkPolicies -----------------------------------------------------

    def allowed_sources(self, app, port):
        """Who may reach port of the app's pods: role names, PUBLIC, or a
        description of a peer this test does not expect."""
        labels = self.pod(app)["metadata"]["labels"]
        port_name = self.container_ports(app).get(port)
        app_role = {a: r for r, a in ROLE_APP.items()}
        sources = set()
        for policy in self.policies:
            spec = policy["spec"]
            if not selector_matches(spec["podSelector"], labels) or "Ingress" not in spec.get("policyTypes", []):
                continue
            for rule in spec.get("ingress") or []:
                ports = rule.get("ports")
                if ports and not any(p.get("port") in (port, port_name) and p.get("protocol", "TCP") == "TCP"
                                     for p in ports):
                    continue
                peers = rule.get("from") or []
                if not peers:
                    sources.add(PUBLIC)
                for peer in peers:
                    if peer == PROMETHEUS_PEER:
                        sources.add("prometheus")
                    elif set(peer) == {"podSelector"} and list(peer["podSelector"]) == ["matchLabels"] and \
                            list(peer["podSelector"]["matchLabels"]) == ["app"]:
                        source = peer["podSelector"]["matchLabels"]["app"]
                        sources.add(app_role.get(source, "unknown app " + source))
                    else:
                        sources.add("unexpected peer %r" % (peer,))
        return sources

    def test_ingress_is_denied_by_default(self):
        deny = [p for p in self.policies if p["spec"]["podSelector"] == {} and
                "Ingress" in p["spec"].get("policyTypes", []) and not p["spec"].get("ingress")]
        self.assertEqual(len(deny), 1)
        # The other namespace-wide policy opens the metrics port to Prometheus alone.
        wide = [p for p in self.policies if p["spec"]["podSelector"] == {} and p not in deny]
        self.assertEqual([p["metadata"]["name"] for p in wide], ["metrics-ingress"])
        self.assertEqual(wide[0]["spec"]["ingress"],
                         [{"from": [PROMETHEUS_PEER], "ports": [{"protocol": "TCP", "port": METRICS_PORT}]}])

    def test_each_port_is_open_to_exactly_its_callers(self):
        for app in APPS:
            for port in self.container_ports(app):
                expected = EXPECTED_INGRESS.get((app, port), set())  # e.g. health: the kubelet only
                self.assertEqual(self.allowed_sources(app, port), expected, f"{app}:{port}")

    def test_every_call_a_service_makes_is_allowed(self):
        by_app = {a: r for r, a in ROLE_APP.items()}
        for app in APPS:
            for flag, value in flags(self.container(app)).items():
                if flag not in TARGET_FLAGS:
                    continue
                m = re.fullmatch(r"(?:dns:///)?([a-z-]+):(\d+)", value)
                self.assertTrue(m, f"{app} {flag}={value}")
                service, port = m.group(1), int(m.group(2))
                self.assertEqual(service, TARGET_FLAGS[flag])
                self.assertEqual(INTERNAL_SERVICES[service][0], port, f"{app} {flag}")
                self.assertIn(by_app[app], self.allowed_sources(service, port), f"{app} -> {value}")

    # --- secrets -------------------------------------------------------------

    def test_secrets_are_mounted_read_only_and_only_what_the_pod_needs(self):
        for app in APPS:
            spec = self.pod(app)["spec"]
            volumes = {v["name"]: v for v in spec.get("volumes", [])}
            for mount in self.container(app).get("volumeMounts", []):
                volume = volumes[mount["name"]]
                if "secret" in volume or "projected" in volume:
                    self.assertIs(mount.get("readOnly"), True, f"{app}: {mount['name']}")
                    self.assertNotIn("subPath", mount, f"{app}: subPath stops Secret updates")
            for volume in volumes.values():
                self.assertNotIn("projected", volume, f"{app}: extend this test for projected volumes")
                secret = volume.get("secret")
                if not secret:
                    continue
                self.assertLessEqual(secret.get("defaultMode", 0o644), 0o440, app)
                keys = {i["key"] for i in secret.get("items") or []}
                name = secret["secretName"]
                if name == "tasker-tls":
                    self.assertEqual(keys, {"ca.crt", f"{app}.crt", f"{app}.key"}, app)
                elif name == "tasker-credentials":
                    own = set() if app == "storage" else {f"{app}.token"}
                    self.assertEqual(keys, {"credentials"} | own, app)
                elif name == "tasker-keys":
                    self.assertEqual(app, "keystore", "only the keystore holds the master keys")
                else:
                    self.fail(f"{app}: unexpected secret {name}")
            secret_env = {e["valueFrom"]["secretKeyRef"]["name"] for e in self.container(app).get("env", [])
                          if "secretKeyRef" in e.get("valueFrom", {})}
            self.assertEqual(secret_env, {"storage": {"tasker-database"},
                                          "proxy": {"tasker-app-database"}}.get(app, set()), app)

    def test_secret_keys_are_the_files_gen_certs_writes(self):
        tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        try:
            out = os.path.join(tmp, "tasker-pki")
            subprocess.run([kustomize.GEN_CERTS, out, "--tokens"], check=True, capture_output=True)
            files = {"tasker-tls": set(os.listdir(os.path.join(out, "tls"))),
                     "tasker-credentials": set(os.listdir(os.path.join(out, "credentials")))}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        used = {"tasker-tls": set(), "tasker-credentials": set()}
        for app in APPS + list(self.jobs):
            for volume in self.pod(app)["spec"].get("volumes", []):
                secret = volume.get("secret")
                if secret and secret["secretName"] in used:
                    used[secret["secretName"]] |= {i["key"] for i in secret["items"]}
        for name in used:
            self.assertLessEqual(used[name], files[name], name)
        self.assertEqual(used["tasker-tls"], files["tasker-tls"])  # every certificate is used
        # deploy/kubernetes/secrets generates exactly gen-certs' directories.
        for name in files:
            self.assertEqual(set(self.secrets[name]["data"]), files[name], name)

    def test_every_secret_a_pod_reads_is_generated(self):
        """Each Secret key a pod mounts or reads into its environment is in
        what deploy/kubernetes/secrets generates (the app database's Secret
        is optional, and made by hand when that provider is used)."""
        for name, secret in self.secrets.items():
            self.assertEqual(secret["metadata"].get("namespace"), NAMESPACE, name)
            self.assertEqual(secret["metadata"]["name"], name)  # no hash suffix: pods name it
        for app in APPS + list(self.jobs):
            spec = self.pod(app)["spec"]
            for volume in spec.get("volumes", []):
                secret = volume.get("secret")
                if not secret:
                    continue
                self.assertIn(secret["secretName"], self.secrets, app)
                keys = [i["key"] for i in secret.get("items") or []] or list(self.secrets[secret["secretName"]]["data"])
                for key in keys:
                    self.assertIn(key, self.secrets[secret["secretName"]]["data"], f"{app}: {key}")
            for c in spec["containers"]:
                for env in c.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if not ref:
                        continue
                    if ref.get("optional"):
                        self.assertNotIn(ref["name"], self.secrets, app)
                        continue
                    self.assertIn(ref["key"], self.secrets[ref["name"]]["data"], f"{app}: {ref}")
        self.assertEqual(sorted(self.secrets), ["tasker-credentials", "tasker-database", "tasker-keys", "tasker-tls"])

    # --- pods ----------------------------------------------------------------

    def test_probes_use_the_plaintext_health_port(self):
        for app in APPS:
            c = self.container(app)
            health = int(flags(c)["--health_listen"].rsplit(":", 1)[1])
            self.assertEqual(c["readinessProbe"]["grpc"], {"port": health, "service": HEALTH_NAME[app]}, app)
            self.assertEqual(c["livenessProbe"]["grpc"], {"port": health, "service": "liveness"}, app)

    def test_pods_run_unprivileged_with_resources(self):
        for app in APPS + list(self.jobs):
            spec = self.pod(app)["spec"]
            self.assertIs(spec.get("automountServiceAccountToken"), False, app)
            self.assertIs(spec["securityContext"].get("runAsNonRoot"), True, app)
            self.assertNotEqual(spec["securityContext"].get("runAsUser"), 0, app)
            self.assertEqual(spec["securityContext"].get("seccompProfile"), {"type": "RuntimeDefault"}, app)
            self.assertNotIn("hostNetwork", spec, app)
            c = self.container(app)
            sc = c["securityContext"]
            self.assertIs(sc.get("allowPrivilegeEscalation"), False, app)
            self.assertIs(sc.get("readOnlyRootFilesystem"), True, app)
            self.assertEqual(sc["capabilities"]["drop"], ["ALL"], app)
            self.assertIn("cpu", c["resources"]["requests"], app)
            self.assertIn("memory", c["resources"]["requests"], app)
            self.assertIn("memory", c["resources"]["limits"], app)


    def test_each_service_has_its_own_tokenless_service_account(self):
        accounts = self.of_kind("ServiceAccount")
        for account in accounts.values():
            self.assertIs(account.get("automountServiceAccountToken"), False, account["metadata"]["name"])
        used = []
        for app in APPS + list(self.jobs):
            name = self.pod(app)["spec"].get("serviceAccountName")
            self.assertIn(name, accounts, app)
            used.append(name)
        self.assertEqual(len(used), len(set(used)), "one ServiceAccount per workload")
        self.assertEqual(sorted(used), sorted(accounts))
        # Nothing grants them API access.
        for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
            self.assertEqual(self.of_kind(kind), {}, kind)

    def test_metrics_are_announced_for_scraping(self):
        for app in APPS:
            annotations = self.pod(app)["metadata"].get("annotations") or {}
            self.assertEqual(annotations.get("prometheus.io/scrape"), "true", app)
            self.assertEqual(annotations.get("prometheus.io/port"), str(METRICS_PORT), app)
            self.assertEqual(annotations.get("prometheus.io/path"), "/metrics", app)

    def test_replicated_services_have_disruption_budgets(self):
        budgets = self.of_kind("PodDisruptionBudget")
        for app in APPS:
            selecting = [b for b in budgets.values() if selector_matches(b["spec"]["selector"], {"app": app})]
            if app == "storage":
                # One replica: a budget would block every node drain.
                self.assertEqual(selecting, [], app)
                self.assertEqual(self.deployments[app]["spec"].get("replicas"), 1)
                continue
            self.assertEqual(len(selecting), 1, app)
            spec = selecting[0]["spec"]
            self.assertEqual(spec.get("maxUnavailable"), 1, app)
            self.assertEqual(spec["selector"], {"matchLabels": {"app": app}}, app)
        for b in budgets.values():
            self.assertEqual(b["apiVersion"], "policy/v1")

    def test_executors_and_processors_autoscale(self):
        autoscalers = self.of_kind("HorizontalPodAutoscaler")
        targets = {}
        for name, hpa in autoscalers.items():
            self.assertEqual(hpa["apiVersion"], "autoscaling/v2", name)
            ref = hpa["spec"]["scaleTargetRef"]
            self.assertEqual((ref["apiVersion"], ref["kind"]), ("apps/v1", "Deployment"), name)
            targets[ref["name"]] = hpa["spec"]
        self.assertEqual(set(targets), AUTOSCALED)
        for app, spec in targets.items():
            self.assertGreaterEqual(spec["minReplicas"], 2, app)
            self.assertGreater(spec["maxReplicas"], spec["minReplicas"], app)
            cpu = [m for m in spec["metrics"] if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
            self.assertEqual(len(cpu), 1, app)
            # Utilization is a share of the request: there must be one.
            self.assertIn("cpu", self.container(app)["resources"]["requests"], app)
            # The autoscaler owns the count: an apply must not reset it.
            self.assertNotIn("replicas", self.deployments[app]["spec"], app)
        for app in set(APPS) - AUTOSCALED:
            self.assertIn("replicas", self.deployments[app]["spec"], app)

    def test_migrations_job_migrates_and_exits(self):
        self.assertEqual(list(self.jobs), ["tasker-migrate"])
        job = self.jobs["tasker-migrate"]
        spec = job["spec"]["template"]["spec"]
        self.assertIn(spec["restartPolicy"], ("OnFailure", "Never"))
        self.assertIn("backoffLimit", job["spec"])
        (c,) = spec["containers"]
        self.assertEqual(c["command"][0], "/opt/tasker/bin/storage-service")
        f = flags(c)
        self.assertIs(f.get("--migrate_only"), True)
        # It serves nothing: no listener, no TLS, no token; the same database as storage.
        for flag in ("--listen", "--health_listen", "--token_file", "--tls_key", "--metrics_port"):
            self.assertNotIn(flag, f)
        for arg in c["command"] + (c.get("args") or []):
            self.assertNotIn("insecure", str(arg))
        self.assertEqual(self.mounted_file("tasker-migrate", f["--credentials_file"]),
                         ("tasker-credentials", "credentials"))
        storage_env = {e["name"]: e for e in self.container("storage")["env"]}
        job_env = {e["name"]: e for e in c["env"]}
        self.assertEqual(job_env["TASKER_DATABASE_URL"], storage_env["TASKER_DATABASE_URL"])
        self.assertEqual(c["image"], self.container("storage")["image"])
        self.assertEqual(c.get("ports"), None)

    def test_every_workload_runs_the_same_pinned_image(self):
        images = {self.container(app)["image"] for app in APPS + list(self.jobs)}
        self.assertEqual(len(images), 1, images)
        image = images.pop()
        self.assertRegex(image, r"^[^:@]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$")
        self.assertFalse(image.endswith(":latest"), image)


if __name__ == "__main__":
    junit_runner.main("manifests_test")
