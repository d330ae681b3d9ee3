"""A client of the gateway's HTTP API (``/v1``, see ``GET /openapi.json``), on the standard
library's ``urllib``.

Every call acts as the user of its API key. Errors come back as :class:`BatonAPIError` carrying
the API's ``status``, ``code``, ``message`` and ``field``.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterator, Mapping, Sequence

from .errors import BatonAPIError

__all__ = ["Client", "FINISHED_STATUSES"]

#: A tree (or task) status that is final.
FINISHED_STATUSES = frozenset({"completed", "failed", "cancelled"})

_STATUS_OF_CODE = {
    "invalid_argument": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
    "already_exists": 409, "immutable": 409, "already_terminal": 409, "payload_too_large": 413,
    "validation_failed": 422, "unavailable": 503, "internal": 500,
}


def _event_order(event_id: str) -> tuple[int, int]:
    """A stream entry id (``1700000000000-3``) as a comparable pair."""
    millis, _, sequence = event_id.partition("-")
    return int(millis), int(sequence or 0)


class Client:
    """The gateway's HTTP API.

    >>> client = Client("http://127.0.0.1:8080", api_key="dev-key")
    >>> created = client.submit([{"name": "hello", "executor": "echo_executor", "inputs": {"ret": "hi"}}])
    >>> client.wait(created["tree_id"], timeout=30)["status"]
    'completed'

    :param url: the gateway's base URL, e.g. ``http://127.0.0.1:8080``.
    :param api_key: a key of ``gateway.api_keys`` (``BATON_API_KEYS``), sent as ``Authorization: Bearer``.
    :param timeout: seconds a plain request may take.
    """

    def __init__(self, url: str, api_key: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    # MARK: plumbing

    def _url(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        url = self.url + path
        if query:
            pairs = {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in query.items() if v is not None}
            if pairs:
                url += "?" + urllib.parse.urlencode(pairs)
        return url

    def _open(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None, timeout: float | None = None) -> http.client.HTTPResponse:
        data = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        request = urllib.request.Request(self._url(path, query), data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.api_key}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout)  # type: ignore[no-any-return]
        except urllib.error.HTTPError as error:
            raise self._api_error(error.code, error.read()) from None

    @staticmethod
    def _api_error(status: int, body: bytes) -> BatonAPIError:
        try:
            error = json.loads(body.decode("utf-8"))["error"]
            return BatonAPIError(status, str(error["code"]), str(error.get("message", "")), error.get("field"),
                                 error.get("current_status"))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            text = body.decode("utf-8", "replace").strip()
            return BatonAPIError(status, "internal" if status >= 500 else "invalid_argument", text or f"HTTP {status}")

    def _call(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None,
              headers: Mapping[str, str] | None = None) -> Any:
        with self._open(method, path, body, query, headers) as response:
            text = response.read()
        return json.loads(text) if text else None

    @staticmethod
    def _id(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    # MARK: trees and tasks

    def submit(self, tasks: Sequence[Mapping[str, Any]], execute: bool = True,
               idempotency_key: str | None = None) -> dict[str, Any]:
        """``POST /v1/trees``: validates and stores the task array as one new tree (and starts it
        unless ``execute`` is false). Returns ``{"tree_id", "task_ids", "warnings"}``.

        :param idempotency_key: a repeat with the same key and body gets the first answer again.
        """
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._call("POST", "/v1/trees", {"tasks": list(tasks), "execute": execute}, headers=headers)  # type: ignore[no-any-return]

    def create_task(self, task: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/tasks``: one task; with ``parent_id`` it joins the parent's tree."""
        return self._call("POST", "/v1/tasks", dict(task))  # type: ignore[no-any-return]

    def task(self, task_id: str) -> dict[str, Any]:
        """``GET /v1/tasks/{id}``: the task record, with ``waiting`` for a pending task."""
        return self._call("GET", f"/v1/tasks/{self._id(task_id)}")  # type: ignore[no-any-return]

    def tasks(self, status: str | None = None, tree_id: str | None = None, executor: str | None = None,
              limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
        """``GET /v1/tasks``: one page ``{"tasks", "next_cursor"}``."""
        return self._call("GET", "/v1/tasks", query={  # type: ignore[no-any-return]
            "status": status, "tree_id": tree_id, "executor": executor, "limit": limit, "cursor": cursor})

    def tree(self, tree_id: str, flat: bool = False) -> dict[str, Any]:
        """``GET /v1/trees/{id}``: status, progress, counts and the tasks (nested by parent, or
        a flat list in submission order)."""
        return self._call("GET", f"/v1/trees/{self._id(tree_id)}", query={"flat": True} if flat else None)  # type: ignore[no-any-return]

    def trees(self, status: str | None = None, limit: int = 50, cursor: str | None = None,
              user_id: str | None = None) -> dict[str, Any]:
        """``GET /v1/trees``: the caller's trees, newest first: ``{"trees", "next_cursor"}``."""
        return self._call("GET", "/v1/trees", query={  # type: ignore[no-any-return]
            "status": status, "limit": limit, "cursor": cursor, "user_id": user_id})

    def execute(self, tree_id: str) -> dict[str, Any]:
        """``POST /v1/trees/{id}/execute``: starts a stored tree; returns its record."""
        return self._call("POST", f"/v1/trees/{self._id(tree_id)}/execute")  # type: ignore[no-any-return]

    def delete(self, tree_id: str, cancel: bool = False) -> dict[str, Any]:
        """``DELETE /v1/trees/{id}`` (``cancel=True`` cancels a running tree first)."""
        return self._call("DELETE", f"/v1/trees/{self._id(tree_id)}", query={"cancel": True} if cancel else None)  # type: ignore[no-any-return]

    def cancel(self, task_id: str | None = None, tree_id: str | None = None,
               message: str | None = None) -> dict[str, Any]:
        """Cancels one task (``POST /v1/tasks/{id}/cancel``: ``{"task_id", "status",
        "stop_confirmed"}``) or every unfinished task of a tree (``POST /v1/trees/{id}/cancel``).
        Give exactly one of ``task_id`` and ``tree_id``."""
        if (task_id is None) == (tree_id is None):
            raise ValueError("cancel: give exactly one of task_id and tree_id")
        body = {"message": message} if message is not None else {}
        if task_id is not None:
            return self._call("POST", f"/v1/tasks/{self._id(task_id)}/cancel", body)  # type: ignore[no-any-return]
        return self._call("POST", f"/v1/trees/{self._id(tree_id or '')}/cancel", body)  # type: ignore[no-any-return]

    def reexecute(self, task_id: str, include_completed: bool = False) -> dict[str, Any]:
        """``POST /v1/tasks/{id}/reexecute``: resets a failed or cancelled task (a completed one
        with ``include_completed``) and its unfinished dependents; ``{"task_id", "task_ids"}``."""
        body = {"include_completed": True} if include_completed else {}
        return self._call("POST", f"/v1/tasks/{self._id(task_id)}/reexecute", body)  # type: ignore[no-any-return]

    def copy(self, tree_id: str, task_id: str | None = None, recursive: bool | None = None,
             overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /v1/trees/{id}/copy``: a new pending (not started) copy; ``{"tree_id", "task_ids"}``."""
        body = {k: v for k, v in {"task_id": task_id, "recursive": recursive, "overrides": overrides}.items() if v is not None}
        return self._call("POST", f"/v1/trees/{self._id(tree_id)}/copy", body)  # type: ignore[no-any-return]

    def link(self, tree_id: str, task_id: str | None = None) -> dict[str, Any]:
        """``POST /v1/trees/{id}/link``: a completed tree whose nodes resolve to the originals."""
        body = {"task_id": task_id} if task_id is not None else {}
        return self._call("POST", f"/v1/trees/{self._id(tree_id)}/link", body)  # type: ignore[no-any-return]

    def archive(self, tree_id: str) -> dict[str, Any]:
        """``POST /v1/trees/{id}/archive``: archives a fully completed tree; returns its record."""
        return self._call("POST", f"/v1/trees/{self._id(tree_id)}/archive", {})  # type: ignore[no-any-return]

    def mixed(self, tree_id: str, link_task_ids: Sequence[str] | None = None, task_id: str | None = None,
              overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``POST /v1/trees/{id}/mixed``: a copy in which the listed completed tasks become links."""
        body = {k: v for k, v in {
            "task_id": task_id, "link_task_ids": list(link_task_ids) if link_task_ids is not None else None,
            "overrides": overrides}.items() if v is not None}
        return self._call("POST", f"/v1/trees/{self._id(tree_id)}/mixed", body)  # type: ignore[no-any-return]

    def agents(self) -> list[dict[str, Any]]:
        """``GET /v1/agents``: the live agents."""
        return self._call("GET", "/v1/agents")["agents"]  # type: ignore[no-any-return]

    def executors(self) -> list[dict[str, Any]]:
        """``GET /v1/executors``: per executor type: ready, running, delayed, agents, free slots."""
        return self._call("GET", "/v1/executors")["executors"]  # type: ignore[no-any-return]

    # MARK: events

    def events(self, tree_id: str, after: str | None = None, follow: bool = False, *,
               read_timeout: float = 60.0, reconnect_timeout: float = 30.0) -> Iterator[dict[str, Any]]:
        """Every event of the tree (``GET /v1/trees/{id}/events``, Server-Sent Events) from the
        beginning or after the event id ``after``, as dicts (``id``, ``type``, ``task_id``,
        ``status``, ``timestamp``, …). Ends after ``tree_finished`` unless ``follow``.

        A dropped connection (a reset, a cut stream, no byte for ``read_timeout`` seconds — the
        gateway sends a keep-alive every 15 s —, a gateway that stopped, a client that fell behind)
        is resumed with ``Last-Event-ID``: every event comes exactly once, in order. Gives up with
        ``ConnectionError`` after ``reconnect_timeout`` seconds without getting through.

        :raises BatonAPIError: the tree is unknown (404), the key is refused (401), or the resume
            id was trimmed from the stream (``not_found``, ``field`` ``after``).
        """
        return self._events(tree_id, after, follow, read_timeout, reconnect_timeout, None)

    def _events(self, tree_id: str, after: str | None, follow: bool, read_timeout: float,
                reconnect_timeout: float, deadline: float | None) -> Iterator[dict[str, Any]]:
        last = after
        failing_since: float | None = None
        pause = 0.05
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"tree {tree_id} did not finish in time")
            timeout = read_timeout if deadline is None else max(0.05, min(read_timeout, deadline - time.monotonic()))
            delivered = 0
            clean_end = False
            try:
                headers = {"Accept": "text/event-stream"}
                if last is not None:
                    headers["Last-Event-ID"] = last
                response = self._open("GET", f"/v1/trees/{self._id(tree_id)}/events",
                                      query={"follow": True} if follow else None, headers=headers, timeout=timeout)
                try:
                    for kind, data in _server_sent_events(response):
                        if kind == "error":
                            error = json.loads(data).get("error", {})
                            code = str(error.get("code", "internal"))
                            if code in ("conflict", "unavailable"):
                                break  # fell behind, or Redis briefly away: resume from `last`
                            raise BatonAPIError(_STATUS_OF_CODE.get(code, 500), code, str(error.get("message", "")),
                                                error.get("field"))
                        event = json.loads(data)
                        event_id = str(event.get("id", ""))
                        if last is not None and event_id and _event_order(event_id) <= _event_order(last):
                            continue
                        if event_id:
                            last = event_id
                        delivered += 1
                        failing_since, pause = None, 0.05
                        yield event
                        if event.get("type") == "tree_finished" and not follow:
                            return
                    else:
                        clean_end = True
                finally:
                    response.close()
            except BatonAPIError as error:
                if error.status not in (502, 503, 504):
                    raise
            except (OSError, http.client.HTTPException, ValueError):
                pass  # reset, cut chunked body, timeout, half a frame: reconnect
            if clean_end and delivered == 0 and not follow:
                # The gateway ended a stream that had nothing after `last`: it does that for a
                # finished tree. (A gateway stopping ends streams the same way: then go on.)
                if self.tree(tree_id).get("status") in FINISHED_STATUSES:
                    return
            if delivered == 0:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > reconnect_timeout:
                    raise ConnectionError(f"the event stream of tree {tree_id} could not be resumed for {reconnect_timeout} s")
                time.sleep(pause)
                pause = min(1.0, pause * 2)

    def wait(self, tree_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Waits until the tree finished (its ``tree_finished`` event) and returns it
        (:meth:`tree`).

        :raises TimeoutError: not finished within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for event in self._events(tree_id, None, False, 60.0, 30.0 if timeout is None else max(timeout, 1.0), deadline):
            if event.get("type") == "tree_finished":
                break
        return self.tree(tree_id)


def _server_sent_events(response: http.client.HTTPResponse) -> Iterator[tuple[str, str]]:
    """(event type, data) per Server-Sent Event of a response; comments and ``retry`` are skipped.
    Returns at the end of the body; raises on a body cut in the middle."""
    kind, data = "message", list[str]()
    while True:
        raw = response.readline()
        if not raw:
            return
        if not raw.endswith(b"\n"):
            raise http.client.IncompleteRead(raw)
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield kind, "\n".join(data)
            kind, data = "message", list[str]()
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            kind = value
