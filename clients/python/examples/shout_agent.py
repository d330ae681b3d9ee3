"""A Python agent with one executor, ``py_shout``: upper-cases the text its dependencies gave it.

    BATON_REDIS_URL=redis://127.0.0.1:PORT/0 python clients/python/examples/shout_agent.py

Stops on Ctrl-C (it lets running tasks finish for 10 s, then hands the rest back).
"""

from __future__ import annotations

import logging
from typing import Any

import baton

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

# BATON_REDIS_URL, BATON_NAMESPACE, BATON_AGENT_CONCURRENCY… as for baton-agent.
agent = baton.Agent.from_environment(concurrency=4)


@agent.executor("py_shout")
def shout(inputs: dict[str, Any], ctx: baton.ExecutionContext) -> Any:
    """The text results of its dependencies (merged into the inputs under their task ids, in
    dependency order), then ``inputs.extra``, upper-cased, with an exclamation mark."""
    words = [value for key, value in inputs.items() if key != "extra" and isinstance(value, str)]
    if isinstance(inputs.get("extra"), str):
        words.append(inputs["extra"])
    if not words:
        raise baton.ExecutorFailure("nothing to shout: no text in the inputs")
    ctx.progress(0.5)
    return {"shout": " ".join(words).upper() + "!", "attempt": ctx.attempt}


if __name__ == "__main__":
    agent.run()
