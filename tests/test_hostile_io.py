"""The world around a run is hostile too: a scheduler address where no Dask listens, names too
long for a file system, a full disk, a read-only store, a damaged store, a model of an
unexpected shape, control characters in names. Each is one clear line and the right exit code,
nothing half-written is left behind, and whatever is read is not changed (README, Promises)."""

from __future__ import annotations

import socket
import threading

import _runs
import pytest

from xaibench.cli import main

# --------------------------------------------------------------------------------------------
# --scheduler at a server that is not Dask


def _bogus_server(answer: bytes | None):
    """A TCP server on a random loopback port, in a daemon thread, that reads what a client
    sends and answers ``answer`` then closes, or (None) accepts and never answers. Returns its
    address and a function that stops it."""
    server = socket.create_server(("127.0.0.1", 0))
    held = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed by stop()
                return
            held.append(conn)
            if answer is not None:
                conn.recv(65536)
                conn.sendall(answer)
                conn.close()

    threading.Thread(target=serve, daemon=True).start()

    def stop():
        server.close()
        for conn in held:
            conn.close()

    return f"tcp://127.0.0.1:{server.getsockname()[1]}", stop


HTTP = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>not dask</html>\r\n"


@pytest.mark.parametrize(
    "answer, message",
    [
        (HTTP, "did not answer as a Dask scheduler"),  # was: Unable to allocate 3.07 EiB
        (b"garbage\n" * 4, "did not answer as a Dask scheduler"),
        (None, "did not answer Dask's handshake within 2 s"),  # was: a hang of minutes
    ],
    ids=["http", "garbage", "silent"],
)
def test_a_scheduler_that_is_not_dask_is_exit_2(tmp_path, capsys, monkeypatch, answer, message):
    """A bogus server at ``--scheduler``: exit 2 within the handshake's bound (lowered here from
    10 s to 2 s to keep the test short), one line naming the address and the cause, no run
    directory."""
    pytest.importorskip("distributed")
    from xaibench.benchmark import executors

    monkeypatch.setattr(executors, "HANDSHAKE_SECONDS", 2, raising=False)
    address, stop = _bogus_server(answer)
    cfg = _runs.write_config(tmp_path / "c.toml", ["saliency"], ["deletion"])
    out = tmp_path / "run"
    try:
        code = main(["run", "--config", str(cfg), "--out", str(out), "--executor", "dask",
                     "--scheduler", address])  # fmt: skip
    finally:
        stop()
    err = capsys.readouterr().err
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert address in line and message in line and "Traceback" not in err
    assert not out.exists()
