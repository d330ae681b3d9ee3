"""The Lua transitions of ``Sources/BatonStore/Lua/``, shipped as package data (``baton/lua/``) and
loaded exactly as ``Sources/BatonStore/Scripts.swift`` loads them: tree scripts are
``include.lua + "\\n" + <script>.lua`` (one EVALSHA body), queue scripts
``queue.lua + "\\n" + <script>.lua``, the others are their file alone.

Calls go out as ``EVALSHA``; a ``NOSCRIPT`` answer (first use, a Redis restart, ``SCRIPT FLUSH``)
loads the script with ``SCRIPT LOAD`` and runs the call again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

from redis.exceptions import NoScriptError, ResponseError

from .errors import BatonScriptError

__all__ = [
    "Script", "ScriptCall", "TREE_SCRIPTS", "TREE_RECORD_SCRIPTS", "QUEUE_SCRIPTS", "INDEX_SCRIPTS", "SCHEDULE_SCRIPTS",
    "script", "lua_source", "lua_files", "run_async", "run_sync",
]

#: ``TreeScript`` cases: ``include.lua`` is prepended; KEYS = tree, tasks, events; ARGV starts with
#: now, events MAXLEN, the tree's nudge channel and the tree id.
TREE_SCRIPTS = (
    "submitTree", "startTree", "startTasks", "applyReports", "resolveDependency", "addTask", "cancelTasks",
    "reexecuteTask", "archiveTree", "deleteTree",
)
#: ``TreeRecordScript`` cases: KEYS = the tree record only.
TREE_RECORD_SCRIPTS = ("watchDependency", "markReferences")
#: ``QueueScript`` cases: KEYS of one queue shard.
QUEUE_SCRIPTS = ("enqueue", "claimQueue", "promoteDelayed", "requestCancel", "reapLeases", "admitQueue")
#: ``IndexScript`` cases: KEYS of one id-index bucket.
INDEX_SCRIPTS = ("reserveIDs", "releaseIDs")
#: ``ScheduleScript`` cases: KEYS of one schedule.
SCHEDULE_SCRIPTS = ("fireSchedule",)


@dataclass(frozen=True)
class Script:
    """A Lua body run with EVALSHA; ``sha`` is the SHA1 Redis names it by."""

    name: str
    source: str

    @property
    def sha(self) -> str:
        """The hex SHA1 of the UTF-8 source."""
        return _sha1(self.source)


@lru_cache(maxsize=None)
def _sha1(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ScriptCall:
    """One invocation of a script: the keys it touches and its arguments."""

    script: Script
    keys: Sequence[str]
    args: Sequence[str | int | float | bytes]

    def command(self) -> list[Any]:
        """``EVALSHA sha numkeys key… arg…``."""
        return ["EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args]


def lua_files() -> dict[str, bytes]:
    """Every file of the packaged ``lua/`` directory, by file name, as bytes."""
    folder = resources.files("baton").joinpath("lua")
    return {entry.name: entry.read_bytes() for entry in folder.iterdir() if entry.name.endswith(".lua")}


@lru_cache(maxsize=None)
def lua_source(name: str) -> str:
    """The text of ``lua/<name>.lua`` (read as bytes and decoded as UTF-8: no newline translation)."""
    data = resources.files("baton").joinpath("lua").joinpath(f"{name}.lua").read_bytes()
    return data.decode("utf-8")


@lru_cache(maxsize=None)
def script(name: str) -> Script:
    """The body Baton runs for a script name: ``include.lua`` + ``"\\n"`` + the file for tree
    scripts, ``queue.lua`` + ``"\\n"`` + the file for queue scripts, the file alone for the others."""
    known = TREE_SCRIPTS + TREE_RECORD_SCRIPTS + QUEUE_SCRIPTS + INDEX_SCRIPTS + SCHEDULE_SCRIPTS
    if name not in known:
        raise KeyError(f"no Baton script named {name!r}")
    if name in TREE_SCRIPTS:
        return Script(name, lua_source("include") + "\n" + lua_source(name))
    if name in QUEUE_SCRIPTS:
        return Script(name, lua_source("queue") + "\n" + lua_source(name))
    return Script(name, lua_source(name))


def _unique_scripts(calls: Sequence[ScriptCall], positions: Sequence[int]) -> list[Script]:
    seen: dict[str, Script] = {}
    for position in positions:
        seen.setdefault(calls[position].script.sha, calls[position].script)
    return list(seen.values())


def _check(replies: list[Any], raise_on_error: bool) -> list[Any]:
    if raise_on_error:
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise script_error(reply)
            if isinstance(reply, Exception):
                raise reply
    return replies


def script_error(error: ResponseError) -> BatonScriptError:
    """A script's error reply as a :class:`BatonScriptError` (``BATON <code> <message>``)."""
    text = str(error)
    if text.startswith("BATON "):
        parts = text.split(" ", 2)
        if len(parts) == 3:
            return BatonScriptError(parts[1], parts[2])
    return BatonScriptError("unavailable" if "OOM" in text or "BUSY" in text or "LOADING" in text else "internal", text)


async def run_async(redis: Any, calls: Sequence[ScriptCall], raise_on_error: bool = True) -> list[Any]:
    """Runs script calls in one round trip on a ``redis.asyncio.Redis`` (a pipeline without
    MULTI/EXEC); calls answered NOSCRIPT are loaded and run again, in order. Raises the first
    error reply as :class:`BatonScriptError` unless ``raise_on_error`` is false (then error
    replies stay in place as exceptions)."""
    if not calls:
        return []
    pipe = redis.pipeline(transaction=False)
    for call in calls:
        pipe.execute_command(*call.command())
    replies: list[Any] = list(await pipe.execute(raise_on_error=False))
    missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if missing:
        loads = _unique_scripts(calls, missing)
        pipe = redis.pipeline(transaction=False)
        for body in loads:
            pipe.execute_command("SCRIPT", "LOAD", body.source)
        for i in missing:
            pipe.execute_command(*calls[i].command())
        again = await pipe.execute(raise_on_error=False)
        for i, reply in zip(missing, again[len(loads):]):
            replies[i] = reply
    return _check(replies, raise_on_error)


def run_sync(redis: Any, calls: Sequence[ScriptCall], raise_on_error: bool = True) -> list[Any]:
    """:func:`run_async` for a synchronous ``redis.Redis``."""
    if not calls:
        return []
    pipe = redis.pipeline(transaction=False)
    for call in calls:
        pipe.execute_command(*call.command())
    replies: list[Any] = list(pipe.execute(raise_on_error=False))
    missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if missing:
        loads = _unique_scripts(calls, missing)
        pipe = redis.pipeline(transaction=False)
        for body in loads:
            pipe.execute_command("SCRIPT", "LOAD", body.source)
        for i in missing:
            pipe.execute_command(*calls[i].command())
        again = pipe.execute(raise_on_error=False)
        for i, reply in zip(missing, again[len(loads):]):
            replies[i] = reply
    return _check(replies, raise_on_error)
