"""The `warren` binary itself: configuration file, overrides and graceful shutdown.

These start their own broker process (never the default ports) and need the Warren binary,
so they are skipped when the suite runs against another broker.
"""

import os
import signal
import subprocess
import threading
import time

import pika
import pika.exceptions
import pytest

from conftest import REPO_ROOT, _drain, _wait_for_amqp_line

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("WARREN_IT_AMQP_URL")), reason="tests the warren binary"
)
BINARY = os.environ.get("WARREN_BIN", str(REPO_ROOT / "target" / "debug" / "warren"))
DEADLINE = 20.0


def start(tmp_path, *args):
    proc = subprocess.Popen(
        [BINARY, "--data-dir", str(tmp_path / "data"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    host, port = _wait_for_amqp_line(proc, time.monotonic() + DEADLINE)
    threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
    threading.Thread(target=_drain, args=(proc.stderr,), daemon=True).start()
    return proc, host, port


def connect(host, port):
    params = pika.ConnectionParameters(host=host, port=port, heartbeat=0)
    return pika.BlockingConnection(params)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_connections_with_320_and_exits_cleanly(tmp_path, sig):
    proc, host, port = start(tmp_path, "--amqp-listen", "127.0.0.1:0")
    try:
        conn = connect(host, port)
        channel = conn.channel()
        channel.queue_declare("before-shutdown")
        proc.send_signal(sig)
        with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as closed:
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.1)
        assert closed.value.reply_code == 320
        assert "CONNECTION_FORCED" in closed.value.reply_text
        assert proc.wait(timeout=DEADLINE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_config_file_sets_listener_and_command_line_overrides_it(tmp_path):
    config = tmp_path / "warren.toml"
    config.write_text('[listeners]\namqp = "127.0.0.1:0"\n\n[amqp]\nheartbeat = 7\n')
    proc, host, port = start(tmp_path, "--config", str(config))
    try:
        conn = connect(host, port)
        # The file's heartbeat reaches connection.tune; pika takes the server's offer
        # when it asks for none of its own.
        params = pika.ConnectionParameters(host=host, port=port)
        tuned = pika.BlockingConnection(params)
        assert tuned._impl.params.heartbeat == 7
        tuned.close()
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=DEADLINE)
    override = start(tmp_path, "--config", str(config), "--amqp-listen", "127.0.0.2:0")
    proc, host, _ = override
    try:
        assert host == "127.0.0.2"
    finally:
        proc.terminate()
        proc.wait(timeout=DEADLINE)


def test_unknown_config_key_is_named_and_refused(tmp_path):
    config = tmp_path / "warren.toml"
    config.write_text('[amqp]\nframe_maximum = 4096\n')
    result = subprocess.run(
        [BINARY, "--config", str(config), "--amqp-listen", "127.0.0.1:0"],
        capture_output=True,
        timeout=DEADLINE,
        check=False,
    )
    assert result.returncode != 0
    assert b"frame_maximum" in result.stderr


def test_guest_is_refused_from_a_non_loopback_address(tmp_path):
    addresses = [a for a in _non_loopback_ipv4() if a]
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address")
    proc, _, port = start(tmp_path, "--amqp-listen", "0.0.0.0:0")
    try:
        with pytest.raises(pika.exceptions.ProbableAuthenticationError) as refused:
            connect(addresses[0], port)
        assert "ACCESS_REFUSED" in str(refused.value)
        connect("127.0.0.1", port).close()
    finally:
        proc.terminate()
        proc.wait(timeout=DEADLINE)


def _non_loopback_ipv4():
    out = subprocess.run(
        ["hostname", "-I"], capture_output=True, text=True, check=False
    ).stdout.split()
    return [a for a in out if "." in a and not a.startswith("127.")]
