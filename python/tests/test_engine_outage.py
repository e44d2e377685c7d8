"""An engine that cannot be reached is never an end (DESIGN decision 13): through a
unix-socket relay in front of the engine that the test takes down and brings back, the
handle's ``poll()`` keeps returning the running code, ``wait()`` keeps waiting, the outage
and the recovery are each logged once, and the job's real end is recorded afterwards."""

import logging
import os
import socket
import threading
import time

from nvflare.apis.job_launcher_spec import JobReturnCode

from berth.nvflare import ClientDockerJobLauncher

from test_jobs import client_env, meta  # noqa: F401 (client_env is a fixture)


def _engine_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://"):]
    return "/var/run/docker.sock"


class Relay:
    """Forwards a unix socket to the engine's; ``down()`` stops listening and cuts every
    connection, ``up()`` listens again."""

    def __init__(self, path, upstream):
        self.path, self.upstream = path, upstream
        self.conns, self.lock, self.listener = [], threading.Lock(), None
        self.up()

    def up(self):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self):
        self.listener.close()
        os.unlink(self.path)
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                engine.connect(self.upstream)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, engine]
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def test_poll_and_wait_ride_out_an_engine_outage(client_env, tmp_path, monkeypatch, caplog):
    site, _, image = client_env
    relay = Relay(str(tmp_path / "engine.sock"), _engine_socket())
    monkeypatch.setenv("DOCKER_HOST", f"unix://{relay.path}")
    launcher = ClientDockerJobLauncher(
        workspace=str(site.root), network=client_env[1].network, timeout=30, engine_timeout=10,
    )
    site.job("job-outage", script="sleep 6\nexit 3\n")
    handle = launcher.launch_job(meta(site, image, "job-outage"), site.context("job-outage"))
    with caplog.at_level(logging.INFO):
        relay.down()
        results = {}
        waiter = threading.Thread(target=lambda: results.setdefault("wait", handle.wait()))
        waiter.start()
        for _ in range(4):
            started = time.monotonic()
            assert handle.poll() == JobReturnCode.UNKNOWN
            assert time.monotonic() - started < 20, "poll hung"
            time.sleep(0.5)
        assert handle.terminal_state is None
        assert waiter.is_alive(), "wait ended during the outage"
        relay.up()
        waiter.join(timeout=90)
        assert not waiter.is_alive(), "wait did not end after the engine came back"
    assert results["wait"] == JobReturnCode.EXECUTION_ERROR
    assert handle.outcome["exit_code"] == 3
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("berth_engine")]
    assert sum("engine outage" in m for m in messages) == 1, messages
    assert sum("engine answers again" in m for m in messages) == 1, messages
    relay.down()
