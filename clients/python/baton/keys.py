"""Baton's Redis key names, as ``Sources/BatonStore/Keys.swift`` builds them.

Every key starts with a namespace (``baton`` by default) and is grouped by a hash tag so that each
Lua script touches one cluster slot:

========================  ================================  =============================================
scope                     tag                               keys
========================  ================================  =============================================
a tree                    ``{t:<tree>}``                    ``tree``, ``tasks``, ``events``, ``task:<id>``
a queue shard             ``{q:<type>}`` / ``{q<n>:<type>}``  ``ready``, ``seq``, ``marker``, ``leases``,
                                                            ``delayed``, ``cancels`` (and the ``cancel``
                                                            shard channel)
an id-index bucket        ``{idx:<n>}``                     ``ids``, ``reserving``
a user                    ``{u:<user>}``                    ``trees``
the bus                   ``{bus}`` / ``{bus:<n>}``          ``submit`` / ``reports``
========================  ================================  =============================================

``docs/PROTOCOL.md`` documents each key's content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["crc16", "ExecutorQueue", "Keys", "INDEX_BUCKETS", "DEFAULT_BUS_SHARDS"]

#: Buckets of the task-id index (``Keys.indexBuckets``).
INDEX_BUCKETS = 64

#: ``bus.shards`` when nothing else is configured or recorded.
DEFAULT_BUS_SHARDS = 16


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc16_table()


def crc16(data: bytes | str) -> int:
    """CRC-16/XMODEM (polynomial 0x1021, initial value 0, no reflection), the checksum Redis
    Cluster uses for key slots and Baton uses for shards and index buckets.

    ``crc16("123456789") == 0x31C3``. A ``str`` is encoded as UTF-8.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def key_slot(key: str | bytes) -> int:
    """The Redis Cluster slot of a key: CRC16 of its hash tag (the text between the first ``{``
    and the next ``}``, when not empty) or of the whole key, modulo 16384."""
    raw = key.encode("utf-8") if isinstance(key, str) else key
    start = raw.find(b"{")
    if start >= 0:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1 : end]
    return crc16(raw) & 16383


@dataclass(frozen=True, order=True)
class ExecutorQueue:
    """One shard of an executor type's queue. Shard 0 has the type's historic keys
    (``<ns>:{q:<type>}:…``); a type with ``queue_shards: K`` also has shards 1 … K-1."""

    executor: str
    shard: int = 0

    def __str__(self) -> str:
        return self.executor if self.shard == 0 else f"{self.executor}#{self.shard}"


def member(tree_id: str, task_id: str) -> str:
    """A queue member for a task: ``<tree_id>\\t<task_id>``."""
    return f"{tree_id}\t{task_id}"


def parse_member(text: str) -> tuple[str, str] | None:
    """Splits a queue member into (tree id, task id); ``None`` without a tab."""
    tree, tab, task = text.partition("\t")
    return (tree, task) if tab else None


@dataclass(frozen=True)
class Keys:
    """Every Redis key and channel name of one namespace.

    :param namespace: the prefix of every key; non-empty, without braces, whitespace or control
        characters.
    :param bus_shards: how many report streams the bus has (``<ns>:bus:shards``).
    :param queue_shards: queue shard counts of the executor types that have more than one
        (``<ns>:queues:shards``); every other type has one.
    """

    namespace: str = "baton"
    bus_shards: int = DEFAULT_BUS_SHARDS
    queue_shards: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_namespace(self.namespace)
        if self.bus_shards < 1:
            raise ValueError("a bus needs at least one shard")
        if any(count < 1 for count in self.queue_shards.values()):
            raise ValueError("a queue needs at least one shard")
        object.__setattr__(self, "queue_shards", {k: v for k, v in self.queue_shards.items() if v > 1})

    # Tree scope — {t:<tree>}

    def tree_tag(self, tree_id: str) -> str:
        """``<ns>:{t:<tree>}``, the prefix of every key of a tree."""
        return f"{self.namespace}:{{t:{tree_id}}}"

    def tree(self, tree_id: str) -> str:
        """Hash: the tree record."""
        return f"{self.tree_tag(tree_id)}:tree"

    def tree_tasks(self, tree_id: str) -> str:
        """Sorted set: the tree's task ids by submission order."""
        return f"{self.tree_tag(tree_id)}:tasks"

    def task(self, tree_id: str, task_id: str) -> str:
        """Hash: one task record."""
        return f"{self.tree_tag(tree_id)}:task:{task_id}"

    def tree_events(self, tree_id: str) -> str:
        """Stream: the tree's event log."""
        return f"{self.tree_tag(tree_id)}:events"

    def tree_channel(self, tree_id: str) -> str:
        """Shard channel nudged when the tree's event stream has news."""
        return f"{self.tree_tag(tree_id)}:nudge"

    # Queue scope — {q:<type>}, {q<n>:<type>}

    def queue_shard_count(self, executor: str) -> int:
        """How many queue shards an executor type has (default 1)."""
        return self.queue_shards.get(executor, 1)

    def queues(self, executor: str) -> list[ExecutorQueue]:
        """Every queue shard of an executor type, shard 0 first."""
        return [ExecutorQueue(executor, shard) for shard in range(self.queue_shard_count(executor))]

    def queue(self, executor: str, tree_id: str, task_id: str) -> ExecutorQueue:
        """The queue shard a task always belongs to: ``CRC16("<tree>\\t<task>") mod K``."""
        return self.queue_of_member(executor, member(tree_id, task_id))

    def queue_of_member(self, executor: str, queue_member: str) -> ExecutorQueue:
        """The queue shard of a queue member (``<tree_id>\\t<task_id>``)."""
        count = self.queue_shard_count(executor)
        shard = 0 if count == 1 else crc16(queue_member) % count
        return ExecutorQueue(executor, shard)

    def queue_tag(self, queue: ExecutorQueue) -> str:
        """``<ns>:{q:<type>}`` for shard 0, ``<ns>:{q<n>:<type>}`` for shard n."""
        if queue.shard == 0:
            return f"{self.namespace}:{{q:{queue.executor}}}"
        return f"{self.namespace}:{{q{queue.shard}:{queue.executor}}}"

    def ready(self, queue: ExecutorQueue) -> str:
        """Sorted set: ready tasks, score ``priority·2^32 + sequence``."""
        return f"{self.queue_tag(queue)}:ready"

    def ready_sequence(self, queue: ExecutorQueue) -> str:
        """Counter: the ready queue's FIFO sequence."""
        return f"{self.queue_tag(queue)}:seq"

    def marker(self, queue: ExecutorQueue) -> str:
        """Sorted set of at most one member: idle agents block on it with ``BZPOPMIN``."""
        return f"{self.queue_tag(queue)}:marker"

    def leases(self, queue: ExecutorQueue) -> str:
        """Sorted set: claimed tasks, score = lease expiry (epoch ms)."""
        return f"{self.queue_tag(queue)}:leases"

    def delayed(self, queue: ExecutorQueue) -> str:
        """Sorted set: retries waiting for their backoff."""
        return f"{self.queue_tag(queue)}:delayed"

    def cancels(self, queue: ExecutorQueue) -> str:
        """Hash: cancel requests of running attempts, field member, value attempt."""
        return f"{self.queue_tag(queue)}:cancels"

    def cancel_channel(self, queue: ExecutorQueue) -> str:
        """Shard channel of cancel signals (payload ``<tree>\\t<task>\\t<attempt>``)."""
        return f"{self.queue_tag(queue)}:cancel"

    # Namespace-wide keys

    @property
    def queue_shard_counts(self) -> str:
        """Hash: executor type → queue shard count, for types with more than one."""
        return f"{self.namespace}:queues:shards"

    @property
    def executors_served(self) -> str:
        """Sorted set: executor types agents serve, scored by when one last said so."""
        return f"{self.namespace}:executors:served"

    def agent(self, agent_id: str) -> str:
        """Hash with a TTL: a live agent's record."""
        return f"{self.namespace}:agent:{agent_id}"

    @property
    def agents(self) -> str:
        """Sorted set: agent ids by when they last refreshed their record."""
        return f"{self.namespace}:agents"

    def id_index(self, task_id: str) -> str:
        """Hash bucket of the task-id index holding ``task_id`` (task id → tree id)."""
        return self.id_index_bucket(bucket_of(task_id))

    def id_index_bucket(self, bucket: int) -> str:
        """Hash bucket ``n`` of the task-id index."""
        return f"{self.namespace}:{{idx:{bucket}}}:ids"

    def user_trees(self, user_id: str) -> str:
        """Sorted set: a user's trees by creation time."""
        return f"{self.namespace}:{{u:{user_id}}}:trees"

    @property
    def all_trees(self) -> str:
        """Sorted set: every tree by creation time."""
        return f"{self.namespace}:trees"

    # Bus

    def reports(self, shard: int) -> str:
        """Stream: agents' reports of the trees of one bus shard."""
        return f"{self.namespace}:{{bus:{shard}}}:reports"

    def reports_of_tree(self, tree_id: str) -> str:
        """The report stream of a tree: shard ``CRC16(tree id) mod bus_shards``."""
        return self.reports(crc16(tree_id) % self.bus_shards)

    def applied_of_tree(self, tree_id: str) -> str:
        """The stream of the reports of a tree that an agent applied itself (the Swift agent's
        default), replayed by the schedulers: beside the tree's report stream."""
        return f"{self.namespace}:{{bus:{crc16(tree_id) % self.bus_shards}}}:applied"

    @property
    def all_reports(self) -> list[str]:
        """Every report stream."""
        return [self.reports(shard) for shard in range(self.bus_shards)]

    @property
    def bus_shard_count(self) -> str:
        """String: the bus shard count the namespace runs with."""
        return f"{self.namespace}:bus:shards"

    @property
    def submissions(self) -> str:
        """Stream: Redis-native submissions."""
        return f"{self.namespace}:{{bus}}:submit"

    def submission_reply(self, request_id: str) -> str:
        """List: the answer to one Redis-native submission (``BLPOP`` it)."""
        return f"{self.namespace}:submit:reply:{request_id}"

    @property
    def submission_results(self) -> str:
        """Stream: the answer to every Redis-native submission."""
        return f"{self.namespace}:submit:results"


def bucket_of(task_id: str) -> int:
    """The id-index bucket of a task id: CRC16 of the whole id modulo 64."""
    return crc16(task_id) % INDEX_BUCKETS


def validate_namespace(namespace: str) -> None:
    """Raises ``ValueError`` unless the namespace is non-empty and holds no braces, whitespace or
    control characters (they would break the hash tags)."""
    if not namespace or any(c in "{}" or c.isspace() or ord(c) < 0x20 for c in namespace):
        raise ValueError(f"namespace '{namespace}' must be non-empty without braces, spaces or control characters")
