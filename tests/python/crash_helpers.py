"""Start the real `warren` binary on a data directory: the session fixtures of every suite
(stop), and the crash tests (kill with SIGKILL). Each start binds port 0 and reads the listener
addresses from the broker's stdout."""

import os
import pathlib
import re
import select
import signal
import subprocess
import threading
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
START_DEADLINE = 60.0
LISTENING = re.compile(r"^warren listening (\w+) (\S+):(\d+)$")


class Broker:
    """One run of the binary on `data_dir`; `addrs` maps protocol to (host, port)."""

    def __init__(self, data_dir, log_path):
        binary = os.environ.get("WARREN_BIN", str(REPO_ROOT / "target" / "debug" / "warren"))
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [
                binary,
                "--amqp-listen", "127.0.0.1:0",
                "--mqtt-listen", "127.0.0.1:0",
                "--stomp-listen", "127.0.0.1:0",
                "--data-dir", str(data_dir),
            ],
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        try:
            self.addrs = _read_listeners(self.proc, {"amqp", "mqtt", "stomp"})
        except Exception:
            self.kill()
            raise
        threading.Thread(target=_drain, args=(self.proc.stdout,), daemon=True).start()

    def amqp_url(self):
        host, port = self.addrs["amqp"]
        return f"amqp://guest:guest@{host}:{port}/%2f"

    def kill(self):
        """SIGKILL: no shutdown of any kind, as a crash."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=15)
        self.log.close()

    def stop(self):
        """SIGTERM and wait: a clean shutdown."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _read_listeners(proc, wanted):
    deadline = time.monotonic() + START_DEADLINE
    found = {}
    buffered = b""
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline and not wanted <= found.keys():
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError(f"warren exited before listening (status {proc.poll()})")
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            match = LISTENING.match(line.decode(errors="replace").strip())
            if match:
                found[match.group(1)] = (match.group(2), int(match.group(3)))
    if not wanted <= found.keys():
        raise RuntimeError(f"warren did not report its listeners in time: {found}")
    return found


def _drain(stream):
    for _ in iter(lambda: stream.read(4096), b""):
        pass


def publish_until_killed(broker, rng, seconds, publisher, *args):
    """Runs `publisher(*args, confirmed, stop)` on a thread and SIGKILLs the broker after a
    random `seconds` range (or once the publisher is done); returns what it had confirmed."""
    confirmed, stop = [], threading.Event()
    thread = threading.Thread(target=publisher, args=(*args, confirmed, stop))
    thread.start()
    try:
        deadline = time.monotonic() + rng.uniform(*seconds)
        while time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.01)
    finally:
        broker.kill()
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    return confirmed
