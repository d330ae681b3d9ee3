"""A real Baton deployment for one test: ``baton-scheduler``, agents (Swift ``baton-agent`` or the
Python ``py_agent.py``) and, on request, ``baton-gateway``, on a namespace of their own of the
test Redis. Nothing is mocked: tests talk to the processes through Redis (and HTTP)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, cast

import redis

from baton import Keys, RedisProducer, Submission
from baton.keys import ExecutorQueue, member

HERE = Path(__file__).resolve().parent
PY_AGENT = HERE / "py_agent.py"

#: Short timings, as the Swift end-to-end suite uses: lease tests take seconds, not minutes.
TIMINGS = {
    "BATON_AGENT_LEASE_S": "2",
    "BATON_AGENT_HEARTBEAT_INTERVAL_S": "0.3",
    "BATON_SCHEDULER_REAPER_INTERVAL_MS": "200",
    "BATON_AGENT_SHUTDOWN_GRACE_S": "2",
}

FINISHED = {"completed", "failed", "cancelled"}


def now_ms() -> int:
    return int(time.time() * 1000)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """A child process with its log file."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path) -> None:
        self.name = name
        self.log = log
        self._log_file = open(log, "wb")
        self.popen = subprocess.Popen(list(argv), env=dict(env), cwd=cwd, stdout=self._log_file,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def signal(self, number: int) -> None:
        if self.running:
            self.popen.send_signal(number)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, grace: float = 3.0) -> None:
        if self.running:
            # A stopped (SIGSTOP) process must run again to see SIGTERM.
            self.popen.send_signal(signal.SIGCONT)
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._log_file.close()

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


class Deployment:
    """One namespace with its processes; :meth:`stop` kills every process it started and deletes
    the namespace's keys."""

    def __init__(self, redis_url: str, bin_dir: str | None, environment: Mapping[str, str] | None = None) -> None:
        self.redis_url = redis_url
        self.bin_dir = bin_dir
        self.namespace = f"pyt-{uuid.uuid4().hex[:8]}"
        self.keys = Keys(self.namespace)
        self.env = {**os.environ, **TIMINGS, "BATON_REDIS_URL": redis_url, "BATON_NAMESPACE": self.namespace,
                    **(environment or {})}
        # The child environment must not inherit pytest's stdout capture tricks or a stale config.
        self.env.pop("BATON_CONFIG", None)
        self.dir = Path(tempfile.mkdtemp(prefix=f"baton-{self.namespace}-"))
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.producer = RedisProducer(redis_url, self.namespace)
        self.processes: list[Process] = []

    # MARK: processes

    def _binary(self, name: str) -> str:
        if not self.bin_dir:
            raise RuntimeError("BATON_BIN_DIR is required to start Baton's processes")
        path = Path(self.bin_dir) / name
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"{path} is not an executable")
        return str(path)

    def launch(self, name: str, argv: Sequence[str], environment: Mapping[str, str] | None = None) -> Process:
        number = len(self.processes) + 1
        process = Process(name, argv, {**self.env, **(environment or {})}, self.dir, self.dir / f"{number:02d}-{name}.log")
        self.processes.append(process)
        return process

    def start_scheduler(self) -> Process:
        return self.launch("baton-scheduler", [self._binary("baton-scheduler")])

    def start_agent(self, runtime: str, executors: Sequence[str], concurrency: int = 4,
                    environment: Mapping[str, str] | None = None) -> Process:
        """``runtime`` ``swift``: ``baton-agent``; ``python``: ``py_agent.py`` (same executors' semantics)."""
        names = ",".join(executors)
        if runtime == "swift":
            argv = [self._binary("baton-agent"), "--executor", names, "--concurrency", str(concurrency)]
        elif runtime == "python":
            argv = [sys.executable, str(PY_AGENT), "--executor", names, "--concurrency", str(concurrency)]
        else:
            raise ValueError(runtime)
        return self.launch(f"{runtime}-agent", argv, environment)

    def start_gateway(self, api_keys: str = "k=alice") -> str:
        """Starts ``baton-gateway`` on a free port; returns its base URL once ``/healthz`` answers."""
        last = ""
        for _ in range(3):
            port = free_port()
            process = self.launch("baton-gateway", [self._binary("baton-gateway"), "--host", "127.0.0.1", "--port", str(port)],
                                  {"BATON_API_KEYS": api_keys, "BATON_GATEWAY_HOST": "127.0.0.1", "BATON_GATEWAY_PORT": str(port)})
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and process.running:
                try:
                    with urllib.request.urlopen(f"{base}/healthz", timeout=2) as answer:
                        if answer.status == 200:
                            return base
                except OSError:
                    pass
                time.sleep(0.05)
            last = "exited" if not process.running else "did not answer /healthz in 20 s"
            process.stop(1)
        raise RuntimeError(f"baton-gateway {last}\n{self.diagnostics()}")

    def cli(self, *args: str, user: str = "alice") -> Any:
        """Runs the ``baton`` CLI on this namespace; returns its JSON output."""
        result = subprocess.run([self._binary("baton"), *args, "--user", user], env=self.env, cwd=self.dir,
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(f"baton {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return json.loads(result.stdout)

    def stop(self) -> None:
        for process in self.processes:
            process.signal(signal.SIGCONT)
            process.signal(signal.SIGTERM)
        for process in self.processes:
            process.stop(grace=1)  # then SIGKILL: a scheduler takes ~3 s to leave its blocking read
        self.producer.close()
        try:
            keys = list(self.redis.scan_iter(match=f"{self.namespace}:*", count=1000))
            for start in range(0, len(keys), 500):
                self.redis.unlink(*keys[start:start + 500])
        finally:
            self.redis.close()
            # The logs go with the namespace (a failing test printed their tails); keep them with
            # BATON_E2E_KEEP_LOGS=1.
            if not os.environ.get("BATON_E2E_KEEP_LOGS"):
                shutil.rmtree(self.dir, ignore_errors=True)

    def diagnostics(self, lines: int = 25) -> str:
        return "\n".join(f"--- {p.log.name} (pid {p.pid}, {'running' if p.running else f'exit {p.popen.returncode}'})\n"
                         f"{p.tail(lines)}" for p in self.processes)

    # MARK: submitting and reading

    def submit(self, tasks: Sequence[Mapping[str, Any]], user_id: str = "alice", **options: Any) -> Submission:
        return self.producer.submit(tasks, user_id=user_id, timeout=30, **options)

    def task(self, tree_id: str, task_id: str) -> dict[str, Any]:
        """The task hash with its JSON fields parsed (``result_text`` keeps the raw result)."""
        record = cast("dict[str, Any]", self.redis.hgetall(self.keys.task(tree_id, task_id)))
        for name in ("inputs", "params", "schemas", "dependencies", "backoff"):
            if name in record:
                record[name] = json.loads(record[name])
        if "result" in record:
            record["result_text"] = record["result"]
            record["result"] = json.loads(record["result"])
        for name in ("attempt", "lease_losses", "priority"):
            record[name] = int(record.get(name, 0))
        return record

    def tree(self, tree_id: str) -> dict[str, str]:
        return cast("dict[str, str]", self.redis.hgetall(self.keys.tree(tree_id)))

    def events(self, tree_id: str) -> list[dict[str, str]]:
        """Every event of the tree's stream, with its ``id``."""
        entries = cast("list[tuple[str, dict[str, str]]]", self.redis.xrange(self.keys.tree_events(tree_id)))
        return [{"id": entry_id, **fields} for entry_id, fields in entries]

    def lease(self, executor: str, tree_id: str, task_id: str) -> float | None:
        queue = self.keys.queue(executor, tree_id, task_id)
        return self.redis.zscore(self.keys.leases(queue), member(tree_id, task_id))

    def wait_until(self, predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
        """Polls ``predicate`` until it answers something truthy; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting until {what}\n{self.diagnostics()}")
            time.sleep(interval)

    def wait_tree(self, tree_id: str, timeout: float = 30) -> dict[str, str]:
        """Waits until the tree finished; returns its record."""
        return cast("dict[str, str]", self.wait_until(
            lambda: (lambda t: t if t.get("status") in FINISHED else None)(self.tree(tree_id)), timeout,
            f"tree {tree_id} finishes"))

    def queue_of(self, executor: str, tree_id: str, task_id: str) -> ExecutorQueue:
        return self.keys.queue(executor, tree_id, task_id)


def of(events: Sequence[Mapping[str, str]], kind: str, task: str | None = None) -> list[Mapping[str, str]]:
    """The events of a type (and task)."""
    return [e for e in events if e["type"] == kind and (task is None or e["task_id"] == task)]


def summary(events: Sequence[Mapping[str, str]]) -> str:
    return "\n".join(f"{e['id']} {e['type']} {e['task_id']} {e['status']} "
                     + " ".join(f"{k}={v}" for k, v in e.items() if k not in ("id", "type", "task_id", "status", "tree_id"))
                     for e in events)
