"""JSON as Baton writes it: compact, object keys sorted, non-ASCII as UTF-8, ``/`` not escaped,
no NaN or infinities (``docs/PROTOCOL.md``, Conventions)."""

from __future__ import annotations

import json
import math
from typing import Any

#: The deepest nesting JSON may have where Baton parses it (``JSONValue.maxParsingDepth``).
MAX_PARSING_DEPTH = 512

#: The deepest nesting of a result: dependents receive it one level deeper (``ResultLimits.maxDepth``).
MAX_RESULT_DEPTH = MAX_PARSING_DEPTH - 1


def dumps(value: Any) -> str:
    """Compact JSON text of ``value`` with sorted keys. Raises ``ValueError`` for NaN or
    infinities and ``TypeError`` for values JSON cannot hold."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str) -> Any:
    """Parses JSON strictly (``NaN``/``Infinity`` are refused, as Baton's parser does)."""
    return json.loads(text, parse_constant=_refuse_constant)


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (``[]`` is one level, ``1`` none).
    Iterative, so a value nested far too deep cannot exhaust the stack."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, dict):
            if depth + 1 > limit:
                return True
            pending.extend((item, depth + 1) for item in current.values())
        elif isinstance(current, (list, tuple)):
            if depth + 1 > limit:
                return True
            pending.extend((item, depth + 1) for item in current)
    return False


def format_seconds(seconds: float) -> str:
    """A number of seconds as Baton's messages spell it: ``30`` rather than ``30.0``, ``0.5`` as is."""
    if math.isfinite(seconds) and seconds == int(seconds):
        return str(int(seconds))
    return repr(float(seconds))
