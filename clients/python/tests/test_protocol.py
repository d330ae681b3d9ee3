"""One black-box protocol suite for both agent runtimes.

Each test gets its own namespace with a real ``baton-scheduler`` and runs its agents either as
Baton's Swift ``baton-agent`` or as the Python agent (``py_agent.py``: Python executors named and
behaving like the built-in ``echo_executor``, ``sleep_executor`` and ``fail_executor``). The tests
talk to the processes through Redis only (Redis-native submission, the ``baton`` CLI to cancel,
the documented hashes and streams), so whatever passes here for one runtime must pass for the other.
Logs of a test's processes are printed when it fails (``BATON_E2E_KEEP_LOGS=1`` keeps them).
"""

from __future__ import annotations

import json
import signal
from typing import Any, cast

import pytest

from baton.keys import member
from baton.scripts import ScriptCall, run_sync, script
from support import Deployment, now_ms, of, summary

ALL = ["echo_executor", "sleep_executor", "fail_executor"]


def start_order(events: list[dict[str, str]]) -> list[str]:
    return [e["task_id"] for e in of(events, "task_started")]


def expect_consistent(d: Deployment, tree_id: str, events: list[dict[str, str]]) -> None:
    """Every task's final status agrees with its last status event; one tree_finished, last."""
    finished = of(events, "tree_finished")
    assert len(finished) == 1 and events[-1]["type"] == "tree_finished", summary(events)
    for task_id in cast("list[str]", d.redis.zrange(d.keys.tree_tasks(tree_id), 0, -1)):
        own = [e for e in events if e["task_id"] == task_id and e["type"] != "tree_finished"]
        assert own, f"no events for {task_id}"
        assert own[-1]["status"] == d.task(tree_id, task_id)["status"], f"{task_id}\n{summary(events)}"


# MARK: readiness and result merge


def test_readiness_and_result_merge(deployment: Deployment, runtime: str) -> None:
    """A task runs only once every dependency completed; results of every JSON shape are merged
    verbatim under their producer's id (a declared input of that key is overwritten), and the
    agent writes results as compact JSON with sorted keys, as Swift does."""
    d = deployment
    d.start_agent(runtime, ALL, 4)
    producers: dict[str, Any] = {
        "d_dict": {"z": 1, "a": {"b": [1, 2, {"c": None}]}, "s": "x\"y é/ü"},
        "d_list": [1, "two", 3.5, None, [], {}],
        "d_int": 42,
        "d_string": "text",
        "d_bool": False,
        "d_null": None,
        "d_empty_list": [],
        "d_empty_object": {},
    }
    tasks: list[dict[str, Any]] = [{
        "id": "consumer", "name": "consumer", "executor": "echo_executor",
        "inputs": {"d_list": "declared, to be overwritten", "keep": {"k": [True]}},
        "dependencies": [{"id": "slow", "required": True}] + [{"id": p, "required": True} for p in producers],
    }, {
        "id": "slow", "name": "slow", "executor": "sleep_executor", "parent_id": "consumer", "inputs": {"seconds": 0.4},
    }]
    for producer, value in producers.items():
        tasks.append({"id": producer, "name": producer, "executor": "echo_executor", "parent_id": "consumer",
                      "inputs": {"ret": value}})
    submitted = d.submit(tasks)
    tree = d.wait_tree(submitted.tree_id)
    events = d.events(submitted.tree_id)
    assert tree["status"] == "completed", f"{summary(events)}\n{d.diagnostics()}"

    completed_at = {e["task_id"]: e["id"] for e in of(events, "task_completed")}
    consumer_started = of(events, "task_started", "consumer")[0]["id"]
    for producer in [*producers, "slow"]:
        assert completed_at[producer] < consumer_started, f"consumer started before {producer} completed\n{summary(events)}"
    expected: dict[str, Any] = {"keep": {"k": [True]}, **producers, "slow": d.task(submitted.tree_id, "slow")["result"]}
    consumer = d.task(submitted.tree_id, "consumer")
    assert consumer["inputs"] == expected
    assert consumer["result"] == expected, "the executor received the merged inputs"
    for producer, value in producers.items():
        record = d.task(submitted.tree_id, producer)
        assert record["result"] == value
        assert record["result_text"] == json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        assert record["attempt"] == 1
    assert d.task(submitted.tree_id, "slow")["result"]["slept_s"] >= 0.4
    expect_consistent(d, submitted.tree_id, events)


# MARK: priority


def test_priority_order_with_one_slot(deployment: Deployment, runtime: str) -> None:
    """Queued before any agent runs, then one agent with one slot: tasks start in priority order,
    first submitted first within a priority (2 is the default)."""
    d = deployment
    specs: list[tuple[str, int | None]] = [
        ("p2-a", 2), ("p3-a", 3), ("p0-a", 0), ("p1-a", 1), ("p2-b", 2), ("p0-b", 0), ("p-default", None), ("p3-b", 3),
        ("p1-b", 1)]
    tasks = []
    for task_id, priority in specs:
        task: dict[str, Any] = {"id": task_id, "name": task_id, "executor": "echo_executor", "inputs": {"ret": task_id}}
        if priority is not None:
            task["priority"] = priority
        tasks.append(task)
    submitted = d.submit(tasks)
    ready = d.keys.ready(d.queue_of("echo_executor", submitted.tree_id, "p2-a"))
    d.wait_until(lambda: d.redis.zcard(ready) == len(specs), 10, "every task is queued")
    d.start_agent(runtime, ["echo_executor"], 1)
    tree = d.wait_tree(submitted.tree_id)
    events = d.events(submitted.tree_id)
    assert tree["status"] == "completed", d.diagnostics()
    assert start_order(events) == ["p0-a", "p0-b", "p1-a", "p1-b", "p2-a", "p2-b", "p-default", "p3-a", "p3-b"], summary(events)
    expect_consistent(d, submitted.tree_id, events)


# MARK: leases


def test_lease_loss_after_kill_9(deployment: Deployment, runtime: str) -> None:
    """An agent killed with SIGKILL mid-task: its heartbeats held the lease while it lived; once
    the lease expires the task is requeued (a lease loss, not a failed attempt), another agent
    runs it from the start, and the tree completes with attempt 2."""
    d = deployment
    victim = d.start_agent(runtime, ["sleep_executor"], 1)
    submitted = d.submit([{"id": "long", "name": "long", "executor": "sleep_executor", "inputs": {"seconds": 2.5}}])
    tree_id = submitted.tree_id
    d.wait_until(lambda: d.task(tree_id, "long")["status"] == "in_progress", 20, "the first agent runs the task")
    first_expiry = d.lease("sleep_executor", tree_id, "long") or 0
    d.start_agent(runtime, ["sleep_executor"], 1)
    d.wait_until(lambda: (d.lease("sleep_executor", tree_id, "long") or 0) > first_expiry, 5, "a heartbeat extends the lease")
    assert d.task(tree_id, "long")["attempt"] == 1
    killed_at = now_ms()
    victim.kill9()

    tree = d.wait_tree(tree_id, 30)
    events = d.events(tree_id)
    context = f"{summary(events)}\n{d.diagnostics()}"
    assert tree["status"] == "completed", context
    task = d.task(tree_id, "long")
    assert task["attempt"] == 2 and task["lease_losses"] == 1, context
    assert task["result"]["slept_s"] >= 2.5, "the second run slept the whole time"
    assert [e["attempt"] for e in of(events, "task_started", "long")] == ["1", "2"], context
    requeued = of(events, "task_requeued", "long")
    assert len(requeued) == 1 and requeued[0]["reason"] == "lease expired", context
    assert int(requeued[0]["timestamp"]) >= killed_at, "requeued before the agent was killed"
    assert not of(events, "task_failed"), context
    expect_consistent(d, tree_id, events)


def test_stale_attempt_late_report_is_ignored(deployment: Deployment, runtime: str) -> None:
    """An agent frozen (SIGSTOP) past its lease: the task is requeued and runs again on another
    agent (attempt 2). Thawed, the first agent finishes attempt 1 and reports it completed; the
    late report reaches the bus and changes nothing: the task stays in progress at attempt 2 and
    completes once, with the second attempt's outcome.

    The second agent is frozen too while the first one reports (its 30 s lease outlives that), so
    every bus entry of that window is the stale attempt's."""
    d = deployment
    stale = d.start_agent(runtime, ["sleep_executor"], 1)
    # Under a second: no progress reports, only the completion.
    submitted = d.submit([{"id": "task", "name": "task", "executor": "sleep_executor", "inputs": {"seconds": 0.95}}])
    tree_id = submitted.tree_id
    d.wait_until(lambda: d.task(tree_id, "task")["status"] == "in_progress", 20, "the first agent runs the task")
    stale.signal(signal.SIGSTOP)
    second = d.start_agent(runtime, ["sleep_executor"], 1, {"BATON_AGENT_LEASE_S": "30"})
    d.wait_until(lambda: d.task(tree_id, "task")["attempt"] == 2, 15, "the task runs again on the second agent",
                 interval=0.005)
    second.signal(signal.SIGSTOP)
    assert d.task(tree_id, "task")["status"] == "in_progress", "attempt 2 ended before the test could freeze its agent"
    # The Python agent sends its reports to the schedulers; the Swift agent applies them itself
    # and keeps them on the applied stream for the schedulers' replay.
    streams = [d.keys.reports_of_tree(tree_id), d.keys.applied_of_tree(tree_id)]

    def entries_added() -> int:
        return sum(int(d.redis.xinfo_stream(s)["entries-added"]) for s in streams if d.redis.exists(s))

    added = entries_added()
    stale.signal(signal.SIGCONT)
    # Its sleep is over at once (its clock ran on while frozen): it reports attempt 1 completed.
    d.wait_until(lambda: entries_added() > added, 10, "the first agent's late report reaches the bus")

    def applied() -> bool:
        groups = [g for s in streams if d.redis.exists(s) for g in d.redis.xinfo_groups(s)]
        return bool(groups) and all(int(g.get("pending") or 0) == 0 and int(g.get("lag") or 0) == 0 for g in groups)

    d.wait_until(applied, 10, "the scheduler consumed it")
    task = d.task(tree_id, "task")
    events = d.events(tree_id)
    # The thawed agent's heartbeat re-scores the lease (the member names no attempt) with its own
    # 2 s: thaw the second agent before that runs out.
    second.signal(signal.SIGCONT)
    context = f"{summary(events)}\n{d.diagnostics()}"
    assert task["status"] == "in_progress" and task["attempt"] == 2, f"the late report of attempt 1 was applied\n{context}"
    assert not of(events, "task_completed"), context

    tree = d.wait_tree(tree_id, 20)
    events = d.events(tree_id)
    context = f"{summary(events)}\n{d.diagnostics()}"
    assert tree["status"] == "completed", context
    assert len(of(events, "task_completed")) == 1, context
    assert d.task(tree_id, "task")["attempt"] == 2, context
    assert [e["reason"] for e in of(events, "task_requeued")] == ["lease expired"], context
    expect_consistent(d, tree_id, events)


# MARK: cancellation, timeout, retry


def test_cooperative_cancel(deployment: Deployment, runtime: str) -> None:
    """A running cooperative executor stops when its task is cancelled: the task is ``cancelled``
    with the cancel message as error and the partial result the executor gave; its dependent is
    blocked; the tree ends cancelled long before the 30 s sleep would have."""
    d = deployment
    d.start_agent(runtime, ALL, 4)
    submitted = d.submit([
        {"id": "long", "name": "long", "executor": "sleep_executor", "inputs": {"seconds": 30}},
        {"id": "after", "name": "after", "executor": "echo_executor", "parent_id": "long", "dependencies": ["long"]},
    ])
    tree_id = submitted.tree_id
    d.wait_until(lambda: d.task(tree_id, "long")["status"] == "in_progress", 20, "the task runs")
    asked = now_ms()
    outcome = d.cli("cancel", "long")
    assert outcome["stop_confirmed"] == (outcome["status"] == "cancelled"), outcome
    tree = d.wait_tree(tree_id, 10)
    events = d.events(tree_id)
    context = f"{summary(events)}\n{d.diagnostics()}"
    long = d.task(tree_id, "long")
    assert long["status"] == "cancelled" and long["error"] == "Cancellation requested", context
    assert 0 <= long["result"]["slept_s"] < 10, f"the partial result: {long.get('result')}"
    assert "cancel_requested_at" in long
    assert int(long["completed_at"] if "completed_at" in long else long["updated_at"]) - asked < 5000
    assert d.task(tree_id, "after")["blocked_by"] == "long"
    assert tree["status"] == "cancelled"
    assert len(of(events, "cancel_requested", "long")) == 1, context
    assert of(events, "task_cancelled", "long")[0]["error"] == "Cancellation requested"
    expect_consistent(d, tree_id, events)


def test_cancel_when_the_signal_is_lost(deployment: Deployment, runtime: str) -> None:
    """A cancellation whose pub/sub signal never comes (the store's ``cancelTasks`` then
    ``requestCancel`` with no channel, as ``BatonStore.cancel(…, publish: false)`` does): the
    agent's next heartbeat reads the request from the queue's ``cancels`` hash and stops the attempt."""
    d = deployment
    agent = d.start_agent(runtime, ALL, 2)
    submitted = d.submit([{"id": "quiet", "name": "quiet", "executor": "sleep_executor", "inputs": {"seconds": 30}}])
    tree_id = submitted.tree_id
    d.wait_until(lambda: d.task(tree_id, "quiet")["status"] == "in_progress", 20, "the task runs")
    keys = d.keys
    tree_keys = [keys.tree(tree_id), keys.tree_tasks(tree_id), keys.tree_events(tree_id)]
    outputs, entries, _total = run_sync(d.redis, [ScriptCall(script("cancelTasks"), tree_keys, [
        str(now_ms()), "10000", keys.tree_channel(tree_id), tree_id, "1", "alice", "quietly", "task", "quiet"])])[0]
    assert entries == ["quiet", "cancelling", "sleep_executor", "1"], entries
    queue = d.queue_of("sleep_executor", tree_id, "quiet")
    leased = run_sync(d.redis, [ScriptCall(script("requestCancel"), [keys.leases(queue), keys.cancels(queue)],
                                           ["", member(tree_id, "quiet"), "1"])])[0]
    assert leased == 1
    tree = d.wait_tree(tree_id, 10)
    task = d.task(tree_id, "quiet")
    assert tree["status"] == "cancelled" and task["status"] == "cancelled" and task["error"] == "quietly", d.diagnostics()
    assert "slept_s" in task["result"], "the cooperative executor's partial result"
    assert "cancel_path=heartbeat" in agent.tail(200), "the agent learned it from a heartbeat"
    d.wait_until(lambda: not d.redis.hlen(keys.cancels(queue)), 5, "the request is removed with the lease")


def test_timeout(deployment: Deployment, runtime: str) -> None:
    """A 2 s sleep with ``timeout_s`` 0.5 fails after about half a second with
    ``timeout after 0.5 s``, and its dependent is blocked."""
    d = deployment
    d.start_agent(runtime, ALL, 4)
    submitted = d.submit([
        {"id": "slow", "name": "slow", "executor": "sleep_executor", "inputs": {"seconds": 2}, "timeout_s": 0.5},
        {"id": "next", "name": "next", "executor": "echo_executor", "dependencies": ["slow"]},
    ])
    tree = d.wait_tree(submitted.tree_id)
    events = d.events(submitted.tree_id)
    context = f"{summary(events)}\n{d.diagnostics()}"
    assert tree["status"] == "failed", context
    slow = d.task(submitted.tree_id, "slow")
    assert slow["status"] == "failed" and slow["error"] == "timeout after 0.5 s", context
    assert slow["attempt"] == 1
    ran = int(slow["completed_at"]) - int(slow["started_at"])
    assert 450 <= ran < 1900, f"ran {ran} ms: the timeout did not cut the 2 s sleep"
    assert d.task(submitted.tree_id, "next")["blocked_by"] == "slow"
    expect_consistent(d, submitted.tree_id, events)


def test_retry_with_backoff(deployment: Deployment, runtime: str) -> None:
    """``max_attempts`` 3 with a fixed 0.3 s backoff: three attempts at least 0.3 s apart, the
    first two announced as retries due exactly 300 ms after their failure, then ``failed``."""
    d = deployment
    d.start_agent(runtime, ALL, 4)
    submitted = d.submit([{"id": "flaky", "name": "flaky", "executor": "fail_executor",
                           "inputs": {"message": "still broken", "partial": {"done": 1}},
                           "max_attempts": 3, "backoff": {"strategy": "fixed", "base_s": 0.3}}])
    tree = d.wait_tree(submitted.tree_id)
    events = d.events(submitted.tree_id)
    context = f"{summary(events)}\n{d.diagnostics()}"
    assert tree["status"] == "failed", context
    flaky = d.task(submitted.tree_id, "flaky")
    assert flaky["status"] == "failed" and flaky["attempt"] == 3 and flaky["error"] == "still broken", context
    assert flaky["result"] == {"done": 1}, "the partial result is kept"
    starts = of(events, "task_started", "flaky")
    assert [e["attempt"] for e in starts] == ["1", "2", "3"], context
    times = [int(e["timestamp"]) for e in starts]
    assert all(later - earlier >= 300 for earlier, later in zip(times, times[1:])), context
    failures = of(events, "task_failed", "flaky")
    assert [e["status"] for e in failures] == ["pending", "pending", "failed"], context
    for failure in failures[:2]:
        assert failure["will_retry"] == "1" and failure["error"] == "still broken"
        assert int(failure["retry_at"]) - int(failure["timestamp"]) == 300
    expect_consistent(d, submitted.tree_id, events)


# MARK: the agent's own duties


def test_graceful_shutdown_hands_back(deployment: Deployment, runtime: str) -> None:
    """SIGTERM to an agent running a 3 s task with a 0.5 s grace period: it stops, hands the task
    back at once (``task_requeued``, reason ``handed back by a stopping agent``, long before a
    lease would expire), removes its record and exits 0; another agent completes the task."""
    d = deployment
    stopping = d.start_agent(runtime, ["sleep_executor"], 1, {"BATON_AGENT_SHUTDOWN_GRACE_S": "0.5",
                                                              "BATON_AGENT_LEASE_S": "10", "BATON_AGENT_HEARTBEAT_INTERVAL_S": "1"})
    submitted = d.submit([{"id": "long", "name": "long", "executor": "sleep_executor", "inputs": {"seconds": 3}}])
    tree_id = submitted.tree_id
    d.wait_until(lambda: d.task(tree_id, "long")["status"] == "in_progress", 20, "the agent runs the task")
    d.wait_until(lambda: d.redis.zcard(d.keys.agents) == 1, 10, "the agent has a record")
    signalled = now_ms()
    stopping.signal(signal.SIGTERM)
    d.wait_until(lambda: of(d.events(tree_id), "task_requeued", "long"), 5, "the task is handed back")
    requeued = of(d.events(tree_id), "task_requeued", "long")[0]
    assert requeued["reason"] == "handed back by a stopping agent"
    assert int(requeued["timestamp"]) - signalled < 3000, "handed back after the grace period, not at lease expiry"
    d.wait_until(lambda: not stopping.running, 10, "the agent exits")
    assert stopping.popen.returncode == 0, d.diagnostics()
    assert d.redis.zcard(d.keys.agents) == 0, "the stopping agent removed its record"
    d.start_agent(runtime, ["sleep_executor"], 1)
    tree = d.wait_tree(tree_id, 20)
    events = d.events(tree_id)
    assert tree["status"] == "completed", f"{summary(events)}\n{d.diagnostics()}"
    assert d.task(tree_id, "long")["attempt"] == 2
    assert not of(events, "task_failed")
    expect_consistent(d, tree_id, events)


def test_agent_record_and_served_types(deployment: Deployment, runtime: str) -> None:
    """A running agent keeps its record (every field, a 10 s TTL, executors as a JSON array, the
    last minute's outcomes) and marks its executor types served."""
    d = deployment
    d.start_agent(runtime, ["echo_executor", "sleep_executor"], 3)
    agent_id = d.wait_until(lambda: (d.redis.zrange(d.keys.agents, 0, -1) or [None])[0], 10, "the agent registers")
    submitted = d.submit([{"id": "one", "name": "one", "executor": "echo_executor", "inputs": {"ret": 1}}])
    d.wait_tree(submitted.tree_id)
    record = d.wait_until(lambda: (lambda r: r if "echo_executor" in r.get("last_minute", "") else None)(
        d.redis.hgetall(d.keys.agent(agent_id))), 10, "the record counts the completed attempt")
    assert set(record) >= {"id", "host", "pid", "version", "executors", "concurrency", "running", "started_at", "last_seen",
                           "last_minute"}
    assert record["id"] == agent_id
    assert json.loads(record["executors"]) == ["echo_executor", "sleep_executor"]
    assert record["concurrency"] == "3" and record["running"] == "0"
    assert json.loads(record["last_minute"]) == {"echo_executor": {"completed": 1}}
    assert int(record["last_seen"]) >= int(record["started_at"])
    assert float(d.redis.zscore(d.keys.agents, agent_id) or 0) == float(record["last_seen"])
    assert 0 < d.redis.pttl(d.keys.agent(agent_id)) <= 10_000
    served = dict(cast("list[tuple[str, float]]", d.redis.zrange(d.keys.executors_served, 0, -1, withscores=True)))
    assert set(served) == {"echo_executor", "sleep_executor"}
    assert all(now_ms() - score < 15_000 for score in served.values())


@pytest.mark.parametrize("runtime", ["swift", "python"])
def test_clean_stop_removes_the_agent_record(deployment: Deployment, runtime: str) -> None:
    """PROTOCOL.md, Agent records: an agent that stops cleanly sends ``DEL <ns>:agent:<id>`` and
    ``ZREM <ns>:agents <id>``."""
    d = deployment
    agent = d.start_agent(runtime, ["echo_executor"], 1)
    agent_id = d.wait_until(lambda: (d.redis.zrange(d.keys.agents, 0, -1) or [None])[0], 10, "the agent registers")
    agent.signal(signal.SIGTERM)
    d.wait_until(lambda: not agent.running, 10, "the agent exits")
    assert agent.popen.returncode == 0, d.diagnostics()
    assert d.redis.zscore(d.keys.agents, agent_id) is None, "still listed in <ns>:agents"
    assert not d.redis.exists(d.keys.agent(agent_id)), "its record hash is still there"


# MARK: both runtimes in one tree


def test_mixed_tree_alternates_swift_and_python_executors(deployment: Deployment) -> None:
    """A tree whose tasks alternate between a Swift executor (``echo_executor`` on the Swift agent)
    and a Python one (``py_upper`` on the Python agent): each result is merged into the next
    task's inputs across the runtimes, and a fan-in sees all of them."""
    d = deployment
    d.start_agent("swift", ["echo_executor"], 2)
    d.start_agent("python", ["py_upper"], 2)
    submitted = d.submit([
        {"id": "s1", "name": "s1", "executor": "echo_executor", "inputs": {"ret": {"word": "baton", "n": 1}}},
        {"id": "p1", "name": "p1", "executor": "py_upper", "dependencies": ["s1"], "inputs": {"note": "from python"}},
        {"id": "s2", "name": "s2", "executor": "echo_executor", "dependencies": ["p1"]},
        {"id": "p2", "name": "p2", "executor": "py_upper", "dependencies": ["s2", "s1"]},
        {"id": "all", "name": "all", "executor": "echo_executor", "dependencies": ["s1", "p1", "s2", "p2"]},
    ])
    tree_id = submitted.tree_id
    tree = d.wait_tree(tree_id)
    events = d.events(tree_id)
    assert tree["status"] == "completed", f"{summary(events)}\n{d.diagnostics()}"
    s1 = {"n": 1, "word": "baton"}
    p1 = {"note": "FROM PYTHON", "s1": {"n": 1, "word": "BATON"}}
    s2 = {"p1": p1}
    p2 = {"s2": {"p1": {"note": "FROM PYTHON", "s1": {"n": 1, "word": "BATON"}}}, "s1": {"n": 1, "word": "BATON"}}
    assert d.task(tree_id, "s1")["result"] == s1
    assert d.task(tree_id, "p1")["result"] == p1
    assert d.task(tree_id, "s2")["result"] == s2
    assert d.task(tree_id, "p2")["result"] == p2
    assert d.task(tree_id, "all")["result"] == {"s1": s1, "p1": p1, "s2": s2, "p2": p2}
    assert start_order(events) == ["s1", "p1", "s2", "p2", "all"]
    assert d.task(tree_id, "p2")["result_text"] == json.dumps(p2, separators=(",", ":"), sort_keys=True)
    expect_consistent(d, tree_id, events)
