"""The thread pool that runs synchronous executors."""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Executor, Future
from typing import Any, Callable, TypeVar

T = TypeVar("T")


class ElasticThreadPool(Executor):
    """A pool of daemon threads that never makes work wait for a thread.

    The agent runs at most ``concurrency`` attempts at once, but an attempt it gave up on (timed
    out, lease lost, handed back) may keep its thread busy for as long as the function ignores
    ``ctx.cancelled``. A fixed-size pool would make the next attempts queue behind such threads
    (and count the wait against their ``timeout_s``); this one starts a thread when none is idle,
    and a thread idle for ``idle_s`` seconds exits. Daemon threads never keep a stopping agent
    alive.
    """

    def __init__(self, name: str = "baton-executor", idle_s: float = 60.0) -> None:
        self._name = name
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]] | None] = (
            queue.SimpleQueue())
        self._idle = 0  # threads waiting for work that no submission has claimed yet
        self._threads = 0
        self._shutdown = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Runs ``fn(*args, **kwargs)`` on an idle thread or a new one."""
        future: Future[T] = Future()
        item = (future, fn, args, kwargs)
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a pool that was shut down")
            if self._idle > 0:
                self._idle -= 1
                self._work.put(item)
                return future
            self._threads += 1
            number = self._threads
        threading.Thread(target=self._worker, args=(item,), name=f"{self._name}-{number}", daemon=True).start()
        return future

    def _worker(self, first: tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]) -> None:
        item: Any = first
        while True:
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as error:  # noqa: BLE001 - handed to the waiter
                    future.set_exception(error)
            del item, future, fn, args, kwargs
            with self._lock:
                if self._shutdown:
                    return
                self._idle += 1
            while True:
                try:
                    item = self._work.get(timeout=self._idle_s)
                    break
                except queue.Empty:
                    with self._lock:
                        if self._idle > 0:  # nobody counts on this thread: leave
                            self._idle -= 1
                            return
                    # A submission claimed this thread just now: its item is in the queue.
            if item is None:
                return

    def shutdown(self, wait: bool = False, *, cancel_futures: bool = False) -> None:
        """Stops idle threads; running ones finish their function and exit (never waited for)."""
        with self._lock:
            self._shutdown = True
            idle, self._idle = self._idle, 0
        for _ in range(idle):
            self._work.put(None)
