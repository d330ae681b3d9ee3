"""A Python agent for the protocol suite: Python executors with the names and semantics of Baton's
built-in Swift ones (``Sources/BatonAgent/Executors``), plus ``py_upper``.

    python py_agent.py --executor echo_executor,sleep_executor,fail_executor --concurrency 4

Configured by the environment like ``baton-agent`` (``BATON_REDIS_URL``, ``BATON_NAMESPACE``,
``BATON_AGENT_LEASE_S``, ``BATON_AGENT_HEARTBEAT_INTERVAL_S``, ``BATON_AGENT_SHUTDOWN_GRACE_S``, …).

``echo_executor`` and ``fail_executor`` are synchronous (they run in the agent's thread pool),
``sleep_executor`` and ``py_upper`` are ``async def`` (on its event loop), so the suite exercises
both paths.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
import time
from typing import Any

import baton

MAX_SECONDS = 604_800.0


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def echo_executor(inputs: dict[str, Any], ctx: baton.ExecutionContext) -> Any:
    """Returns ``inputs.ret`` when present (even ``null``), otherwise the whole inputs."""
    if "ret" in inputs:
        return inputs["ret"]
    return inputs


def fail_executor(inputs: dict[str, Any], ctx: baton.ExecutionContext) -> Any:
    """Always fails with ``inputs.message`` (default ``fail_executor failed``) and, when present,
    ``inputs.partial`` as the partial result."""
    message = inputs.get("message")
    if message is None:
        message = "fail_executor failed"
    elif not isinstance(message, str):
        raise baton.ExecutorFailure(f"inputs.message must be a string, not {_type_name(message)}")
    partial = inputs.get("partial")
    if partial is None:
        raise baton.ExecutorFailure(message)
    raise baton.ExecutorFailure(message, partial_result=partial)


async def sleep_executor(inputs: dict[str, Any], ctx: baton.ExecutionContext) -> Any:
    """Sleeps ``inputs.seconds`` (default 1; 0 … 604800) and returns ``{"slept_s": x}``, rounded to
    the millisecond. Cooperative: steps of at most 50 ms, and when cancelled fails with
    ``cancelled`` and ``{"slept_s": x}`` as partial result. Progress about every 10 % for sleeps of
    a second or more. ``inputs.ignore_cancel: true`` sleeps to the end whatever happens."""
    seconds = inputs.get("seconds")
    if seconds is None:
        seconds = 1.0
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or not 0 <= seconds <= MAX_SECONDS:
        raise baton.ExecutorFailure("inputs.seconds must be between 0 and 604800")
    ignore = inputs.get("ignore_cancel")
    if ignore is None:
        ignore = False
    if not isinstance(ignore, bool):
        raise baton.ExecutorFailure(f"inputs.ignore_cancel must be a boolean, not {_type_name(ignore)}")
    start = time.monotonic()
    total = float(seconds)
    reports_progress = total >= 1
    next_report = 0.1
    while True:
        elapsed = time.monotonic() - start
        if not ignore and ctx.cancelled:
            raise baton.ExecutorFailure("cancelled", partial_result={"slept_s": round(elapsed, 3)})
        if reports_progress:
            fraction = elapsed / total
            if fraction >= next_report:
                step = math.floor(fraction * 10) / 10
                ctx.progress(min(1.0, step))
                next_report = step + 0.1
        if elapsed >= total:
            break
        try:
            await asyncio.sleep(min(0.05, total - elapsed))
        except asyncio.CancelledError:
            # A cancel request cancels the task; the loop sees ctx.cancelled (or ignores it).
            pass
    return {"slept_s": round(time.monotonic() - start, 3)}


def _upper(value: Any) -> Any:
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, list):
        return [_upper(item) for item in value]
    if isinstance(value, dict):
        return {key: _upper(item) for key, item in value.items()}
    return value


async def py_upper(inputs: dict[str, Any], ctx: baton.ExecutionContext) -> Any:
    """Returns the inputs with every string upper-cased (keys kept)."""
    return _upper(inputs)


EXECUTORS = {
    "echo_executor": echo_executor,
    "sleep_executor": sleep_executor,
    "fail_executor": fail_executor,
    "py_upper": py_upper,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--executor", default="echo_executor,sleep_executor,fail_executor")
    parser.add_argument("--concurrency", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    overrides: dict[str, Any] = {}
    if args.concurrency is not None:
        overrides["concurrency"] = args.concurrency
    agent = baton.Agent.from_environment(**overrides)
    for name in [n.strip() for n in args.executor.split(",") if n.strip()]:
        if name not in EXECUTORS:
            parser.error(f"--executor: no executor named '{name}'; known: {', '.join(EXECUTORS)}")
        agent.add_executor(name, EXECUTORS[name])
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
