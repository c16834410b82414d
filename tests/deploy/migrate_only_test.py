#!/usr/bin/env python3
"""storage-service --migrate_only, what the Kubernetes migrations Job runs:
applies every schema migration to a fresh database and exits 0 without
serving; run again it finds nothing to do; a database it cannot open fails
the Job (non-zero)."""
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import junit_runner  # noqa: E402
import kustomize  # noqa: E402

STORAGE = kustomize.runfile("services", "storage", "storage-service")
# storage/sqlite/migrations/ held 6 when this was written; versions are 1..N.
MIN_MIGRATIONS = 6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MigrateOnlyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        self.db = os.path.join(self.tmp, "tasks.db")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def migrate(self, *extra, url=None):
        port = free_port()
        proc = subprocess.run([STORAGE, "--migrate_only", "--insecure_dev", f"--listen=127.0.0.1:{port}",
                               f"--database_url={url or 'sqlite://' + self.db}", *extra],
                              capture_output=True, text=True, timeout=60)
        return proc, port

    def versions(self):
        with sqlite3.connect(self.db) as db:
            return [row[0] for row in db.execute("SELECT version FROM schema_migrations ORDER BY version")]

    def test_applies_every_migration_and_exits_without_serving(self):
        proc, port = self.migrate()
        self.assertEqual(proc.returncode, 0, proc.stderr)
        versions = self.versions()
        self.assertGreaterEqual(len(versions), MIN_MIGRATIONS)
        self.assertEqual(versions, list(range(1, len(versions) + 1)))
        self.assertIn("--migrate_only", proc.stderr + proc.stdout)
        # It exited: nothing listens on the port it was given.
        with socket.socket() as s:
            self.assertNotEqual(s.connect_ex(("127.0.0.1", port)), 0)

    def test_second_run_is_a_no_op(self):
        first, _ = self.migrate()
        self.assertEqual(first.returncode, 0, first.stderr)
        before = self.versions()
        second, _ = self.migrate()
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertEqual(self.versions(), before)
        self.assertNotIn("migration applied", second.stderr + second.stdout)

    def test_unreachable_database_fails_the_job(self):
        proc, _ = self.migrate(url=f"sqlite://{self.tmp}/no/such/dir/tasks.db")
        self.assertNotEqual(proc.returncode, 0)
        proc, _ = self.migrate(url="postgres://tasker@127.0.0.1:1/tasker?connect_timeout=2")
        self.assertNotEqual(proc.returncode, 0)


if __name__ == "__main__":
    junit_runner.main("migrate_only_test")
