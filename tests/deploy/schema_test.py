#!/usr/bin/env python3
"""Every object deploy/kubernetes renders (base, dev, prod, the generated
Secrets) is valid against the Kubernetes API types, offline: k8s_schema
checks each field, type and required field against Debian's
python3-kubernetes models (plus the two post-1.22 additions it declares).
The checker itself is tested on broken objects, so a pass means something."""
import copy
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import junit_runner  # noqa: E402

try:
    import yaml  # noqa: F401
    import k8s_schema  # noqa: E402
except ImportError as e:
    sys.exit(f"schema_test: {e} (apt packages python3-yaml, python3-kubernetes; run tools/setup)")
import kustomize  # noqa: E402


class SchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        kubectl = shutil.which("kubectl")
        if not kubectl:
            raise AssertionError("no kubectl on PATH (tools/setup installs Debian's kubernetes-client)")
        cls.tree = kustomize.copy_tree()
        kustomize.make_secret_files(cls.tree)
        cls.rendered = {d: kustomize.render(kubectl, os.path.join(cls.tree, d))
                        for d in kustomize.OVERLAYS + ("secrets",)}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(os.path.dirname(cls.tree), ignore_errors=True)

    def test_every_rendered_object_is_valid(self):
        count = 0
        for directory, docs in self.rendered.items():
            self.assertTrue(docs, directory)
            for d in docs:
                self.assertEqual(k8s_schema.validate(d), [], directory)
                count += 1
        self.assertGreater(count, 40)

    def test_the_kinds_used_are_checked_against_their_api_groups(self):
        kinds = {(d["apiVersion"], d["kind"]) for docs in self.rendered.values() for d in docs}
        self.assertEqual(kinds, {
            ("v1", "Namespace"), ("v1", "Service"), ("v1", "ServiceAccount"), ("v1", "Secret"),
            ("v1", "PersistentVolumeClaim"),
            ("apps/v1", "Deployment"), ("batch/v1", "Job"), ("networking.k8s.io/v1", "NetworkPolicy"),
            ("policy/v1", "PodDisruptionBudget"), ("autoscaling/v2", "HorizontalPodAutoscaler")})

    # --- the checker catches what it should ----------------------------------

    def broken(self, kind, mutate):
        doc = copy.deepcopy(next(d for d in self.rendered["overlays/prod"] if d["kind"] == kind))
        mutate(doc)
        return k8s_schema.validate(doc)

    def test_checker_rejects_unknown_and_misplaced_fields(self):
        def typo(d):
            d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] = True
        self.assertRegex(" ".join(self.broken("Deployment", typo)), r"readOnlyRootFileSystem: no such field")

        def misplaced(d):  # a container field on the pod
            d["spec"]["template"]["spec"]["resources"] = {"limits": {"memory": "1Gi"}}
        self.assertRegex(" ".join(self.broken("Deployment", misplaced)), r"spec\.resources: no such field")

    def test_checker_rejects_wrong_types_and_missing_required_fields(self):
        def string_port(d):
            d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "50051"
        self.assertRegex(" ".join(self.broken("Deployment", string_port)), r"containerPort: expected int")

        def no_selector(d):
            del d["spec"]["selector"]
        self.assertRegex(" ".join(self.broken("Deployment", no_selector)), r"spec\.selector: required")

        def grpc_without_port(d):
            del d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"]
        self.assertRegex(" ".join(self.broken("Deployment", grpc_without_port)), r"grpc\.port: required")

        def hpa_typo(d):
            d["spec"]["maxReplica"] = 3
        self.assertRegex(" ".join(self.broken("HorizontalPodAutoscaler", hpa_typo)), r"maxReplica: no such field")

    def test_checker_rejects_kinds_the_api_group_does_not_serve(self):
        self.assertRegex(" ".join(self.broken("Deployment", lambda d: d.update(apiVersion="v1"))),
                         r"serves no Deployment in v1")
        self.assertRegex(" ".join(self.broken("PodDisruptionBudget", lambda d: d.update(apiVersion="apps/v1"))),
                         r"serves no PodDisruptionBudget")


if __name__ == "__main__":
    junit_runner.main("schema_test")
