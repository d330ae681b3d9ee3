#!/usr/bin/env python3
"""``baton-bench throughput`` with the Python agent beside the Swift one, in the same run.

10,000 independent no-op tasks (10 trees of 1,000 ``echo_executor`` tasks), submitted at once with
Redis-native submission, run to the end by N agents of one runtime, then the same with the other
runtime: a fresh namespace and a fresh ``baton-scheduler`` each time. Prints one JSON line per
runtime and phase:

* ``end_to_end``: the scheduler and N agents run the whole workload. Tasks/s, Redis commands per
  task (``total_commands_processed`` delta, which counts the commands Lua scripts run too, minus
  the bench's own polling), Redis CPU per task, and the per-command breakdown (``INFO
  commandstats``). The scheduler's share depends on how its rounds batch, which depends on the
  agents' pace, so this total mixes agent and scheduler effects.
* ``agents_only``: the tasks are queued with no agent running, the scheduler is stopped, then the
  agents claim, start, run and report every task. Everything Redis counts in that window is the
  agents' (with the commands of the scripts they run): the like-for-like comparison.

    BATON_REDIS_URL=redis://127.0.0.1:PORT/0 BATON_BIN_DIR=.build/release \\
        python clients/python/bench/throughput.py --agents 2 --concurrency 64

Methodology as ``Sources/baton-bench/EngineWorkloads.swift`` (``ThroughputWorkload``): agents=2,
concurrency=64 by default; the wall time runs from the first submission to the last tree finished.
(``baton-bench`` submits in-process through the Swift store; here both runtimes get the same
Redis-native submissions, so the figures compare the agents.)

With ``--agent`` the script is one Python bench agent process (an ``echo_executor`` with the Swift
semantics), which is how the bench starts them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

import redis

import baton

TASK_TYPE = "echo_executor"


def run_agent(concurrency: int) -> None:
    """One Python agent process: ``echo_executor`` as Baton's (returns ``inputs.ret`` or the inputs)."""
    agent = baton.Agent.from_environment(concurrency=concurrency)

    @agent.executor(TASK_TYPE)
    def echo(inputs: dict[str, Any], ctx: baton.ExecutionContext) -> Any:
        return inputs["ret"] if "ret" in inputs else inputs

    agent.run()


def redis_stats(r: redis.Redis) -> dict[str, Any]:
    info = r.info("all")
    commands = {name[len("cmdstat_"):]: int(value["calls"]) for name, value in info.items()
                if name.startswith("cmdstat_") and isinstance(value, dict)}
    return {
        "commands": int(info["total_commands_processed"]),
        "cpu": float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
        "memory": int(info["used_memory"]),
        "by_command": commands,
    }


class Rig:
    """Processes on a fresh namespace of the bench's Redis; :meth:`stop` ends them and deletes the keys."""

    def __init__(self, runtime: str, args: argparse.Namespace, bin_dir: Path, redis_url: str) -> None:
        self.runtime, self.args, self.bin_dir, self.redis_url = runtime, args, bin_dir, redis_url
        self.namespace = f"bench-{runtime[:2]}-{uuid.uuid4().hex[:8]}"
        self.keys = baton.Keys(self.namespace)
        self.logs = Path(tempfile.mkdtemp(prefix=f"{self.namespace}-"))
        self.env = {**os.environ, "BATON_REDIS_URL": redis_url, "BATON_NAMESPACE": self.namespace,
                    "BATON_LOG_LEVEL": "warning"}
        self.children: list[subprocess.Popen[bytes]] = []
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.producer = baton.RedisProducer(redis_url, self.namespace)
        self.own = 0  # commands the bench itself sends while measuring

    def launch(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}-{len(self.children)}.log", "wb")
        child = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 cwd=self.logs)
        self.children.append(child)
        return child

    def start_scheduler(self) -> subprocess.Popen[bytes]:
        child = self.launch("scheduler", [str(self.bin_dir / "baton-scheduler")])
        self.wait_for(lambda: any(True for _ in self.redis.scan_iter(match=f"{self.namespace}:scheduler:alive:*", count=1000)),
                      60, "the scheduler starts")
        return child

    def start_agents(self) -> None:
        for _ in range(self.args.agents):
            if self.runtime == "swift":
                self.launch("agent", [str(self.bin_dir / "baton-agent"), "--executor", TASK_TYPE,
                                      "--concurrency", str(self.args.concurrency)])
            else:
                self.launch("agent", [sys.executable, __file__, "--agent", "--concurrency", str(self.args.concurrency)])

    def wait_for(self, condition: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out: {what}; logs in {self.logs}")
            time.sleep(0.05)

    def trees(self) -> list[list[dict[str, Any]]]:
        prefix = uuid.uuid4().hex[:8]
        return [[{"id": f"{prefix}-{t}-{n}", "name": f"{prefix}-{t}-{n}", "executor": TASK_TYPE}
                 for n in range(self.args.tasks_per_tree)] for t in range(self.args.trees)]

    def submit(self, trees: list[list[dict[str, Any]]]) -> list[str]:
        requests = [f"bench-{uuid.uuid4().hex[:12]}" for _ in trees]
        for request, tasks in zip(requests, trees):
            self.producer.send(tasks, request_id=request, user_id="bench")
        self.own += 2 * len(requests)  # the XADDs and BLPOPs
        return [self.producer.reply(request, timeout=120).tree_id for request in requests]

    def wait_for_trees(self, tree_ids: list[str], started: float) -> None:
        pending = list(tree_ids)
        while pending:
            pipe = self.redis.pipeline(transaction=False)
            for tree_id in pending:
                pipe.hget(self.keys.tree(tree_id), "status")
            statuses = pipe.execute()
            self.own += len(pending)
            pending = [t for t, s in zip(pending, statuses) if s not in ("completed", "failed", "cancelled")]
            if pending:
                if time.monotonic() - started > self.args.timeout:
                    raise RuntimeError(f"{len(pending)} trees did not finish in {self.args.timeout} s; logs in {self.logs}")
                time.sleep(0.005)

    def completed_by_agents(self) -> int:
        """Attempts the live agents completed in the last minute (their records' ``last_minute``)."""
        ids = cast("list[str]", self.redis.zrange(self.keys.agents, 0, -1))
        pipe = self.redis.pipeline(transaction=False)
        for agent_id in ids:
            pipe.hget(self.keys.agent(agent_id), "last_minute")
        self.own += 1 + len(ids)
        total = 0
        for text in pipe.execute():
            total += json.loads(text or "{}").get(TASK_TYPE, {}).get("completed", 0)
        return total

    def stop(self, keep_logs: bool = False) -> None:
        """Stops the processes, deletes the namespace's keys and (unless ``keep_logs``) the logs."""
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.producer.close()
        stale = list(self.redis.scan_iter(match=f"{self.namespace}:*", count=10_000))
        for start in range(0, len(stale), 1000):
            self.redis.unlink(*stale[start:start + 1000])
        self.redis.close()
        if not keep_logs:
            shutil.rmtree(self.logs, ignore_errors=True)


def figures(before: dict[str, Any], after: dict[str, Any], own: int, total: int) -> dict[str, Any]:
    by_command = {name: round((after["by_command"].get(name, 0) - before["by_command"].get(name, 0)) / total, 4)
                  for name in after["by_command"]}
    return {
        "redis_commands_per_task": round((after["commands"] - before["commands"] - own) / total, 3),
        "redis_cpu_us_per_task": round((after["cpu"] - before["cpu"]) * 1e6 / total, 2),
        "redis_commands_per_task_by_command": {
            name: value for name, value in sorted(by_command.items(), key=lambda kv: -kv[1]) if value > 0},
    }


def end_to_end(runtime: str, args: argparse.Namespace, bin_dir: Path, redis_url: str) -> dict[str, Any]:
    """The whole workload: a scheduler and N agents, 10 trees submitted at once, run to the end."""
    rig = Rig(runtime, args, bin_dir, redis_url)
    try:
        rig.start_scheduler()
        rig.start_agents()
        rig.wait_for(lambda: rig.redis.zcard(rig.keys.agents) >= args.agents, 60, f"the {runtime} agents register")
        time.sleep(0.5)  # let every process connect and block on its queue
        trees = rig.trees()
        before = redis_stats(rig.redis)
        started = time.monotonic()
        tree_ids = rig.submit(trees)
        rig.wait_for_trees(tree_ids, started)
        wall = time.monotonic() - started
        after = redis_stats(rig.redis)
        total = sum(map(len, trees))
        not_completed = sum(1 for t in tree_ids if rig.redis.hget(rig.keys.tree(t), "status") != "completed")
        rig.stop()
        return {"workload": "throughput", "phase": "end_to_end", "runtime": runtime, "agents": args.agents,
                "concurrency": args.concurrency, "tasks": total, "trees_not_completed": not_completed,
                "wall_s": round(wall, 3), "tasks_per_s": round(total / wall, 1),
                **figures(before, after, rig.own + 2, total)}
    except BaseException:
        rig.stop(keep_logs=True)
        raise


def agents_only(runtime: str, args: argparse.Namespace, bin_dir: Path, redis_url: str) -> dict[str, Any]:
    """What the agents alone cost Redis: the tasks are queued first (scheduler running, no agent),
    the scheduler is stopped, then N agents claim, start, run and report every task (their reports
    wait on the bus). Counts every command the agents send, with the ones their scripts run."""
    rig = Rig(runtime, args, bin_dir, redis_url)
    try:
        scheduler = rig.start_scheduler()
        trees = rig.trees()
        rig.submit(trees)
        total = sum(map(len, trees))
        ready = rig.keys.ready(baton.ExecutorQueue(TASK_TYPE))
        rig.wait_for(lambda: rig.redis.zcard(ready) >= total, 120, "every task is queued")
        scheduler.terminate()
        scheduler.wait(timeout=30)
        rig.own = 0
        before = redis_stats(rig.redis)
        started = time.monotonic()
        rig.start_agents()
        rig.wait_for(lambda: rig.completed_by_agents() >= total, args.timeout, "the agents complete every task")
        wall = time.monotonic() - started
        after = redis_stats(rig.redis)
        rig.stop()
        return {"workload": "throughput", "phase": "agents_only", "runtime": runtime, "agents": args.agents,
                "concurrency": args.concurrency, "tasks": total, "wall_s_incl_agent_start": round(wall, 3),
                **figures(before, after, rig.own + 2, total)}
    except BaseException:
        rig.stop(keep_logs=True)
        raise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=2, help="agent processes per runtime (default 2)")
    parser.add_argument("--concurrency", type=int, default=64, help="slots per agent (default 64)")
    parser.add_argument("--trees", type=int, default=10)
    parser.add_argument("--tasks-per-tree", type=int, default=1000)
    parser.add_argument("--runtimes", default="python,swift", help="comma-separated, in order (default python,swift)")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--agent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.agent:
        run_agent(args.concurrency)
        return 0
    redis_url = os.environ.get("BATON_REDIS_URL", "").strip()
    bin_dir = os.environ.get("BATON_BIN_DIR", "").strip()
    if not redis_url or not bin_dir:
        parser.error("set BATON_REDIS_URL and BATON_BIN_DIR (the directory of baton-scheduler and baton-agent)")
    for runtime in [name.strip() for name in args.runtimes.split(",") if name.strip()]:
        if runtime not in ("python", "swift"):
            parser.error(f"unknown runtime {runtime!r}")
        for phase in (end_to_end, agents_only):
            print(json.dumps(phase(runtime, args, Path(bin_dir), redis_url)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
