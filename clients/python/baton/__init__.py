"""Baton's Python client: the HTTP API (:class:`Client`), Redis-native submission
(:class:`RedisProducer`) and an executor agent (:class:`Agent`) that runs the same Lua transitions
as Baton's Swift agent.

>>> import baton
>>> agent = baton.Agent("redis://127.0.0.1:6379/0")
>>> @agent.executor("py_upper")
... def upper(inputs, ctx):
...     return {k: str(v).upper() for k, v in inputs.items()}
>>> agent.run()
"""

from ._version import __version__
from .agent import Agent, CancelFlag, ExecutionContext, ExecutorFailure, StartedTask
from .client import Client
from .errors import AgentSetupError, BatonAPIError, BatonError, BatonScriptError, BatonSubmissionError
from .keys import ExecutorQueue, Keys, crc16, key_slot
from .producer import RedisProducer, Submission

__all__ = [
    "__version__", "Agent", "AgentSetupError", "BatonAPIError", "BatonError", "BatonScriptError",
    "BatonSubmissionError", "CancelFlag", "Client", "ExecutionContext", "ExecutorFailure", "ExecutorQueue", "Keys",
    "RedisProducer", "StartedTask", "Submission", "crc16", "key_slot",
]
