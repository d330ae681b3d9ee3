"""An executor agent in Python: the same claim / start / heartbeat / report cycle as Baton's Swift
agent (``Sources/BatonAgent``), over the same Lua transitions (``claimQueue``, ``startTasks``).

>>> agent = Agent("redis://127.0.0.1:6379/0", concurrency=8)
>>> @agent.executor("py_upper")
... def upper(inputs, ctx):
...     return {key: str(value).upper() for key, value in inputs.items()}
>>> agent.run()          # until SIGINT / SIGTERM, then drains

What it does, as the Swift agent does it (``docs/PROTOCOL.md``, "An agent's cycle"):

* waits for work with ``BZPOPMIN`` on its queue shards' markers (1 s timeout, only while it has a
  free slot), then claims up to its free slots per shard (``claimQueue``, a lease of ``lease_s``),
  visiting the shards in turn;
* starts the claimed tasks (``startTasks``, one call per tree in one round trip); stale claims are
  dropped and their leases removed (``ZREM``); a task record it cannot use fails the attempt;
* runs the executor with the merged inputs: ``def`` functions in a thread pool, ``async def`` on
  the event loop; enforces ``timeout_s`` (``timeout after <s> s``) even when the function ignores it;
* extends every running lease each ``heartbeat_interval_s`` (``ZADD … XX CH``, ``ZMSCORE``,
  ``HMGET`` of the cancel requests): a lease found gone stops the attempt and sends ``handback``;
  an attempt that ended keeps its lease heartbeated until the scheduler applied its report (it
  drops the lease then; at most three lease lengths), so a slow scheduler never sees it expire;
* stops an attempt whose cancellation was requested (the shard channels
  ``<ns>:{q:<type>}:cancel`` or the ``cancels`` hash read by heartbeats): ``ctx.cancelled`` is set
  (and an ``async`` executor's task is cancelled); it reports ``cancelled`` with the partial result
  of an :class:`ExecutorFailure`;
* reports on the tree's bus shard ``<ns>:{bus:<CRC16(tree) mod shards>}:reports`` (one ``XADD``
  per shard for whatever accumulated), checks results against ``max_result_bytes`` (1 MiB) and
  the nesting limit;
* keeps its agent record (``<ns>:agent:<id>``, every 2 s) and marks its executor types served
  (``<ns>:executors:served``, every 5 s);
* on SIGTERM / SIGINT stops claiming, lets running attempts finish for ``shutdown_grace_s``, and
  hands the rest back (``handback``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Sequence, TypeVar, Union

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

from . import _json
from ._pool import ElasticThreadPool
from ._version import __version__
from .errors import AgentSetupError
from .keys import DEFAULT_BUS_SHARDS, ExecutorQueue, Keys, member, parse_member
from .scripts import ScriptCall, run_async, script

__all__ = ["Agent", "ExecutionContext", "ExecutorFailure", "CancelFlag", "StartedTask"]

log = logging.getLogger("baton.agent")

#: A function an agent runs: ``fn(inputs, ctx) -> result`` (or ``async def``).
ExecutorFunction = Callable[[dict[str, Any], "ExecutionContext"], Union[Any, Awaitable[Any]]]
F = TypeVar("F", bound=Callable[..., Any])

_MISSING: Any = object()

#: ``timeout_s`` limits (``TaskRecord.timeoutRange``).
MAX_TIMEOUT_S = 604_800.0
_TIMEOUT_RANGE_TEXT = "0 < timeout_s ≤ 604800 (7 days)"
#: The largest merged inputs an attempt runs with (``StartedTask.maxInputsBytes``).
MAX_INPUTS_BYTES = 64 << 20
#: The longest error message reported (``ResultLimits.maxErrorBytes``).
MAX_ERROR_BYTES = 65_536
#: How often the agent record is refreshed, and how long it lives (``BatonStore.agentRefreshMillis``…).
AGENT_REFRESH_S = 2.0
AGENT_RECORD_MS = 10_000
#: How often the executor types are marked served, and how long a type nobody serves is remembered.
SERVED_EVERY_S = 5.0
SERVED_MEMORY_MS = 30 * 86_400_000


def _now_ms() -> int:
    return int(time.time() * 1000)


def _is_identifier(text: str) -> bool:
    """An identifier (``BatonCore.Identifier``): 1–255 UTF-8 bytes, no control characters, no braces."""
    size = len(text.encode("utf-8"))
    return 1 <= size <= 255 and not any(
        c in "{}" or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def error_text(message: str) -> str:
    """``message``, or its first 65,536 bytes (whole characters) and a note that it was cut."""
    data = message.encode("utf-8")
    if len(data) <= MAX_ERROR_BYTES:
        return message
    return data[:MAX_ERROR_BYTES].decode("utf-8", "ignore") + f" … (error message cut: {len(data)} bytes)"


def _describe(error: BaseException) -> str:
    text = str(error)
    name = type(error).__name__
    return f"{name}: {text}" if text else name


class ExecutorFailure(Exception):
    """Raise it to fail the attempt with ``message`` and, optionally, the part of the result
    already produced (``partial_result``, any JSON value, kept as the task's ``result``). When the
    task's cancellation was requested, the partial result is kept with the ``cancelled`` report."""

    def __init__(self, message: str, partial_result: Any = _MISSING) -> None:
        super().__init__(message)
        self.message = message
        self.partial_result = None if partial_result is _MISSING else partial_result
        self.has_partial_result = partial_result is not _MISSING


class CancelFlag:
    """Set once when the attempt must stop: its cancellation was requested, its ``timeout_s``
    passed, its lease was lost or the agent hands it back. Thread-safe; ``bool(flag)`` is
    :meth:`is_set`."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def is_set(self) -> bool:
        """Whether the attempt must stop."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks (a thread) until set or ``timeout``; returns :meth:`is_set`. Handy as an
        interruptible ``time.sleep`` in a synchronous executor."""
        return self._event.wait(timeout)

    def set(self) -> None:
        """Sets the flag (the agent does it)."""
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()

    def __repr__(self) -> str:
        return f"CancelFlag({self.is_set()})"


@dataclass(frozen=True)
class StartedTask:
    """A task this agent claimed and started (a ``startTasks`` entry)."""

    tree_id: str
    task_id: str
    attempt: int
    executor: str
    name: str
    inputs: dict[str, Any]
    params: dict[str, Any]
    schemas: dict[str, Any]
    timeout_s: float | None
    #: Why the attempt cannot run (the stored record cannot be used as it is); it fails with it.
    problem: str | None = None

    @property
    def member(self) -> str:
        """``<tree>\\t<task>``, the task's queue and lease member."""
        return member(self.tree_id, self.task_id)

    @staticmethod
    def from_entry(tree_id: str, fields: Sequence[str]) -> "StartedTask":
        """Reads a ``startTasks`` entry ``{id, 'ok', attempt, executor, name, inputs, params,
        schemas, timeout_s}``; a field that cannot be read sets :attr:`problem` (never a default)."""
        problems: list[str] = []

        def obj(text: str, what: str) -> dict[str, Any]:
            try:
                value = _json.loads(text)
            except (ValueError, RecursionError) as error:
                problems.append(f"{what} cannot be read ({error})")
                return {}
            if isinstance(value, dict):
                return value
            problems.append(f"{what} is not a JSON object")
            return {}

        raw_inputs = fields[5]
        size = len(raw_inputs.encode("utf-8")) if len(raw_inputs) > MAX_INPUTS_BYTES // 4 else 0
        if size > MAX_INPUTS_BYTES:
            problems.append(f"merged inputs are {size} bytes; at most {MAX_INPUTS_BYTES} are allowed")
            inputs: dict[str, Any] = {}
        else:
            inputs = obj(raw_inputs, "merged inputs")
        params = obj(fields[6], "params")
        schemas = obj(fields[7], "schemas")
        timeout: float | None = None
        if fields[8]:
            try:
                seconds = float(fields[8])
            except ValueError:
                seconds = math.nan
            if math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT_S:
                timeout = seconds
            else:
                problems.append(f"timeout_s '{fields[8]}' is outside {_TIMEOUT_RANGE_TEXT}")
        try:
            attempt = int(fields[2])
        except ValueError:
            attempt = 0
        if attempt < 1:
            problems.append(f"attempt '{fields[2]}' is not a positive integer")
        return StartedTask(
            tree_id=tree_id, task_id=fields[0], attempt=max(attempt, 1), executor=fields[3], name=fields[4],
            inputs=inputs, params=params, schemas=schemas, timeout_s=timeout,
            problem=("task record cannot be run: " + "; ".join(problems)) if problems else None)


class ExecutionContext:
    """What an executor knows about the attempt it runs, and how it talks back."""

    def __init__(self, task: StartedTask, cancelled: CancelFlag, progress: Callable[[float], None]) -> None:
        self._task = task
        #: Set when the attempt must stop (cancel request, timeout, lost lease, shutdown hand-back).
        #: A long synchronous executor checks it (or sleeps with ``ctx.cancelled.wait(s)``); an
        #: ``async`` executor's task is also cancelled.
        self.cancelled = cancelled
        self._progress = progress
        #: A logger for the executor's messages.
        self.logger = logging.getLogger(f"baton.executor.{task.executor}")

    @property
    def task_id(self) -> str:
        """The task's id."""
        return self._task.task_id

    @property
    def tree_id(self) -> str:
        """The task's tree."""
        return self._task.tree_id

    @property
    def name(self) -> str:
        """The task's name."""
        return self._task.name

    @property
    def executor(self) -> str:
        """The executor type the task names."""
        return self._task.executor

    @property
    def attempt(self) -> int:
        """The attempt number of this claim (1 for the first run)."""
        return self._task.attempt

    @property
    def params(self) -> dict[str, Any]:
        """The task's ``params``."""
        return self._task.params

    @property
    def schemas(self) -> dict[str, Any]:
        """The task's ``schemas``."""
        return self._task.schemas

    @property
    def timeout_s(self) -> float | None:
        """The task's ``timeout_s``, enforced by the agent."""
        return self._task.timeout_s

    def progress(self, value: float) -> None:
        """Reports progress between 0 and 1 (a ``progress`` event for watchers). A value that is
        not a finite number in 0…1 is dropped and logged, never clamped. Thread-safe."""
        self._progress(value)


# MARK: internals


@dataclass
class _Report:
    kind: str
    tree: str
    task: str
    attempt: int
    data: str = ""
    extra: str = ""


class _Outcome:
    """How an executor call ended: a result, an exception, a timeout, or nothing (abandoned)."""

    __slots__ = ("result", "error", "timed_out", "abandoned")

    def __init__(self, result: Any = None, error: BaseException | None = None, timed_out: bool = False,
                 abandoned: bool = False) -> None:
        self.result = result
        self.error = error
        self.timed_out = timed_out
        self.abandoned = abandoned


class _Attempt:
    """The control handle of one running attempt (``TaskControl``)."""

    def __init__(self, task: StartedTask, queue: ExecutorQueue) -> None:
        self.task = task
        self.queue = queue
        self.cancellation = CancelFlag()
        self.abandoned = False
        self.cancel_requested = False
        self._work: asyncio.Future[Any] | None = None
        self._is_async = False
        self._give_up: Callable[[], None] | None = None

    @property
    def member(self) -> str:
        return self.task.member

    def attach(self, work: asyncio.Future[Any], is_async: bool, give_up: Callable[[], None]) -> None:
        self._work, self._is_async, self._give_up = work, is_async, give_up
        if (self.cancel_requested or self.abandoned) and is_async:
            work.cancel()
        if self.abandoned:
            give_up()

    def request_cancel(self) -> None:
        """The task was cancelled: the executor is told and the agent keeps waiting for it."""
        self.cancel_requested = True
        self.cancellation.set()
        if self._work is not None and self._is_async:
            self._work.cancel()

    def abandon(self) -> None:
        """The attempt is given up (lease lost, handed back): nobody waits for it any longer."""
        self.abandoned = True
        self.cancellation.set()
        if self._work is not None:
            if self._is_async:
                self._work.cancel()
            if self._give_up is not None:
                self._give_up()


class _Running:
    """The agent's slots (``RunningTasks``)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._running: dict[str, _Attempt] = {}
        # Attempts that ended here whose report may not be applied yet: member -> (queue, until,
        # monotonic). Heartbeats go on extending their lease (ZADD XX) until the scheduler drops
        # it, so a scheduler slow to apply the report cannot see the lease expire and run the
        # task again.
        self._settling: dict[str, tuple[ExecutorQueue, float]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._woken = False

    @property
    def free(self) -> int:
        return self.capacity - len(self._running)

    @property
    def count(self) -> int:
        return len(self._running)

    def add(self, attempt: _Attempt) -> None:
        self._running[attempt.member] = attempt

    def settle(self, attempt: _Attempt, window_s: float) -> None:
        """Frees the attempt's slot and keeps its lease alive for at most ``window_s`` while its
        report is applied."""
        self._settling[attempt.member] = (attempt.queue, time.monotonic() + window_s)
        self.remove(attempt.member)

    def forget(self, key: str) -> None:
        """Stops keeping a settled attempt's lease (the scheduler dropped it)."""
        self._settling.pop(key, None)

    def remove(self, key: str) -> None:
        self._running.pop(key, None)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for_free_slot(self) -> None:
        while self.free <= 0 and not self._woken:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter

    def wake_all(self) -> None:
        self._woken = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    def get(self, key: str) -> _Attempt | None:
        return self._running.get(key)

    def all(self) -> list[_Attempt]:
        return list(self._running.values())

    def members_by_queue(self) -> dict[ExecutorQueue, list[str]]:
        """Running and settling attempts by the queue shard that holds their leases (for
        heartbeats); settling ones past their window are let go (the reaper takes over)."""
        now = time.monotonic()
        self._settling = {key: entry for key, entry in self._settling.items() if entry[1] > now}
        grouped: dict[ExecutorQueue, list[str]] = {}
        for attempt in self._running.values():
            grouped.setdefault(attempt.queue, []).append(attempt.member)
        for key, (queue, _) in self._settling.items():
            if key not in self._running:
                grouped.setdefault(queue, []).append(key)
        return grouped


class _RecentOutcomes:
    """Attempts that ended in the last minute, per executor type and outcome (one counter per
    second, 60 kept), for the agent record's ``last_minute``."""

    def __init__(self) -> None:
        self._rings: dict[str, dict[str, list[list[int]]]] = {}
        self._lock = threading.Lock()

    def record(self, executor: str, outcome: str) -> None:
        second = int(time.time())
        with self._lock:
            ring = self._rings.setdefault(executor, {}).setdefault(outcome, [[-1, 0] for _ in range(60)])
            slot = ring[second % 60]
            if slot[0] != second:
                slot[0], slot[1] = second, 0
            slot[1] += 1

    def last_minute(self) -> dict[str, dict[str, int]]:
        since = int(time.time()) - 60
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for executor, outcomes in self._rings.items():
                counts = {name: sum(c for s, c in ring if s > since) for name, ring in outcomes.items()}
                counts = {name: count for name, count in counts.items() if count > 0}
                if counts:
                    out[executor] = counts
        return out


class _Backoff:
    """50 ms doubling to 2 s, back to 50 ms after a success (``RetryBackoff``)."""

    def __init__(self) -> None:
        self.delay = 0.05

    def reset(self) -> None:
        self.delay = 0.05

    async def wait(self, stop: asyncio.Event | None = None) -> None:
        if stop is None:
            await asyncio.sleep(self.delay)
        else:
            try:
                await asyncio.wait_for(stop.wait(), self.delay)
            except asyncio.TimeoutError:
                pass
        self.delay = min(self.delay * 2, 2.0)


# MARK: the agent


class Agent:
    """Claims and runs tasks of its executor types.

    :param redis_url: the Redis every Baton service of the deployment uses (``BATON_REDIS_URL``).
        A standalone server (Redis ≥ 7.0: cancel signals are sharded pub/sub).
    :param namespace: the key namespace (``BATON_NAMESPACE``).
    :param concurrency: attempts run at once (1 … 10,000).
    :param lease_s: how long a claim holds without a heartbeat (``agent.lease_s``).
    :param heartbeat_interval_s: how often leases are extended (less than ``lease_s``).
    :param shutdown_grace_s: on SIGTERM, how long running attempts may finish before they are
        handed back.
    :param queue_shards: queue shard counts by executor type (``executors.<type>.queue_shards``);
        ``None`` reads them from ``<ns>:queues:shards`` (a type not listed has one). When given,
        they are checked against the recorded ones like the Swift services do.
    :param bus_shards: the bus's report shard count; ``None`` reads ``<ns>:bus:shards`` (and records
        16 when nobody did). When given, a different recorded count refuses the start.
    :param max_result_bytes: the largest compact JSON result or partial result (``agent.max_result_bytes``).
    :param events_maxlen: the bound of tree event streams the scripts keep (``scheduler.events_maxlen``).
    :param agent_id: the id of this agent's record (default ``agent-<host>-<pid>``).
    :param allow_eviction: start on a Redis whose ``maxmemory-policy`` may evict keys.
    """

    def __init__(
        self, redis_url: str = "redis://127.0.0.1:6379/0", namespace: str = "baton", concurrency: int = 8,
        lease_s: float = 10, heartbeat_interval_s: float = 2, shutdown_grace_s: float = 10,
        queue_shards: Mapping[str, int] | None = None, *, bus_shards: int | None = None,
        max_result_bytes: int = 1 << 20, events_maxlen: int = 10_000, agent_id: str | None = None,
        allow_eviction: bool = False,
    ) -> None:
        if not 1 <= concurrency <= 10_000:
            raise ValueError(f"concurrency must be between 1 and 10000 (got {concurrency})")
        if not (lease_s > 0 and 0 < heartbeat_interval_s < lease_s):
            raise ValueError("lease_s must be positive and heartbeat_interval_s between 0 and lease_s")
        if shutdown_grace_s < 0 or max_result_bytes < 1 or events_maxlen < 1:
            raise ValueError("shutdown_grace_s, max_result_bytes and events_maxlen must be positive")
        if bus_shards is not None and bus_shards < 1:
            raise ValueError("bus_shards must be at least 1")
        self.redis_url = redis_url
        self.namespace = namespace
        self.keys = Keys(namespace)  # validates the namespace; shard counts come from Redis at start
        self.concurrency = concurrency
        self.lease_ms = int(round(lease_s * 1000))
        self.heartbeat_interval_s = float(heartbeat_interval_s)
        self.shutdown_grace_s = float(shutdown_grace_s)
        self.max_result_bytes = max_result_bytes
        self.events_maxlen = events_maxlen
        self.allow_eviction = allow_eviction
        self.agent_id = agent_id or f"agent-{socket.gethostname()}-{os.getpid()}"
        self._configured_queue_shards = dict(queue_shards) if queue_shards is not None else None
        self._configured_bus_shards = bus_shards
        self._executors: dict[str, tuple[ExecutorFunction, bool]] = {}
        self._types: list[str] = []
        self._outcomes = _RecentOutcomes()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._signals = 0

    @classmethod
    def from_environment(cls, **overrides: Any) -> "Agent":
        """An agent configured by the variables Baton's services read: ``BATON_REDIS_URL``,
        ``BATON_NAMESPACE``, ``BATON_AGENT_CONCURRENCY``, ``BATON_AGENT_LEASE_S``,
        ``BATON_AGENT_HEARTBEAT_INTERVAL_S``, ``BATON_AGENT_SHUTDOWN_GRACE_S``,
        ``BATON_AGENT_MAX_RESULT_BYTES``, ``BATON_BUS_SHARDS``, ``BATON_EXECUTORS_QUEUE_SHARDS``
        (``type=K,…``), ``BATON_SCHEDULER_EVENTS_MAXLEN``, ``BATON_REDIS_ALLOW_EVICTION``.
        Keyword arguments win over the environment."""
        env = os.environ
        settings: dict[str, Any] = {
            "redis_url": env.get("BATON_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "namespace": env.get("BATON_NAMESPACE", "baton"),
        }
        numbers = {
            "concurrency": ("BATON_AGENT_CONCURRENCY", int), "lease_s": ("BATON_AGENT_LEASE_S", float),
            "heartbeat_interval_s": ("BATON_AGENT_HEARTBEAT_INTERVAL_S", float),
            "shutdown_grace_s": ("BATON_AGENT_SHUTDOWN_GRACE_S", float),
            "max_result_bytes": ("BATON_AGENT_MAX_RESULT_BYTES", int), "bus_shards": ("BATON_BUS_SHARDS", int),
            "events_maxlen": ("BATON_SCHEDULER_EVENTS_MAXLEN", int),
        }
        for name, (variable, kind) in numbers.items():
            if env.get(variable, "").strip():
                settings[name] = kind(env[variable].strip())
        if env.get("BATON_EXECUTORS_QUEUE_SHARDS", "").strip():
            shards: dict[str, int] = {}
            for item in env["BATON_EXECUTORS_QUEUE_SHARDS"].split(","):
                name, _, count = item.strip().partition("=")
                if name:
                    shards[name.strip()] = int(count)
            settings["queue_shards"] = shards
        if env.get("BATON_REDIS_ALLOW_EVICTION", "").strip() in ("1", "true"):
            settings["allow_eviction"] = True
        settings.update(overrides)
        return cls(**settings)

    # MARK: executors

    def executor(self, name: str) -> Callable[[F], F]:
        """Registers the decorated function for tasks of executor type ``name``:
        ``fn(inputs: dict, ctx: ExecutionContext) -> result``. Return any JSON value; raise
        :class:`ExecutorFailure` to fail with a message (and a partial result), any other
        exception fails with its text. ``async def`` functions run on the agent's event loop,
        others in a thread pool."""

        def register(fn: F) -> F:
            self.add_executor(name, fn)
            return fn

        return register

    def add_executor(self, name: str, fn: ExecutorFunction) -> None:
        """Registers ``fn`` for executor type ``name`` (see :meth:`executor`)."""
        if not _is_identifier(name):
            raise ValueError(f"executor type {name!r} must be 1 to 255 bytes without braces or control characters")
        is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))
        if name not in self._executors:
            self._types.append(name)
        self._executors[name] = (fn, is_async)

    @property
    def executor_types(self) -> list[str]:
        """The executor types this agent claims, in registration order."""
        return list(self._types)

    # MARK: running

    def run(self) -> None:
        """Runs until SIGINT or SIGTERM, then drains: stops claiming, lets running attempts finish
        for ``shutdown_grace_s`` and hands the others back. A second signal ends the grace period."""
        asyncio.run(self.run_async(install_signal_handlers=True))

    def stop(self) -> None:
        """Asks a running agent to drain and stop (thread-safe; what SIGTERM does)."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            loop.call_soon_threadsafe(self._begin_shutdown)

    def _begin_shutdown(self) -> None:
        self._signals += 1
        if self._stopping is not None:
            if self._signals > 1:
                log.info("second stop request: handing back at once")
                self.shutdown_grace_s = 0
            self._stopping.set()

    async def run_async(self, install_signal_handlers: bool = False) -> None:
        """The agent on the running event loop; returns after :meth:`stop` (or a signal, with
        ``install_signal_handlers``) once it drained."""
        if not self._types:
            raise AgentSetupError("register at least one executor before running the agent")
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._signals = 0
        if install_signal_handlers:
            for number in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(number, self._begin_shutdown)
        session = _Session(self)
        try:
            await session.run()
        finally:
            if install_signal_handlers:
                for number in (signal.SIGTERM, signal.SIGINT):
                    self._loop.remove_signal_handler(number)


class _Session:
    """One run of an agent: its connections, slots, reporter and loops."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        assert agent._stopping is not None and agent._loop is not None
        self.stopping = agent._stopping
        self.loop = agent._loop
        self.running = _Running(agent.concurrency)
        self.keys = agent.keys
        self.redis = aioredis.Redis.from_url(
            agent.redis_url, decode_responses=True, socket_timeout=10, socket_connect_timeout=2, protocol=2,
            client_name="baton-agent-py")
        self.pool = ElasticThreadPool()
        self.wakes: asyncio.Queue[list[ExecutorQueue] | None] = asyncio.Queue()
        # Shards a rate limit holds back and when their next task is due (epoch ms): no marker
        # wakes the agents then, so a timer does (one per shard, the earliest).
        self.due_timers: dict[ExecutorQueue, int] = {}
        self.reports: list[_Report] = []
        self.report_signal = asyncio.Event()
        self.reporting_done = False
        self.attempt_tasks: set[asyncio.Task[None]] = set()
        # Executor calls still running after their attempt was given up (strong references).
        self.works: set[asyncio.Future[Any]] = set()
        self.queues: list[ExecutorQueue] = []

    # MARK: lifecycle

    async def run(self) -> None:
        agent = self.agent
        try:
            if not await self.setup():
                return
            log.info("agent starting (id %s, namespace %s, executors %s, concurrency %d, bus shards %d)", agent.agent_id,
                     self.keys.namespace, ",".join(agent._types), agent.concurrency, self.keys.bus_shards)
            waiter = aioredis.Redis.from_url(
                agent.redis_url, decode_responses=True, socket_timeout=None, socket_connect_timeout=2, protocol=2,
                client_name="baton-agent-py", single_connection_client=True)
            background = [
                asyncio.create_task(self.heartbeat_loop(), name="baton-heartbeat"),
                asyncio.create_task(self.announce_loop(), name="baton-announce"),
                asyncio.create_task(self.register_loop(), name="baton-register"),
                asyncio.create_task(self.cancel_loop(), name="baton-cancels"),
            ]
            reporter = asyncio.create_task(self.report_loop(), name="baton-reporter")
            # One waiter for every queue shard: a standalone server (on a cluster, one per slot).
            waiters = [asyncio.create_task(self.wait_for_work(self.queues, waiter), name="baton-waiter")]
            stop_watch = asyncio.create_task(self.stopping.wait())
            stop_watch.add_done_callback(lambda _: self.on_stop(waiters))
            try:
                await self.claim_loop()
            finally:
                self.on_stop(waiters)
                await asyncio.gather(*waiters, return_exceptions=True)
                await waiter.aclose()
            await self.drain()
            self.reporting_done = True
            self.report_signal.set()
            try:
                await asyncio.wait_for(asyncio.shield(reporter), 30)
            except asyncio.TimeoutError:
                log.warning("reports could not be sent within 30 s of stopping")
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            reporter.cancel()
            stop_watch.cancel()
        finally:
            self.pool.shutdown(wait=False)
            await self.redis.aclose()

    def on_stop(self, waiters: Sequence[asyncio.Task[None]]) -> None:
        """SIGTERM: no more waiting or claiming; everything waiting for a slot wakes."""
        self.stopping.set()
        for task in waiters:
            task.cancel()
        self.wakes.put_nowait(None)
        self.running.wake_all()

    async def setup(self) -> bool:
        """Checks the Redis (eviction policy) and records or reads the shard counts; retries while
        Redis cannot be reached. Returns False when stopped before it could."""
        backoff = _Backoff()
        while not self.stopping.is_set():
            try:
                await self._check()
                return True
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                log.warning("cannot reach Redis; retrying: %s", error)
                await backoff.wait(self.stopping)
        return False

    async def _check(self) -> None:
        agent = self.agent
        memory = await self.redis.info("memory")
        policy = str(memory.get("maxmemory_policy", "noeviction"))
        if policy != "noeviction":
            message = (f"Redis has maxmemory-policy {policy}: it may delete Baton's task data silently when memory runs "
                       "out. Set maxmemory-policy noeviction, or pass allow_eviction=True to accept the risk.")
            if not agent.allow_eviction:
                raise AgentSetupError(message)
            log.warning(message)
        ns = self.keys.namespace
        wanted = agent._configured_bus_shards or DEFAULT_BUS_SHARDS
        pipe = self.redis.pipeline(transaction=False)
        pipe.execute_command("SET", self.keys.bus_shard_count, str(wanted), "NX")
        pipe.execute_command("GET", self.keys.bus_shard_count)
        _, recorded_text = await pipe.execute()
        recorded = str(recorded_text if recorded_text is not None else wanted)
        if agent._configured_bus_shards is not None and recorded != str(agent._configured_bus_shards):
            raise AgentSetupError(
                f"bus.shards is {agent._configured_bus_shards} here, but namespace '{ns}' runs with {recorded} "
                f"({self.keys.bus_shard_count}): give every service the same bus.shards")
        try:
            bus_shards = int(recorded)
        except ValueError:
            raise AgentSetupError(f"{self.keys.bus_shard_count} holds '{recorded}', not a shard count") from None
        configured = {k: v for k, v in (agent._configured_queue_shards or {}).items() if v > 1}
        pipe = self.redis.pipeline(transaction=False)
        for executor, count in sorted(configured.items()):
            pipe.execute_command("HSETNX", self.keys.queue_shard_counts, executor, str(count))
        pipe.execute_command("HGETALL", self.keys.queue_shard_counts)
        recorded_shards = {str(k): str(v) for k, v in (await pipe.execute())[-1].items()}
        if agent._configured_queue_shards is not None:
            for executor, count_text in sorted(recorded_shards.items()):
                here = configured.get(executor, 1)
                if count_text != str(here):
                    raise AgentSetupError(
                        f"executors.{executor}.queue_shards is {here} here, but namespace '{ns}' runs with {count_text} "
                        f"({self.keys.queue_shard_counts}): give every service the same executors section")
            queue_shards = configured
        else:
            queue_shards = {}
            for executor, count_text in recorded_shards.items():
                try:
                    queue_shards[executor] = int(count_text)
                except ValueError:
                    raise AgentSetupError(f"{self.keys.queue_shard_counts} holds '{count_text}' for {executor}") from None
        self.keys = Keys(ns, bus_shards=bus_shards, queue_shards=queue_shards)
        agent.keys = self.keys
        self.queues = [queue for executor in agent._types for queue in self.keys.queues(executor)]

    # MARK: claiming

    async def wait_for_work(self, queues: list[ExecutorQueue], waiter: aioredis.Redis) -> None:
        """Names the shards to claim from: all at first and after a quiet second, else the one
        whose marker an enqueue set. Waits only while a slot is free."""
        markers = {self.keys.marker(queue): queue for queue in queues}
        backoff = _Backoff()
        self.wakes.put_nowait(queues)
        while not self.stopping.is_set():
            await self.running.wait_for_free_slot()
            if self.stopping.is_set():
                break
            try:
                woken = await waiter.execute_command("BZPOPMIN", *markers, 1)  # type: ignore[no-untyped-call]
                self.wakes.put_nowait([markers[woken[0]]] if woken and woken[0] in markers else queues)
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - logged, retried
                if self.stopping.is_set():
                    break
                log.warning("waiting for work failed; retrying: %s", error)
                await backoff.wait(self.stopping)
                self.wakes.put_nowait(queues)

    async def claim_loop(self) -> None:
        backoff = _Backoff()
        turn = 0
        while not self.stopping.is_set():
            queues = await self.wakes.get()
            if queues is None or self.stopping.is_set():
                break
            await self.running.wait_for_free_slot()
            # Let attempts that just ended free their slots first: one claim for all of them.
            await asyncio.sleep(0)
            if self.stopping.is_set():
                break
            try:
                turn += 1
                for task, queue in await self.claim_and_start(self.running.free, queues, turn):
                    attempt = _Attempt(task, queue)
                    self.running.add(attempt)
                    runner = asyncio.create_task(self.run_attempt(attempt))
                    self.attempt_tasks.add(runner)
                    runner.add_done_callback(self.attempt_tasks.discard)
                backoff.reset()
            except Exception as error:  # noqa: BLE001 - logged, retried
                if self.stopping.is_set():
                    break
                log.warning("claiming failed; retrying: %s", error)
                await backoff.wait(self.stopping)

    async def claim_and_start(self, free: int, queues: list[ExecutorQueue], turn: int) -> list[tuple[StartedTask, ExecutorQueue]]:
        """Takes up to ``free`` tasks from the shards, visited in turn from a start that moves on
        with every round, and starts them."""
        remaining = free
        started: list[tuple[StartedTask, ExecutorQueue]] = []
        first = turn % len(queues) if queues else 0
        for queue in queues[first:] + queues[:first]:
            if remaining <= 0:
                continue
            claimed = await self.claim(queue, remaining)
            if not claimed:
                continue
            begun = await self.start(claimed, queue)
            started += [(task, queue) for task in begun]
            remaining -= len(begun)
        return started

    async def claim(self, queue: ExecutorQueue, count: int) -> list[tuple[str, str]]:
        """``claimQueue``: up to ``count`` of the shard's best ready tasks, each with a lease."""
        keys = self.keys
        call = ScriptCall(script("claimQueue"), [keys.ready(queue), keys.marker(queue), keys.leases(queue)],
                          [str(_now_ms()), str(self.agent.lease_ms), str(count)])
        reply = list((await run_async(self.redis, [call]))[0] or [])
        if reply and isinstance(reply[-1], str) and reply[-1].startswith("@") and reply[-1][1:].isdigit():
            self.arm_due_timer(queue, int(reply.pop()[1:]))
        return [parsed for parsed in (parse_member(m) for m in reply) if parsed is not None]

    def arm_due_timer(self, queue: ExecutorQueue, due: int) -> None:
        """Wakes the claim loop for ``queue`` at ``due`` (epoch ms), unless a timer goes off earlier."""
        armed = self.due_timers.get(queue)
        if armed is not None and armed <= due:
            return
        self.due_timers[queue] = due

        def fire() -> None:
            if self.due_timers.get(queue) == due:
                del self.due_timers[queue]
            if not self.stopping.is_set():
                self.wakes.put_nowait([queue])

        asyncio.get_running_loop().call_later(max(0, due - _now_ms()) / 1000, fire)

    async def start(self, claimed: list[tuple[str, str]], queue: ExecutorQueue) -> list[StartedTask]:
        """``startTasks`` on each claimed task's tree (one round trip); stale claims are dropped
        and their leases removed. Returns the started tasks in claim order."""
        now = str(_now_ms())
        by_tree: dict[str, list[str]] = {}
        for tree_id, task_id in claimed:
            by_tree.setdefault(tree_id, []).append(task_id)
        body = script("startTasks")
        keys = self.keys
        calls = [
            ScriptCall(body, [keys.tree(tree_id), keys.tree_tasks(tree_id), keys.tree_events(tree_id)],
                       [now, str(self.agent.events_maxlen), keys.tree_channel(tree_id), tree_id, *task_ids])
            for tree_id, task_ids in by_tree.items()
        ]
        replies = await run_async(self.redis, calls)
        started: list[StartedTask] = []
        stale: list[str] = []
        early: list[str] = []
        for tree_id, reply in zip(by_tree, replies):
            for entry in reply or []:
                fields = [value if isinstance(value, str) else "" for value in (entry or [])]
                if len(fields) < 2:
                    continue
                if fields[1] == "early" and len(fields) >= 6 and fields[2].isdigit() and fields[3].isdigit():
                    # a retry whose backoff has not ended: back to the delayed set (with its user
                    # and concurrency key, as the engine parks retries)
                    early += [fields[2], f"{fields[3]}\t{fields[4]}\t{fields[5]}\t{member(tree_id, fields[0])}"]
                    stale.append(member(tree_id, fields[0]))
                    continue
                if fields[1] != "ok" or len(fields) < 9:
                    stale.append(member(tree_id, fields[0]))
                    continue
                started.append(StartedTask.from_entry(tree_id, fields))
        if early:
            await self.redis.execute_command("ZADD", keys.delayed(queue), *early)  # type: ignore[no-untyped-call]
        if stale:
            # ``enqueue`` ends the attempts: the lease, a cancel request and a concurrency slot go
            end = ScriptCall(script("enqueue"), [keys.ready(queue)], [len(stale), 0, 0, 0, *stale])
            await run_async(self.redis, [end])
        position = {member(tree, task): index for index, (tree, task) in reversed(list(enumerate(claimed)))}
        started.sort(key=lambda task: position.get(task.member, 0))
        return started

    # MARK: running an attempt

    async def run_attempt(self, attempt: _Attempt) -> None:
        try:
            await self.execute(attempt)
        except Exception:  # noqa: BLE001 - never lose a slot
            log.exception("running task %s failed inside the agent", attempt.task.task_id)
        finally:
            if attempt.abandoned:
                self.running.remove(attempt.member)
            else:
                # Reported: keep the lease until the scheduler applied the report (3 leases at most).
                self.running.settle(attempt, 3 * self.agent.lease_ms / 1000)

    async def execute(self, attempt: _Attempt) -> None:
        """Runs one attempt and reports its outcome (unless the attempt was abandoned)."""
        task = attempt.task

        def report(kind: str, data: str = "", extra: str = "") -> None:
            self.send(_Report(kind, task.tree_id, task.task_id, task.attempt, data, extra), task.executor)

        if task.problem:
            report("failed", error_text(task.problem))
            return
        registered = self.agent._executors.get(task.executor)
        if registered is None:
            report("failed", f"No executor '{task.executor}' is registered on this agent")
            return
        fn, is_async = registered
        context = ExecutionContext(task, attempt.cancellation, lambda value: self.progress(attempt, value))
        outcome = await self.race(fn, is_async, context, task.timeout_s, attempt)
        if attempt.abandoned or outcome.abandoned:
            return
        if attempt.cancel_requested:
            # Cancelled: keep a partial result the executor gave when it stopped; a result it
            # returned anyway (it ignored the request) is late and discarded.
            partial = ""
            error = outcome.error
            if isinstance(error, ExecutorFailure) and error.has_partial_result:
                ok, text = self.encode(error.partial_result, "partial result")
                if ok:
                    partial = text
                else:
                    log.warning("dropping the partial result of a cancelled attempt of %s: %s", task.task_id, text)
            report("cancelled", "", partial)
            return
        if outcome.timed_out:
            report("failed", f"timeout after {_json.format_seconds(task.timeout_s or 0)} s")
            return
        error = outcome.error
        if error is None:
            ok, text = self.encode(outcome.result, "result")
            report("completed", text) if ok else report("failed", text)
        elif isinstance(error, ExecutorFailure):
            message, partial = error.message, ""
            if error.has_partial_result:
                ok, text = self.encode(error.partial_result, "partial result")
                if ok:
                    partial = text
                else:
                    message += f" ({text}; it was not kept)"
            report("failed", error_text(message), partial)
        else:
            report("failed", error_text(_describe(error)))

    async def race(self, fn: ExecutorFunction, is_async: bool, context: ExecutionContext, timeout: float | None,
                   attempt: _Attempt) -> _Outcome:
        """Runs the executor, but stops waiting for it when ``timeout`` passes or the attempt is
        abandoned, even if it ignores ``ctx.cancelled``. A cancel request keeps waiting for it."""
        loop = self.loop
        done: asyncio.Future[_Outcome] = loop.create_future()

        def resolve(outcome: _Outcome) -> None:
            if not done.done():
                done.set_result(outcome)

        inputs = context._task.inputs
        work: asyncio.Future[Any]
        if is_async:
            work = asyncio.ensure_future(fn(inputs, context))
        else:
            work = loop.run_in_executor(self.pool, fn, inputs, context)
        timer: asyncio.TimerHandle | None = None
        if timeout is not None:
            def on_timeout() -> None:
                attempt.cancellation.set()
                if is_async:
                    work.cancel()
                resolve(_Outcome(timed_out=True))
            timer = loop.call_later(timeout, on_timeout)

        def on_done(finished: asyncio.Future[Any]) -> None:
            if timer is not None:
                timer.cancel()
            if finished.cancelled():
                resolve(_Outcome(error=asyncio.CancelledError()))
            elif finished.exception() is not None:
                resolve(_Outcome(error=finished.exception()))
            else:
                resolve(_Outcome(result=finished.result()))

        work.add_done_callback(on_done)
        self.works.add(work)
        work.add_done_callback(self.works.discard)
        attempt.attach(work, is_async, lambda: resolve(_Outcome(abandoned=True)))
        return await done

    def encode(self, value: Any, what: str) -> tuple[bool, str]:
        """The compact JSON of a result, or (False, why it cannot be reported)."""
        if _json.nesting_exceeds(value, _json.MAX_RESULT_DEPTH):
            return False, (f"{what} is nested more than {_json.MAX_RESULT_DEPTH} levels deep (dependents receive it one "
                           f"level deeper, and JSON may nest at most {_json.MAX_PARSING_DEPTH} levels)")
        try:
            text = _json.dumps(value)
        except (TypeError, ValueError, RecursionError) as error:
            return False, f"{what} is not JSON: {error}"
        size = len(text.encode("utf-8"))
        if size > self.agent.max_result_bytes:
            return False, f"{what} is {size} bytes; agent.max_result_bytes allows {self.agent.max_result_bytes}"
        return True, text

    def progress(self, attempt: _Attempt, value: float) -> None:
        """``ctx.progress``: from any thread."""
        valid = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1
        if not valid:
            log.warning("dropping an invalid progress report (must be a number from 0 to 1): %r (task %s)",
                        value, attempt.task.task_id)
            return
        task = attempt.task
        report = _Report("progress", task.tree_id, task.task_id, task.attempt, repr(float(value)))

        def send() -> None:
            if not attempt.abandoned:
                self.send(report)

        if self._on_loop():
            send()
        else:
            self.loop.call_soon_threadsafe(send)

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    # MARK: reports

    def send(self, report: _Report, executor: str | None = None) -> None:
        """Queues a report for the next XADD; an ending one of ``executor`` is counted for the record."""
        self.reports.append(report)
        self.report_signal.set()
        if executor is not None and report.kind in ("completed", "failed", "cancelled"):
            self.agent._outcomes.record(executor, report.kind)

    async def report_loop(self) -> None:
        """Sends whatever accumulated while the previous XADD was in flight; retries until Redis takes it."""
        while True:
            await self.report_signal.wait()
            self.report_signal.clear()
            await self.flush()
            if self.reporting_done and not self.reports:
                return

    async def flush(self) -> None:
        backoff = _Backoff()
        while self.reports:
            batch, self.reports = self.reports, []
            while True:
                try:
                    await self.publish(batch)
                    break
                except Exception as error:  # noqa: BLE001 - retried until Redis takes it
                    log.warning("cannot send reports; retrying: %s", error)
                    await backoff.wait()

    async def publish(self, batch: list[_Report]) -> None:
        """One XADD per report shard, holding that shard's reports as repeated groups
        ``kind, tree, task, attempt, data, extra`` (one pipeline)."""
        entries: dict[str, list[str]] = {}
        for report in batch:
            entries.setdefault(self.keys.reports_of_tree(report.tree), []).extend([
                "kind", report.kind, "tree", report.tree, "task", report.task, "attempt", str(report.attempt),
                "data", report.data, "extra", report.extra])
        pipe = self.redis.pipeline(transaction=False)
        for stream, fields in entries.items():
            pipe.execute_command("XADD", stream, "*", *fields)
        for reply in await pipe.execute(raise_on_error=False):
            if isinstance(reply, Exception):
                raise reply

    # MARK: leases and cancellation

    async def heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.agent.heartbeat_interval_s)
            for queue, members in self.running.members_by_queue().items():
                try:
                    lost, cancels = await self.heartbeat(queue, members)
                    for key in lost:
                        attempt = self.running.get(key)
                        if attempt is None:
                            # A settled attempt's lease is gone once its report was applied: done.
                            self.running.forget(key)
                            continue
                        log.warning("lease lost; abandoning the attempt of task %s", attempt.task.task_id)
                        task = attempt.task
                        # Hand it back: if nobody requeued the task this puts it back in its queue;
                        # if it was requeued, the report is stale and ignored.
                        self.send(_Report("handback", task.tree_id, task.task_id, task.attempt))
                        attempt.abandon()
                    for key, attempt_number in cancels.items():
                        self.cancel_requested(key, attempt_number, "heartbeat")
                except Exception as error:  # noqa: BLE001 - logged, next round
                    log.warning("heartbeat failed: %s", error)

    async def heartbeat(self, queue: ExecutorQueue, members: list[str]) -> tuple[list[str], dict[str, int]]:
        """Extends the leases (``ZADD … XX CH``); answers the members whose lease was gone and the
        pending cancel requests of the shard's ``cancels`` hash."""
        expiry = str(_now_ms() + self.agent.lease_ms)
        scores: list[str] = []
        for key in members:
            scores += [expiry, key]
        leases = self.keys.leases(queue)
        pipe = self.redis.pipeline(transaction=False)
        pipe.execute_command("ZADD", leases, "XX", "CH", *scores)
        pipe.execute_command("ZMSCORE", leases, *members)
        pipe.execute_command("HMGET", self.keys.cancels(queue), *members)
        _, present, requested = await pipe.execute()
        lost = [key for key, score in zip(members, present or []) if score is None]
        cancels: dict[str, int] = {}
        for key, value in zip(members, requested or []):
            try:
                cancels[key] = int(value)
            except (TypeError, ValueError):
                pass
        return lost, cancels

    def cancel_requested(self, key: str, attempt_number: int, path: str) -> None:
        """Stops the attempt a cancel request names, if it runs here."""
        attempt = self.running.get(key)
        if attempt is None or attempt.task.attempt != attempt_number or attempt.cancel_requested:
            return
        log.info("cancel requested; stopping the executor (task %s, cancel_path=%s)", attempt.task.task_id, path)
        attempt.request_cancel()

    async def cancel_loop(self) -> None:
        """Follows the cancel shard channels of the agent's queue shards (a nudge: heartbeats read
        the same requests from the ``cancels`` hashes). One connection of its own, in RESP2
        subscriber mode (``SSUBSCRIBE``), read directly: redis-py's asyncio ``PubSub`` has no
        sharded subscriptions before 8.0."""
        channels = [self.keys.cancel_channel(queue) for queue in self.queues]
        pool = aioredis.ConnectionPool.from_url(
            self.agent.redis_url, decode_responses=True, socket_timeout=None, socket_connect_timeout=2, protocol=2,
            client_name="baton-agent-py-cancel")
        backoff = _Backoff()
        try:
            while True:
                connection = pool.make_connection()  # type: ignore[no-untyped-call]
                try:
                    await connection.connect()
                    await connection.send_command("SSUBSCRIBE", *channels)
                    while True:
                        message = await connection.read_response()
                        if not isinstance(message, list) or len(message) != 3:
                            continue
                        kind = message[0]
                        if kind == "ssubscribe":
                            backoff.reset()
                            continue
                        if kind == "sunsubscribe":
                            break  # the node gave the slot away: subscribe again
                        if kind != "smessage":
                            continue
                        parts = str(message[2]).split("\t")
                        if len(parts) != 3:
                            continue
                        try:
                            number = int(parts[2])
                        except ValueError:
                            continue
                        self.cancel_requested(member(parts[0], parts[1]), number, "signal")
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # noqa: BLE001 - subscribe again
                    log.warning("cannot follow cancel signals; retrying: %s", error)
                    await backoff.wait()
                finally:
                    try:
                        await connection.disconnect()
                    except Exception:  # noqa: BLE001
                        pass
        finally:
            await pool.disconnect()

    # MARK: record and served types

    async def announce_loop(self) -> None:
        """``ZADD <ns>:executors:served now type…`` now and every 5 s (the reapers sweep only
        types served lately), and forgets types nobody served for 30 days."""
        while True:
            try:
                now = _now_ms()
                scores: list[str] = []
                for executor in sorted(self.agent._types):
                    scores += [str(now), executor]
                pipe = self.redis.pipeline(transaction=False)
                pipe.execute_command("ZADD", self.keys.executors_served, *scores)
                pipe.execute_command("ZREMRANGEBYSCORE", self.keys.executors_served, "-inf", str(now - SERVED_MEMORY_MS))
                await pipe.execute()
            except Exception as error:  # noqa: BLE001 - logged, next round
                log.warning("announcing executor types failed: %s", error)
            await asyncio.sleep(SERVED_EVERY_S)

    async def register_loop(self) -> None:
        """Keeps the agent record (``<ns>:agent:<id>``, TTL 10 s) refreshed every 2 s until the
        agent stops, then removes it."""
        agent = self.agent
        started_at = _now_ms()
        key = self.keys.agent(agent.agent_id)
        while not self.stopping.is_set():
            now = _now_ms()
            fields = [
                "id", agent.agent_id, "host", socket.gethostname(), "pid", str(os.getpid()),
                "version", f"{__version__} (python)", "executors", _json.dumps(agent._types),
                "concurrency", str(agent.concurrency), "running", str(self.running.count),
                "started_at", str(started_at), "last_seen", str(now),
                "last_minute", _json.dumps(agent._outcomes.last_minute()),
            ]
            try:
                pipe = self.redis.pipeline(transaction=False)
                pipe.execute_command("HSET", key, *fields)
                pipe.execute_command("PEXPIRE", key, str(AGENT_RECORD_MS))
                pipe.execute_command("ZADD", self.keys.agents, str(now), agent.agent_id)
                pipe.execute_command("ZREMRANGEBYSCORE", self.keys.agents, "-inf", str(now - AGENT_RECORD_MS))
                await pipe.execute()
            except Exception as error:  # noqa: BLE001 - logged, next round
                log.warning("refreshing the agent record failed: %s", error)
            try:
                await asyncio.wait_for(self.stopping.wait(), AGENT_REFRESH_S)
            except asyncio.TimeoutError:
                pass
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.execute_command("DEL", key)
            pipe.execute_command("ZREM", self.keys.agents, agent.agent_id)
            await pipe.execute()
        except Exception:  # noqa: BLE001 - the record expires on its own
            pass

    # MARK: shutdown

    async def drain(self) -> None:
        """Waits for running attempts up to the grace period, then hands the rest back."""
        initially = self.running.count
        if initially == 0:
            return
        log.info("waiting for %d running tasks", initially)
        began = time.monotonic()
        # Read each round: a second SIGINT/SIGTERM sets the grace period to 0.
        while self.running.count > 0 and time.monotonic() < began + self.agent.shutdown_grace_s:
            await asyncio.sleep(0.05)
        unfinished = self.running.all()
        for attempt in unfinished:
            attempt.abandon()
            task = attempt.task
            self.send(_Report("handback", task.tree_id, task.task_id, task.attempt))
        if unfinished:
            log.info("handed back %d unfinished tasks", len(unfinished))
