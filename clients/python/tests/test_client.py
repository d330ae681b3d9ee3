"""``baton.Client`` against a real ``baton-gateway`` (with a scheduler and a Swift agent): submit,
wait, the event stream resumed after a dropped connection with no gap and no duplicate, and the
API's errors as ``BatonAPIError``."""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator

import pytest

import baton
from support import Deployment, summary


class DroppingProxy:
    """A TCP proxy in front of the gateway that can cut every open connection, and records the
    head of each request it forwarded."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requests: list[bytes] = []
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open += [client, upstream]
            threading.Thread(target=self.pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, client, False), daemon=True).start()

    def pump(self, source: socket.socket, sink: socket.socket, is_request: bool) -> None:
        first = True
        try:
            while data := source.recv(65536):
                if is_request and first:
                    with self.lock:
                        self.requests.append(data)
                    first = False
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def drop_all(self) -> None:
        with self.lock:
            sockets, self.open = self.open, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()
        self.drop_all()


@pytest.fixture(scope="module")
def gateway(redis_url: str, bin_dir: str) -> Iterator[tuple[Deployment, str]]:
    """One deployment with a gateway for the module (the tests use distinct task ids)."""
    d = Deployment(redis_url, bin_dir)
    try:
        d.start_scheduler()
        d.start_agent("swift", ["echo_executor", "sleep_executor", "fail_executor"], 4)
        yield d, d.start_gateway("k=alice")
    finally:
        d.stop()


def chain(prefix: str, count: int, seconds: float) -> list[dict[str, object]]:
    tasks: list[dict[str, object]] = []
    for n in range(count):
        task: dict[str, object] = {"id": f"{prefix}-{n}", "name": f"{prefix}-{n}", "executor": "sleep_executor",
                                   "inputs": {"seconds": seconds}}
        if n:
            task["dependencies"] = [f"{prefix}-{n - 1}"]
            task["parent_id"] = f"{prefix}-0"
        tasks.append(task)
    return tasks


def test_submit_wait_and_read(gateway: tuple[Deployment, str]) -> None:
    d, base = gateway
    client = baton.Client(base, "k")
    created = client.submit([
        {"id": "c-root", "name": "root", "executor": "echo_executor", "inputs": {"ret": {"x": 1}}},
        {"id": "c-next", "name": "next", "executor": "echo_executor", "parent_id": "c-root", "dependencies": ["c-root"]},
    ])
    assert created["tree_id"] == "c-root" and created["task_ids"] == ["c-root", "c-next"]
    tree = client.wait("c-root", timeout=30)
    assert tree["status"] == "completed" and tree["counts"]["completed"] == 2
    assert tree["tasks"][0]["id"] == "c-root" and tree["tasks"][0]["children"][0]["id"] == "c-next"
    assert client.task("c-next")["result"] == {"c-root": {"x": 1}}
    assert "c-root" in [t["tree_id"] for t in client.trees(status="completed")["trees"]]
    assert "c-root" not in [t["tree_id"] for t in client.trees(status="failed")["trees"]]
    assert [t["id"] for t in client.tree("c-root", flat=True)["tasks"]] == ["c-root", "c-next"]


def test_events_resume_after_a_dropped_connection(gateway: tuple[Deployment, str]) -> None:
    """The connection is cut in the middle of the stream: the iterator reconnects with
    Last-Event-ID and every event arrives exactly once, in stream order."""
    d, base = gateway
    proxy = DroppingProxy(int(base.rsplit(":", 1)[1]))
    try:
        client = baton.Client(f"http://127.0.0.1:{proxy.port}", "k")
        created = client.submit(chain("r", 5, 0.25))
        seen: list[str] = []
        dropped_after: str | None = None
        for event in client.events(created["tree_id"]):
            seen.append(event["id"])
            if len(seen) == 3 and dropped_after is None:
                dropped_after = event["id"]
                proxy.drop_all()
        stored = [entry["id"] for entry in d.events(created["tree_id"])]
        assert seen == stored, f"seen {seen}\n{summary(d.events(created['tree_id']))}"
        assert len(set(seen)) == len(seen)
        assert len(proxy.requests) >= 2, "the iterator reconnected"
        # Events already buffered when the connection was cut still count: the resume id is the
        # last event delivered before the reconnect, at or after the one the cut followed.
        resumes = [line.split(b":", 1)[1].strip().decode() for r in proxy.requests for line in r.split(b"\r\n")
                   if line.lower().startswith(b"last-event-id:")]
        assert resumes and resumes[0] in seen[seen.index(dropped_after or ""):], (resumes, seen)
        assert seen.index(resumes[0]) < len(seen) - 1, "more events came after the reconnect"
        # Resuming from an id gives what follows it, and ends after tree_finished.
        after = [e["id"] for e in client.events(created["tree_id"], after=stored[3])]
        assert after == stored[4:]
    finally:
        proxy.close()


def test_errors_carry_code_message_and_field(gateway: tuple[Deployment, str]) -> None:
    d, base = gateway
    client = baton.Client(base, "k")
    with pytest.raises(baton.BatonAPIError) as refused:
        client.submit([{"name": "a", "executor": "echo_executor", "priority": 7}])
    assert (refused.value.status, refused.value.code, refused.value.field) == (422, "validation_failed", "tasks[0].priority")
    assert refused.value.message == "tasks[0].priority must be between 0 and 3 (task 'a')"
    with pytest.raises(baton.BatonAPIError) as missing:
        client.task("no-such-task")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    with pytest.raises(baton.BatonAPIError) as unknown_key:
        baton.Client(base, "wrong").trees()
    assert (unknown_key.value.status, unknown_key.value.code) == (401, "unauthorized")
    with pytest.raises(baton.BatonAPIError) as no_stream:
        next(iter(client.events("no-such-tree")))
    assert no_stream.value.status == 404


def test_wait_times_out_and_cancel_stops(gateway: tuple[Deployment, str]) -> None:
    d, base = gateway
    client = baton.Client(base, "k")
    client.submit([{"id": "w-long", "name": "long", "executor": "sleep_executor", "inputs": {"seconds": 30}}])
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        client.wait("w-long", timeout=0.5)
    assert time.monotonic() - began < 3
    d.wait_until(lambda: client.task("w-long")["status"] == "in_progress", 20, "the task runs")
    outcome = client.cancel(task_id="w-long", message="enough")
    assert outcome["task_id"] == "w-long" and outcome["status"] in ("cancelled", "cancelling")
    tree = client.wait("w-long", timeout=15)
    assert tree["status"] == "cancelled"
    assert client.task("w-long")["error"] == "enough"
    with pytest.raises(baton.BatonAPIError) as terminal:
        client.cancel(task_id="w-long")
    assert terminal.value.code == "already_terminal" and terminal.value.current_status == "cancelled"
