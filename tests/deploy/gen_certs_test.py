#!/usr/bin/env python3
"""tools/gen-certs: runs it into temp dirs and checks what it wrote with the
openssl CLI (verify, x509 -text) and real mutual-TLS handshakes (Python's ssl)."""
import hashlib
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import junit_runner  # noqa: E402

SERVICES = ["storage", "task-executor", "stack-processor", "keystore", "proxy"]
# Identity -> role of every token gen-certs writes (storage calls no one).
TOKEN_ROLES = {"task-executor": "executor", "stack-processor": "processor", "keystore": "keystore",
               "proxy": "proxy"}


def _script():
    srcdir = os.environ.get("TEST_SRCDIR")
    if srcdir:
        return os.path.join(srcdir, os.environ.get("TEST_WORKSPACE", "tasker"), "tools", "gen-certs")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "gen-certs")


GEN_CERTS = _script()


def gen_certs(out, *args, check=True):
    proc = subprocess.run([GEN_CERTS, out, *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"gen-certs {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def x509_text(path):
    return subprocess.run(["openssl", "x509", "-in", path, "-noout", "-text"], capture_output=True, text=True,
                          check=True).stdout


def sans(path):
    text = x509_text(path)
    m = re.search(r"X509v3 Subject Alternative Name:.*?\n\s*(.+)\n", text)
    if not m:
        return set()
    return {s.strip().replace("IP Address:", "IP:") for s in m.group(1).split(",")}


def ekus(path):
    m = re.search(r"X509v3 Extended Key Usage:.*?\n\s*(.+)\n", x509_text(path))
    return {s.strip() for s in m.group(1).split(",")} if m else set()


def verify(ca, cert, purpose=None):
    cmd = ["openssl", "verify", "-CAfile", ca]
    if purpose:
        cmd += ["-purpose", purpose]
    return subprocess.run(cmd + [cert], capture_output=True, text=True)


def snapshot(root):
    """{relative path: (bytes, mode)} of every file under root."""
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = (f.read(), stat.S_IMODE(os.stat(path).st_mode))
    return files


def handshake(server_cert, server_key, client_cert, client_key, ca, server_hostname):
    """A TLS 1.3 handshake over a socket pair: the server requires a client
    certificate signed by ca, the client checks the server's name. Returns None
    when both sides succeed, else the first error."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(server_cert, server_key)
    server_ctx.load_verify_locations(ca)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_verify_locations(ca)
    if client_cert:
        client_ctx.load_cert_chain(client_cert, client_key)
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    errors = []

    def serve():
        try:
            with server_ctx.wrap_socket(a, server_side=True) as s:
                s.sendall(s.recv(5))  # TLS 1.3 checks the client certificate after the handshake
        except (ssl.SSLError, OSError) as e:
            errors.append(e)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(b, server_hostname=server_hostname) as c:
            c.sendall(b"hello")
            if c.recv(5) != b"hello":
                errors.append(AssertionError("no echo"))
    except (ssl.SSLError, OSError) as e:
        errors.insert(0, e)
    finally:
        b.close()
        thread.join(10)
        a.close()
    return errors[0] if errors else None


class GenCertsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        cls.out = os.path.join(cls.tmp, "pki")
        cls.first = gen_certs(cls.out, "--tokens", "--hosts", "tasker.example.com,10.1.2.3")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.out, *parts)

    def test_every_certificate_verifies_against_the_ca(self):
        ca = self.path("ca.crt")
        for name in SERVICES:
            for purpose in ("sslserver", "sslclient"):
                proc = verify(ca, self.path("tls", f"{name}.crt"), purpose)
                self.assertEqual(proc.returncode, 0, f"{name} as {purpose}: {proc.stdout}{proc.stderr}")
        self.assertEqual(verify(ca, self.path("client.crt"), "sslclient").returncode, 0)
        # The client certificate cannot serve.
        self.assertNotEqual(verify(ca, self.path("client.crt"), "sslserver").returncode, 0)
        # The Secret's copy of the CA is the CA.
        with open(ca, "rb") as a, open(self.path("tls", "ca.crt"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertIn("CA:TRUE", x509_text(ca))

    def test_a_certificate_from_another_ca_does_not_verify(self):
        other = os.path.join(self.tmp, "other")
        gen_certs(other, "--names", "storage")
        self.assertNotEqual(verify(self.path("ca.crt"), os.path.join(other, "tls", "storage.crt")).returncode, 0)

    def test_sans_and_key_usages(self):
        for name in SERVICES:
            expected = {f"DNS:{name}", f"DNS:{name}.tasker.svc", f"DNS:{name}.tasker.svc.cluster.local",
                        "DNS:localhost", "IP:127.0.0.1", "DNS:tasker.example.com", "IP:10.1.2.3",
                        "DNS:tasker-internal"}
            if name == "task-executor":
                expected |= {"DNS:tasker-api", "DNS:tasker-api.tasker.svc", "DNS:tasker-api.tasker.svc.cluster.local"}
            cert = self.path("tls", f"{name}.crt")
            self.assertEqual(sans(cert), expected, name)
            self.assertEqual(ekus(cert), {"TLS Web Server Authentication", "TLS Web Client Authentication"}, name)
            self.assertIn("CA:FALSE", x509_text(cert))
        self.assertEqual(ekus(self.path("client.crt")), {"TLS Web Client Authentication"})

    def test_namespace_changes_the_cluster_names(self):
        out = os.path.join(self.tmp, "ns")
        gen_certs(out, "--names", "keystore", "--namespace", "prod")
        self.assertEqual(sans(os.path.join(out, "tls", "keystore.crt")),
                         {"DNS:keystore", "DNS:keystore.prod.svc", "DNS:keystore.prod.svc.cluster.local",
                          "DNS:localhost", "IP:127.0.0.1", "DNS:tasker-internal"})
        self.assertFalse(os.path.exists(os.path.join(out, "tls", "storage.crt")))

    def test_mutual_tls_between_services(self):
        tls = lambda f: self.path("tls", f)  # noqa: E731
        ca = tls("ca.crt")
        # The executor calls storage by its Service name, presenting its own certificate.
        self.assertIsNone(handshake(tls("storage.crt"), tls("storage.key"), tls("task-executor.crt"),
                                    tls("task-executor.key"), ca, "storage"))
        self.assertIsNone(handshake(tls("storage.crt"), tls("storage.key"), tls("task-executor.crt"),
                                    tls("task-executor.key"), ca, "storage.tasker.svc.cluster.local"))
        # A CLI user reaches the public Service with the client certificate.
        self.assertIsNone(handshake(tls("task-executor.crt"), tls("task-executor.key"), self.path("client.crt"),
                                    self.path("client.key"), ca, "tasker-api"))
        # Wrong name: the client refuses storage's certificate for keystore.
        self.assertIsNotNone(handshake(tls("storage.crt"), tls("storage.key"), tls("task-executor.crt"),
                                       tls("task-executor.key"), ca, "keystore"))
        # No client certificate: the server refuses.
        self.assertIsNotNone(handshake(tls("storage.crt"), tls("storage.key"), None, None, ca, "storage"))
        # The client certificate cannot serve (no serverAuth).
        self.assertIsNotNone(handshake(self.path("client.crt"), self.path("client.key"), tls("storage.crt"),
                                       tls("storage.key"), ca, "localhost"))

    def test_file_modes(self):
        secret = [self.path("ca.key"), self.path("client.key"), self.path("admin.token")]
        secret += [self.path("tls", f"{n}.key") for n in SERVICES]
        secret += [self.path("credentials", f"{n}.token") for n in TOKEN_ROLES]
        for path in secret:
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
        public = [self.path("ca.crt"), self.path("client.crt"), self.path("tls", "ca.crt"),
                  self.path("credentials", "credentials")] + [self.path("tls", f"{n}.crt") for n in SERVICES]
        for path in public:
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o644, path)

    def test_secret_directories_hold_exactly_what_the_secrets_hold(self):
        # kubectl create secret --from-file=DIR takes every file: the CA key must not be among them.
        self.assertEqual(sorted(os.listdir(self.path("tls"))),
                         sorted(["ca.crt"] + [f"{n}.{e}" for n in SERVICES for e in ("crt", "key")]))
        self.assertEqual(sorted(os.listdir(self.path("credentials"))),
                         sorted(["credentials"] + [f"{n}.token" for n in TOKEN_ROLES]))

    def test_credentials_file_holds_hashes_of_the_tokens(self):
        with open(self.path("credentials", "credentials")) as f:
            lines = [l.split() for l in f.read().splitlines() if l.strip() and not l.startswith("#")]
        tokens = {n: self.path("credentials", f"{n}.token") for n in TOKEN_ROLES}
        tokens["admin"] = self.path("admin.token")
        roles = dict(TOKEN_ROLES, admin="admin")
        self.assertEqual(sorted(l[0] for l in lines), sorted(tokens))
        seen = set()
        for identity, role, credential in lines:
            self.assertEqual(role, roles[identity])
            self.assertRegex(credential, r"^sha256:[0-9a-f]{64}$")
            with open(tokens[identity]) as f:
                token = f.read()
            self.assertRegex(token, r"^[0-9a-f]{64}$")  # 256 bits, no newline
            self.assertEqual(credential, "sha256:" + hashlib.sha256(token.encode()).hexdigest(), identity)
            self.assertNotIn(token, open(self.path("credentials", "credentials")).read())
            seen.add(token)
        self.assertEqual(len(seen), len(lines), "tokens must differ")

    def test_second_run_changes_nothing(self):
        out = os.path.join(self.tmp, "again")
        gen_certs(out, "--tokens")
        before = snapshot(out)
        second = gen_certs(out, "--tokens")
        self.assertEqual(snapshot(out), before)
        self.assertNotIn("wrote", second.stdout)
        self.assertIn(f"kept {out}/ca.crt", second.stdout)
        self.assertIn("wrote", self.first.stdout)

    def test_new_hosts_reissue_leaves_and_keep_the_ca(self):
        out = os.path.join(self.tmp, "hosts")
        gen_certs(out)
        before = snapshot(out)
        proc = gen_certs(out, "--hosts", "api.example.org")
        after = snapshot(out)
        self.assertEqual(after["ca.crt"], before["ca.crt"])
        self.assertEqual(after["ca.key"], before["ca.key"])
        self.assertNotEqual(after["tls/storage.crt"], before["tls/storage.crt"])
        self.assertIn("DNS:api.example.org", sans(os.path.join(out, "tls", "storage.crt")))
        self.assertEqual(after["client.crt"], before["client.crt"])  # no SANs: unchanged
        self.assertIn(f"kept {out}/ca.crt", proc.stdout)

    def test_force_replaces_the_ca_and_everything_it_signed(self):
        out = os.path.join(self.tmp, "force")
        gen_certs(out, "--tokens")
        before = snapshot(out)
        gen_certs(out, "--tokens", "--force")
        after = snapshot(out)
        self.assertNotEqual(after["ca.crt"], before["ca.crt"])
        self.assertNotEqual(after["tls/storage.key"], before["tls/storage.key"])
        self.assertEqual(verify(os.path.join(out, "ca.crt"), os.path.join(out, "tls", "proxy.crt")).returncode, 0)
        # Tokens are not certificates: kept.
        self.assertEqual(after["credentials/proxy.token"], before["credentials/proxy.token"])

    def test_a_certificate_signed_by_a_replaced_ca_is_reissued(self):
        out = os.path.join(self.tmp, "newca")
        gen_certs(out, "--names", "proxy")
        os.remove(os.path.join(out, "ca.key"))  # lost CA: a new one, and every leaf with it
        gen_certs(out, "--names", "proxy")
        self.assertEqual(verify(os.path.join(out, "ca.crt"), os.path.join(out, "tls", "proxy.crt")).returncode, 0)

    def test_lines_added_by_hand_survive_a_rerun(self):
        out = os.path.join(self.tmp, "hand")
        gen_certs(out, "--tokens", "--names", "proxy")
        line = "alice client sha256:" + hashlib.sha256(b"alice-token").hexdigest()
        with open(os.path.join(out, "credentials", "credentials"), "a") as f:
            f.write(line + "\n")
        gen_certs(out, "--tokens", "--names", "proxy")
        with open(os.path.join(out, "credentials", "credentials")) as f:
            text = f.read()
        self.assertIn(line, text.splitlines())
        self.assertEqual(text.count("proxy proxy sha256:"), 1)

    def test_bad_arguments_fail_with_a_message(self):
        out = os.path.join(self.tmp, "bad")
        for args in (["--names", "Not_A_Label"], ["--names", "client"], ["--bogus"], ["--days", "x"]):
            proc = gen_certs(out, *args, check=False)
            self.assertNotEqual(proc.returncode, 0, args)
            self.assertIn("gen-certs:", proc.stderr, args)
        self.assertNotEqual(subprocess.run([GEN_CERTS], capture_output=True).returncode, 0)


if __name__ == "__main__":
    junit_runner.main("gen_certs_test")
