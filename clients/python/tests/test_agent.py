"""The Python agent's own behaviour, beyond what the protocol suite shares with the Swift agent:
synchronous executors and ``ctx.cancelled``, the context, result checks, timeouts of functions
that ignore them, progress from threads, and shard counts read from Redis. The agent runs in this
process (``run_async`` on a thread), against a real ``baton-scheduler``."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any, Iterator

import pytest

import baton
from support import Deployment, of, summary


class InProcessAgent:
    """An :class:`baton.Agent` running on a thread of its own until the block ends."""

    def __init__(self, agent: baton.Agent) -> None:
        self.agent = agent
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.agent.run_async())
        except BaseException as error:  # noqa: BLE001 - reported by __exit__
            self.error = error

    def __enter__(self) -> "InProcessAgent":
        self.thread.start()
        deadline = time.monotonic() + 10
        while self.agent._loop is None and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.agent.stop()
        self.thread.join(15)
        assert not self.thread.is_alive(), "the agent did not stop"
        if self.error is not None and exc[0] is None:
            raise self.error


def make_agent(d: Deployment, **options: Any) -> baton.Agent:
    settings: dict[str, Any] = {"namespace": d.namespace, "concurrency": 4, "lease_s": 2, "heartbeat_interval_s": 0.3,
                                "shutdown_grace_s": 1}
    settings.update(options)
    return baton.Agent(d.redis_url, **settings)


def test_sync_executor_sees_cancel_and_its_context(deployment: Deployment) -> None:
    d = deployment
    agent = make_agent(d)
    seen: dict[str, Any] = {}

    @agent.executor("py_ticker")
    def ticker(inputs: dict[str, Any], ctx: baton.ExecutionContext) -> Any:
        seen.update(task_id=ctx.task_id, tree_id=ctx.tree_id, attempt=ctx.attempt, name=ctx.name, params=ctx.params,
                    executor=ctx.executor, thread=threading.current_thread().name)
        ticks = 0
        while not ctx.cancelled.wait(0.05):
            ticks += 1
        raise baton.ExecutorFailure("stopped", partial_result={"ticks": ticks})

    with InProcessAgent(agent):
        submitted = d.submit([{"id": "tick", "name": "ticking", "executor": "py_ticker", "params": {"p": 1}}])
        d.wait_until(lambda: d.task(submitted.tree_id, "tick")["status"] == "in_progress", 15, "the task runs")
        d.wait_until(lambda: seen, 5, "the executor runs")
        outcome = d.cli("cancel", "tick")
        assert outcome["status"] in ("cancelled", "cancelling")
        d.wait_tree(submitted.tree_id)
    task = d.task(submitted.tree_id, "tick")
    assert task["status"] == "cancelled" and task["error"] == "Cancellation requested"
    assert task["result"]["ticks"] >= 0
    assert seen["task_id"] == "tick" and seen["tree_id"] == submitted.tree_id and seen["attempt"] == 1
    assert seen["name"] == "ticking" and seen["params"] == {"p": 1} and seen["executor"] == "py_ticker"
    assert seen["thread"].startswith("baton-executor"), "a sync executor runs in the agent's thread pool"


def test_results_the_agent_refuses(deployment: Deployment) -> None:
    d = deployment
    agent = make_agent(d, max_result_bytes=200)

    @agent.executor("py_result")
    def result(inputs: dict[str, Any], ctx: baton.ExecutionContext) -> Any:
        kind = inputs["kind"]
        if kind == "big":
            return "x" * 300
        if kind == "nan":
            return {"value": math.nan}
        if kind == "deep":
            value: Any = 1
            for _ in range(600):
                value = [value]
            return value
        if kind == "object":
            return {"set": {1, 2}}
        if kind == "raise":
            raise ValueError("bad input")
        if kind == "bad-partial":
            raise baton.ExecutorFailure("half done", partial_result={"x": math.inf})
        return {"ok": "fits", "é": "/"}

    with InProcessAgent(agent):
        kinds = ["big", "nan", "deep", "object", "raise", "bad-partial", "fine"]
        submitted = d.submit([{"id": f"r-{k}", "name": k, "executor": "py_result", "inputs": {"kind": k}} for k in kinds])
        d.wait_tree(submitted.tree_id)
    errors = {k: str(d.task(submitted.tree_id, f"r-{k}").get("error")) for k in kinds}
    assert errors["big"] == "result is 302 bytes; agent.max_result_bytes allows 200"
    assert errors["nan"].startswith("result is not JSON: ")
    assert errors["deep"] == ("result is nested more than 511 levels deep (dependents receive it one level deeper, "
                              "and JSON may nest at most 512 levels)")
    assert errors["object"].startswith("result is not JSON: ")
    assert errors["raise"] == "ValueError: bad input"
    assert errors["bad-partial"].startswith("half done (partial result is not JSON: ") and errors["bad-partial"].endswith(
        "; it was not kept)")
    fine = d.task(submitted.tree_id, "r-fine")
    assert fine["status"] == "completed" and fine["result_text"] == '{"ok":"fits","é":"/"}'


def test_timeout_of_a_function_that_ignores_it_frees_the_slot(deployment: Deployment) -> None:
    """A sync function that never looks at ``ctx.cancelled`` fails at its ``timeout_s``; its
    thread keeps sleeping, but the next task does not wait for it."""
    d = deployment
    agent = make_agent(d, concurrency=1)

    @agent.executor("py_stuck")
    def stuck(inputs: dict[str, Any], ctx: baton.ExecutionContext) -> Any:
        time.sleep(inputs["seconds"])
        return "late"

    with InProcessAgent(agent):
        submitted = d.submit([
            {"id": "stuck", "name": "stuck", "executor": "py_stuck", "inputs": {"seconds": 4}, "timeout_s": 0.3},
            {"id": "quick", "name": "quick", "executor": "py_stuck", "inputs": {"seconds": 0}, "dependencies": [
                {"id": "stuck", "required": False}]},
        ])
        began = time.monotonic()
        d.wait_tree(submitted.tree_id, 15)
        assert time.monotonic() - began < 3, "the second task waited for the stuck thread"
    stuck_task = d.task(submitted.tree_id, "stuck")
    assert stuck_task["status"] == "failed" and stuck_task["error"] == "timeout after 0.3 s"
    assert d.task(submitted.tree_id, "quick")["result"] == "late"


def test_progress_from_a_thread_and_invalid_values_dropped(deployment: Deployment) -> None:
    d = deployment
    agent = make_agent(d)

    @agent.executor("py_progress")
    def progress(inputs: dict[str, Any], ctx: baton.ExecutionContext) -> Any:
        for value in (0.25, 1.7, math.nan, True, 0.5):
            ctx.progress(value)
        time.sleep(0.2)  # let the progress reports go out before the completion
        return None

    with InProcessAgent(agent):
        submitted = d.submit([{"id": "prog", "name": "prog", "executor": "py_progress"}])
        d.wait_tree(submitted.tree_id)
    events = d.events(submitted.tree_id)
    assert [e["progress"] for e in of(events, "progress")] == ["0.25", "0.5"], summary(events)
    task = d.task(submitted.tree_id, "prog")
    assert task["status"] == "completed" and task["result"] is None and task["result_text"] == "null"


@pytest.fixture
def sharded(redis_url: str, bin_dir: str) -> Iterator[Deployment]:
    """A scheduler configured with 4 bus shards and 3 queue shards for ``py_sharded``."""
    d = Deployment(redis_url, bin_dir, {"BATON_BUS_SHARDS": "4", "BATON_EXECUTORS_QUEUE_SHARDS": "py_sharded=3"})
    try:
        d.start_scheduler()
        d.wait_until(lambda: d.redis.hget(d.keys.queue_shard_counts, "py_sharded") == "3", 20, "the scheduler records its shards")
        yield d
    finally:
        d.stop()


def test_shard_counts_are_read_from_redis(sharded: Deployment) -> None:
    """The agent adopts ``<ns>:bus:shards`` and ``<ns>:queues:shards``: it claims from every queue
    shard and reports on the recorded bus shards; configured otherwise, it refuses to start."""
    d = sharded
    assert d.redis.get(d.keys.bus_shard_count) == "4"
    agent = make_agent(d)
    agent.add_executor("py_sharded", lambda inputs, ctx: ctx.task_id)
    ids = [f"s-{n}" for n in range(30)]
    sharded_keys = baton.Keys(d.namespace, queue_shards={"py_sharded": 3})
    assert {sharded_keys.queue("py_sharded", "s-0", i).shard for i in ids} == {0, 1, 2}
    with InProcessAgent(agent):
        submitted = d.submit([{"id": i, "name": i, "executor": "py_sharded"} for i in ids])
        tree = d.wait_tree(submitted.tree_id)
    assert tree["status"] == "completed"
    assert agent.keys.bus_shards == 4 and agent.keys.queue_shards == {"py_sharded": 3}
    assert all(d.task(submitted.tree_id, i)["result"] == i for i in ids)

    refused = make_agent(d, bus_shards=16)
    refused.add_executor("py_sharded", lambda inputs, ctx: None)
    with pytest.raises(baton.AgentSetupError, match="bus.shards is 16 here, but namespace"):
        asyncio.run(refused.run_async())
    wrong_queue = make_agent(d, queue_shards={"py_sharded": 2})
    wrong_queue.add_executor("py_sharded", lambda inputs, ctx: None)
    with pytest.raises(baton.AgentSetupError, match="executors.py_sharded.queue_shards is 2 here"):
        asyncio.run(wrong_queue.run_async())


def test_agent_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        baton.Agent(concurrency=0)
    with pytest.raises(ValueError):
        baton.Agent(lease_s=1, heartbeat_interval_s=2)
    with pytest.raises(ValueError):
        baton.Agent(namespace="a{b}")
    agent = baton.Agent()
    with pytest.raises(ValueError):
        agent.add_executor("bad{name}", lambda inputs, ctx: None)
    with pytest.raises(baton.AgentSetupError):
        asyncio.run(agent.run_async())  # no executor registered
