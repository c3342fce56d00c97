"""The processes of the cluster test (``tests/cluster/test_cluster.py``), started as an
operator starts them from ``deploy/``: gunicorn with ``deploy/gunicorn.conf.py``,
Debian's nginx with ``deploy/nginx/wardline.conf`` (only its addresses, ports, paths and
upstream servers replaced), ``flask deliver`` and ``flask scheduler``; and loopback sinks
that count what the workers send (aiosmtpd, and a minimal keep-alive push service)."""
from __future__ import annotations

import asyncio
import datetime
import email.header
import email.parser
import ipaddress
import os
import pwd
import grp
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SITE = ROOT / "deploy" / "nginx" / "wardline.conf"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server(folder: Path) -> tuple[str, subprocess.Popen | None]:
    """The Redis on 127.0.0.1:6379 when one answers, else Debian's redis-server (installed by
    ``make test``) on a free port: (URL, the process to stop or None)."""
    if answers(6379):
        return "redis://127.0.0.1:6379/0", None
    port = free_port()
    proc = spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no"], dict(os.environ), folder / "redis.log")
    wait_port(port, proc, folder / "redis.log", timeout=10)
    return f"redis://127.0.0.1:{port}/0", proc


# --------------------------------------------------------------------------- nginx
def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (the test's "Let's Encrypt"); the client trusts it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _replace(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) == count, f"deploy/nginx/wardline.conf no longer has {old!r}"
    return text.replace(old, new)


def site_config(upstreams: list[int], http_port: int, https_port: int, folder: Path,
                cert: Path, key: Path) -> str:
    """deploy/nginx/wardline.conf with the test's ports and paths: nothing else changes."""
    text = SITE.read_text()
    server = "    server 127.0.0.1:8000 max_fails=1 fail_timeout=10s;\n"
    text = _replace(text, server, "".join(server.replace("8000", str(p)) for p in upstreams))
    text = _replace(text, "    listen 80;\n    listen [::]:80;\n", f"    listen 127.0.0.1:{http_port};\n")
    text = _replace(text, "    listen 443 ssl http2;\n    listen [::]:443 ssl http2;\n",
                    f"    listen 127.0.0.1:{https_port} ssl http2;\n")
    text = _replace(text, "/etc/letsencrypt/live/wardline.example/fullchain.pem", str(cert))
    text = _replace(text, "/etc/letsencrypt/live/wardline.example/privkey.pem", str(key))
    text = _replace(text, "/var/log/nginx/wardline.access.log", str(folder / "access.log"), 2)
    text = _replace(text, "/srv/wardline/app/static/", str(ROOT / "static") + "/")
    text = _replace(text, "/var/cache/nginx/wardline", str(folder / "cache"))
    return _replace(text, "/var/www/letsencrypt", str(folder / "acme"))


def main_config(folder: Path) -> str:
    """What Debian's /etc/nginx/nginx.conf gives the site, with the test's own pid, logs and
    temporary files (nginx runs in the foreground as the current user)."""
    user = ""
    if os.geteuid() == 0:  # workers would otherwise drop to nobody, who may not read static/
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name};"
    temps = "\n".join(f"    {kind}_temp_path {folder / kind};"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}
worker_processes 1;
pid {folder / 'nginx.pid'};
error_log {folder / 'error.log'} warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
{temps}
    include {folder / 'wardline.conf'};
}}
"""


def start_nginx(upstreams, http_port, https_port, folder: Path) -> subprocess.Popen:
    cert, key = self_signed(folder)
    (folder / "acme").mkdir()
    (folder / "wardline.conf").write_text(site_config(upstreams, http_port, https_port,
                                                      folder, cert, key))
    (folder / "nginx.conf").write_text(main_config(folder))
    args = [nginx_binary(), "-p", str(folder), "-c", str(folder / "nginx.conf"),
            "-e", str(folder / "error.log"), "-g", "daemon off;"]
    check = subprocess.run([*args, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)
    wait_port(https_port, proc, folder / "error.log")
    return proc


# --------------------------------------------------------------------------- app processes
def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not answers(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"port {port} did not open:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)


def spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    """A process in its own session (so killing it kills its children: gunicorn's workers)."""
    out = open(log, "ab")  # noqa: SIM115  (closed with the process, in stop())
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc.log, proc.log_file = log, out
    return proc


def gunicorn(port: int, env: dict, log: Path) -> subprocess.Popen:
    return spawn([str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
                 {**env, "WEB_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"}, log)


def flask(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return spawn([str(BIN / "flask"), *command], env, log)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL the process and its children, as a crash would."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def stop(procs: list[subprocess.Popen]) -> None:
    """SIGTERM every process (they stop side by side), then SIGKILL any still running."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 20
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill(proc)
        if getattr(proc, "log_file", None):
            proc.log_file.close()


# --------------------------------------------------------------------------- sinks
class MailSink:
    """aiosmtpd on loopback keeping (recipient, subject) of every message, and the whole
    message for recipients outside the bulk residents' domain."""

    def __init__(self, bulk_domain: str):
        from aiosmtpd.controller import Controller
        self.received: list[tuple[str, str]] = []
        self.full: list[email.message.Message] = []
        self.lock = threading.Lock()
        sink, parser = self, email.parser.BytesParser()

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                headers = email.parser.BytesHeaderParser().parsebytes(envelope.content)
                subject = str(email.header.make_header(email.header.decode_header(
                    headers["Subject"] or "")))
                with sink.lock:
                    for rcpt in envelope.rcpt_tos:
                        sink.received.append((rcpt, subject))
                        if not rcpt.endswith(bulk_domain):
                            sink.full.append(parser.parsebytes(envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def count(self, subject: str) -> Counter:
        with self.lock:
            return Counter(rcpt for rcpt, subj in self.received if subj == subject)

    def stop(self):
        self.controller.stop()


class PushSink:
    """A keep-alive HTTP/1.1 server answering every POST 201 and counting its paths."""

    def __init__(self):
        self.paths: Counter = Counter()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        sink = self

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport, self.buf = transport, b""

            def data_received(self, data):
                self.buf += data
                while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                    head = self.buf[:end].decode("latin-1")
                    lines = head.split("\r\n")
                    length = next((int(v) for k, _, v in (h.partition(":") for h in lines[1:])
                                   if k.strip().lower() == "content-length"), 0)
                    if len(self.buf) < end + 4 + length:
                        return
                    self.buf = self.buf[end + 4 + length:]
                    sink.paths[lines[0].split()[1]] += 1
                    self.transport.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")

        def run():
            asyncio.set_event_loop(self.loop)
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            self.server = self.loop.run_until_complete(
                self.loop.create_server(Protocol, sock=sock, backlog=256))
            self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self):
        def close():
            self.server.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(close)
        self.thread.join(10)
