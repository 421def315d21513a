"""A Warren binary with TLS and WebSocket listeners, for the TLS and WebSocket suites.

Certificates come from certs/generate.sh (openssl) into a temporary directory at test time:
a CA, a server certificate for localhost, and a client certificate whose CN is `guest`.
"""

import os
import pathlib
import re
import select
import ssl
import subprocess
import threading
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
DEADLINE = 10.0
_LISTENING = re.compile(r"^warren listening (\w+) (\S+):(\d+)$")
WANTED = ("amqp", "mqtt", "stomp", "amqps", "mqtts", "stomps", "ws")


def generate_certs(directory):
    subprocess.run(
        [str(REPO_ROOT / "certs" / "generate.sh"), str(directory), "guest"],
        check=True, stdout=subprocess.DEVNULL,
    )
    return directory


def write_config(directory, certs, wss=False, allowed_origins=()):
    loopback = '"127.0.0.1:0"'
    origins = ", ".join(f'"{origin}"' for origin in allowed_origins)
    text = f"""
data_dir = "{directory / 'data'}"
[listeners]
amqp = {loopback}
mqtt = {loopback}
stomp = {loopback}
[listeners.amqps]
enabled = true
address = {loopback}
[listeners.mqtts]
enabled = true
address = {loopback}
[listeners.stomps]
enabled = true
address = {loopback}
[listeners.ws]
enabled = true
address = {loopback}
wss = {"true" if wss else "false"}
allowed_origins = [{origins}]
[tls]
cert = "{certs / 'server.pem'}"
key = "{certs / 'server.key'}"
ca = "{certs / 'ca.pem'}"
verify = "optional"
cert_login = "common_name"
"""
    path = directory / "warren.toml"
    path.write_text(text)
    return path


class Broker:
    """A running Warren binary: its listener addresses, certificates and log file."""

    def __init__(self, directory, wss=False, allowed_origins=(), args=None, wanted=WANTED):
        """Starts the binary with a config file of every listener, or with `args` (a command
        line given the certificate directory) instead; waits for the `wanted` listeners."""
        self.certs = generate_certs(directory / "certs")
        if args is None:
            config = write_config(directory, self.certs, wss, allowed_origins)
            args = ["--config", str(config)]
        else:
            args = args(self.certs) + ["--data-dir", str(directory / "data")]
        binary = os.environ.get("WARREN_BIN", str(REPO_ROOT / "target" / "debug" / "warren"))
        self.log_path = directory / "warren.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, *args], stdout=subprocess.PIPE, stderr=self._log,
        )
        try:
            self.ports = _read_listeners(self.proc, time.monotonic() + 60.0, wanted)
        except Exception:
            self.stop()
            raise
        threading.Thread(target=_drain, args=(self.proc.stdout,), daemon=True).start()

    def port(self, listener):
        return self.ports[listener]

    def client_context(self, with_certificate=False):
        """A client TLS context that trusts the dev CA; with the `guest` certificate if asked."""
        context = ssl.create_default_context(cafile=str(self.certs / "ca.pem"))
        if with_certificate:
            context.load_cert_chain(str(self.certs / "client.pem"), str(self.certs / "client.key"))
        return context

    def log(self):
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def _read_listeners(proc, deadline, wanted):
    found = {}
    buffered = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline and not all(w in found for w in wanted):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError(f"warren exited before listening (status {proc.poll()})")
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            match = _LISTENING.match(line.decode(errors="replace").strip())
            if match:
                found[match.group(1)] = int(match.group(3))
    missing = [w for w in wanted if w not in found]
    if missing:
        raise RuntimeError(f"warren did not report listeners {missing}")
    return found


def _drain(stream):
    for _ in iter(lambda: stream.read(4096), b""):
        pass


def eventually(condition, deadline=DEADLINE):
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
