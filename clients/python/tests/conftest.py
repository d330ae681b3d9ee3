"""Fixtures of the Python client's suite.

Environment: ``BATON_REDIS_URL`` (a Redis ≥ 7 the suite may write to: every test uses a namespace
of its own and deletes it) and, for the suites that start Baton's processes, ``BATON_BIN_DIR``
(where ``baton-scheduler``, ``baton-agent``, ``baton-gateway`` and ``baton`` are).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import Deployment  # noqa: E402


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("BATON_REDIS_URL", "").strip()
    if not url:
        pytest.fail("BATON_REDIS_URL is required (a Redis >= 7 the suite may write to, e.g. redis://127.0.0.1:6379/0)")
    return url


@pytest.fixture(scope="session")
def bin_dir() -> str:
    path = os.environ.get("BATON_BIN_DIR", "").strip()
    if not path:
        pytest.fail("BATON_BIN_DIR is required: the directory of baton-scheduler, baton-agent, baton-gateway and baton")
    for name in ("baton-scheduler", "baton-agent", "baton-gateway", "baton"):
        if not os.access(os.path.join(path, name), os.X_OK):
            pytest.fail(f"BATON_BIN_DIR={path} has no executable {name}")
    return path


@pytest.fixture
def deployment(redis_url: str, bin_dir: str) -> Iterator[Deployment]:
    """A namespace with a running ``baton-scheduler``; agents are started by the test."""
    d = Deployment(redis_url, bin_dir)
    try:
        d.start_scheduler()
        yield d
    finally:
        d.stop()


@pytest.fixture(params=["swift", "python"])
def runtime(request: pytest.FixtureRequest) -> str:
    """The agent runtime a protocol test runs against: Baton's ``baton-agent`` or ``py_agent.py``."""
    return str(request.param)
