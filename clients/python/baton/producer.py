"""Redis-native submission (``docs/PROTOCOL.md``, "Submitting without the gateway"): one entry on
``<ns>:{bus}:submit``, answered by a scheduler on ``<ns>:submit:reply:<request_id>``."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import redis as redis_sync

from .errors import BatonSubmissionError
from .keys import Keys

__all__ = ["RedisProducer", "Submission"]


@dataclass(frozen=True)
class Submission:
    """A stored tree: its id, every task id in submission order, and the entry that carried it."""

    tree_id: str
    task_ids: list[str]
    request_id: str | None = None
    entry_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


class RedisProducer:
    """Submits task trees straight through Redis, without the gateway.

    A scheduler validates the entry with the gateway's rules, stores the tree and answers; the
    answer is pushed to ``<ns>:submit:reply:<request_id>`` (kept an hour) and added to
    ``<ns>:submit:results``. Works against any Redis a ``baton-scheduler`` consumes.

    >>> producer = RedisProducer("redis://127.0.0.1:6379/0")
    >>> tree = producer.submit([{"name": "hello", "executor": "echo_executor", "inputs": {"ret": "hi"}}])
    >>> tree.tree_id

    :param redis_url: ``redis://[user:password@]host:port/db``.
    :param namespace: the key namespace of the deployment (``BATON_NAMESPACE``, default ``baton``).
    :param client: an existing ``redis.Redis`` to use instead of connecting to ``redis_url``.
    """

    def __init__(self, redis_url: str = "redis://127.0.0.1:6379/0", namespace: str = "baton",
                 *, client: redis_sync.Redis | None = None) -> None:
        self.keys = Keys(namespace)
        self._own = client is None
        self.redis: redis_sync.Redis = client or redis_sync.Redis.from_url(
            redis_url, decode_responses=True, socket_timeout=None)

    def close(self) -> None:
        """Closes the connection (when this producer opened it)."""
        if self._own:
            self.redis.close()

    def __enter__(self) -> "RedisProducer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self, tasks: Sequence[Mapping[str, Any]] | Mapping[str, Any], execute: bool = True, *,
        user_id: str | None = None, retention_s: int | None = None, request_id: str | None = None,
    ) -> str:
        """Adds a submission entry without waiting for its answer; returns the entry id.

        :param tasks: the task array (apflow's format), or ``{"tasks": [...], "execute": bool}``.
        :param execute: ``False`` stores the tree without running it.
        :param user_id: the tree's owner (an app writing to Redis is trusted to say who it acts
            for); without it the tree is nobody's.
        :param retention_s: seconds to keep the tree once finished.
        :param request_id: where the answer goes (``<ns>:submit:reply:<request_id>``).
        """
        fields: dict[str, str] = {
            "tasks": json.dumps(tasks, ensure_ascii=False, separators=(",", ":")),
            "execute": "true" if execute else "false",
        }
        if request_id is not None:
            fields["request_id"] = request_id
        if user_id is not None:
            fields["user_id"] = user_id
        if retention_s is not None:
            fields["retention_s"] = str(retention_s)
        return str(self.redis.xadd(self.keys.submissions, fields))  # type: ignore[arg-type]

    def reply(self, request_id: str, timeout: float = 30.0) -> Submission:
        """Waits (``BLPOP``) for the answer to the submission sent with ``request_id``.

        :raises TimeoutError: no answer within ``timeout`` seconds (is a scheduler running?).
        :raises BatonSubmissionError: the submission was refused.
        """
        answer = self.redis.blpop([self.keys.submission_reply(request_id)], timeout=timeout)
        if answer is None:
            raise TimeoutError(
                f"no answer to submission {request_id} within {timeout} s: is a baton-scheduler running on "
                f"namespace '{self.keys.namespace}'?")
        text = answer[1]
        return self._parse(text if isinstance(text, str) else bytes(text).decode("utf-8"))

    def submit(
        self, tasks: Sequence[Mapping[str, Any]] | Mapping[str, Any], execute: bool = True, *,
        user_id: str | None = None, retention_s: int | None = None, request_id: str | None = None,
        timeout: float = 30.0,
    ) -> Submission:
        """Submits a tree and waits for the scheduler's answer (:meth:`send`, then :meth:`reply`).

        :raises BatonSubmissionError: refused, with the scheduler's ``code``, ``message`` and ``field``.
        :raises TimeoutError: no answer in time.
        """
        request_id = request_id or f"py-{uuid.uuid4()}"
        self.send(tasks, execute, user_id=user_id, retention_s=retention_s, request_id=request_id)
        return self.reply(request_id, timeout=timeout)

    @staticmethod
    def _parse(text: str) -> Submission:
        reply = json.loads(text)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise BatonSubmissionError(
                str(error.get("code", "internal")), str(error.get("message", text)), error.get("field"),
                request_id=reply.get("request_id"), entry_id=reply.get("entry_id"))
        return Submission(
            tree_id=reply["tree_id"], task_ids=list(reply.get("task_ids", [])), request_id=reply.get("request_id"),
            entry_id=reply.get("entry_id"), raw=reply)
