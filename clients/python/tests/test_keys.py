"""Key names and shard rules against values computed from the Swift rules (Keys.swift,
ClusterSlot.swift) and slots Redis itself computes (CLUSTER KEYSLOT, as SlotTests.swift lists them)."""

from __future__ import annotations

import pytest

from baton import ExecutorQueue, Keys, crc16, key_slot
from baton.keys import bucket_of, member, parse_member, validate_namespace


def bitwise_crc16(data: bytes) -> int:
    """CRC-16/XMODEM bit by bit, as ClusterSlot.crc16 computes it."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def test_crc16_check_value() -> None:
    assert crc16("123456789") == 0x31C3
    assert crc16(b"") == 0
    for text in ["a", "foo", "ü ñ\tx", "tree-7\ttask-3", "x" * 300]:
        assert crc16(text) == bitwise_crc16(text.encode()), text


@pytest.mark.parametrize("key, slot", [
    ("foo", 12182), ("bar", 5061), ("123456789", 12739), ("", 0), ("{user1000}.following", 3443),
    ("{user1000}.followers", 3443), ("foo{bar}{zap}", 5061), ("foo{}{bar}", 8363), ("foo{{bar}}zap", 4015),
    ("{bar", 4015), ("{}", 15257), ("x{}}", 15984), ("a{b}", 3300), ("ü ñ\tx", 13020), ("baton:{t:ü ñ\tx}:tree", 4680),
])
def test_slots_match_redis(key: str, slot: int) -> None:
    assert key_slot(key) == slot


def test_tree_keys() -> None:
    keys = Keys("baton")
    assert keys.tree("a") == "baton:{t:a}:tree"
    assert keys.tree_tasks("a") == "baton:{t:a}:tasks"
    assert keys.tree_events("a") == "baton:{t:a}:events"
    assert keys.task("a", "b") == "baton:{t:a}:task:b"
    assert keys.tree_channel("a") == "baton:{t:a}:nudge"
    slots = {key_slot(k) for k in (keys.tree("t"), keys.tree_tasks("t"), keys.tree_events("t"), keys.task("t", "x{y}"))}
    assert len(slots) == 1


def test_queue_keys_and_shards() -> None:
    keys = Keys("baton", queue_shards={"hot": 3, "cold": 1})
    assert [keys.ready(q) for q in keys.queues("hot")] == ["baton:{q:hot}:ready", "baton:{q1:hot}:ready", "baton:{q2:hot}:ready"]
    assert keys.queues("cold") == [ExecutorQueue("cold")]
    assert keys.queue_shards == {"hot": 3}, "a count of 1 is the default and is not kept"
    queue = ExecutorQueue("echo_executor")
    assert [keys.ready(queue), keys.ready_sequence(queue), keys.marker(queue), keys.leases(queue), keys.delayed(queue),
            keys.cancels(queue), keys.cancel_channel(queue)] == [
        "baton:{q:echo_executor}:ready", "baton:{q:echo_executor}:seq", "baton:{q:echo_executor}:marker",
        "baton:{q:echo_executor}:leases", "baton:{q:echo_executor}:delayed", "baton:{q:echo_executor}:cancels",
        "baton:{q:echo_executor}:cancel"]
    assert keys.cancel_channel(ExecutorQueue("hot", 2)) == "baton:{q2:hot}:cancel"
    assert key_slot(keys.ready(ExecutorQueue("hot", 2))) == key_slot("{q2:hot}")
    # A task's shard: CRC16("<tree>\t<task>") mod K; one shard: always 0.
    for tree, task in [("t", "a"), ("tree-1", "task-2"), ("ü", "ñ")]:
        expected = bitwise_crc16(f"{tree}\t{task}".encode()) % 3
        assert keys.queue("hot", tree, task) == ExecutorQueue("hot", expected)
        assert keys.queue("cold", tree, task) == ExecutorQueue("cold", 0)
    assert {keys.queue("hot", "t", f"task-{n}").shard for n in range(50)} == {0, 1, 2}


def test_bus_and_index_keys() -> None:
    keys = Keys("ns")
    assert keys.submissions == "ns:{bus}:submit"
    assert keys.submission_reply("r1") == "ns:submit:reply:r1"
    assert keys.bus_shard_count == "ns:bus:shards"
    assert keys.queue_shard_counts == "ns:queues:shards"
    assert keys.reports(3) == "ns:{bus:3}:reports"
    assert keys.reports_of_tree("123456789") == f"ns:{{bus:{0x31C3 % 16}}}:reports"
    assert Keys("ns", bus_shards=5).reports_of_tree("123456789") == f"ns:{{bus:{0x31C3 % 5}}}:reports"
    assert crc16("foo") == 0xAF96 and 0xAF96 % 16384 == 12182  # the slot is the CRC mod 16384
    assert len(set(map(key_slot, keys.all_reports))) == 16
    assert bucket_of("123456789") == 3  # PROTOCOL.md: 0x31C3 mod 64
    assert keys.id_index("123456789") == "ns:{idx:3}:ids"
    assert bucket_of("foo") == 12182 % 64
    assert keys.agent("agent-h-1") == "ns:agent:agent-h-1"
    assert keys.agents == "ns:agents"
    assert keys.executors_served == "ns:executors:served"
    assert keys.user_trees("alice") == "ns:{u:alice}:trees"


def test_members() -> None:
    assert member("t", "a") == "t\ta"
    assert parse_member("t\ta\tb") == ("t", "a\tb")
    assert parse_member("nothing") is None


@pytest.mark.parametrize("namespace", ["a{}b", "{}", "x{y}", "a}b", "", "has space"])
def test_bad_namespaces_are_refused(namespace: str) -> None:
    with pytest.raises(ValueError):
        validate_namespace(namespace)
    with pytest.raises(ValueError):
        Keys(namespace)
