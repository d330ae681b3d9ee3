#!/usr/bin/env python3
"""The Python half of scripts/chaos (Python 3, standard library only).

    chaos_audit.py client --dir D ...   generate and submit a workload (Redis-native entry and
                                        gateway), collect the answers, write D/client.json
    chaos_audit.py audit  --dir D ...   wait (bounded) until every tree finished, then replay every
                                        tree's event stream through SPEC's state machine, check
                                        the records and queues, append one row to --results
    chaos_audit.py table  RESULTS       print the table of every row; exit 1 if a row failed
    chaos_audit.py ping --port P        exit 0 once that Redis answers PONG (not LOADING)
    chaos_audit.py cluster-check ...    check the cluster client against a live Redis Cluster
    chaos_audit.py cluster-state ...    one look at a cluster (ready?, masters, replicas, slots)

Redis is reached through the small RESP client below (one socket, pipelining, no dependency);
with --cluster NODES, through ClusterRedis on top of it: slots by CRC16 of the hash tag, one
connection per node, MOVED/ASK followed, TRYAGAIN/CLUSTERDOWN and failed-over masters retried.
"""

import argparse
import http.client
import json
import os
import random
import select
import socket
import sys
import threading
import time

TERMINAL = ("completed", "failed", "cancelled")
# Counts that fail a scenario ("leaked" too with --strict / CHAOS_STRICT=1).
FAILING = ("lost", "double", "illegal", "unfinished", "mismatch", "stale", "unanswered", "crossslot")
# A service log line with one of these fails the scenario (`crossslot`): Redis Cluster refused a
# command whose keys span slots, or Baton's client refused to send one (RedisError.crossSlot).
CROSSSLOT_MARKERS = ("CROSSSLOT", "refused before sending")
EXECUTORS = ("echo_executor", "sleep_executor", "fail_executor")


# --------------------------------------------------------------------------------------------
# RESP client


class ReplyError(Exception):
    """An error reply (`-ERR …`)."""


class NotSent(ConnectionError):
    """No connection could be opened: nothing of the command reached Redis."""


class Calls:
    """`call`, `retry` and `retry_pipeline` over a client's `pipeline`. RETRY_PREFIXES are the
    error replies that mean "not now" (retried like a lost connection); `on_retry` counts them."""

    RETRY_PREFIXES = ("LOADING", "BUSY", "TRYAGAIN")

    def on_retry(self):
        pass

    def call(self, *args, timeout=None):
        reply = self.pipeline([args], timeout)[0]
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    def retry(self, deadline, *args, timeout=None):
        """`call` for idempotent commands: retried through connection losses until DEADLINE."""
        return self.retry_pipeline(deadline, [args], timeout)[0]

    def retry_pipeline(self, deadline, commands, timeout=None):
        """`pipeline` for idempotent commands: retried through connection losses and the
        RETRY_PREFIXES replies until DEADLINE."""
        while True:
            try:
                replies = self.pipeline(commands, timeout)
                for r in replies:
                    if isinstance(r, ReplyError) and str(r).startswith(self.RETRY_PREFIXES):
                        raise ConnectionError(str(r))
                for r in replies:
                    if isinstance(r, ReplyError):
                        raise r
                return replies
            except ConnectionError:
                self.on_retry()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


class Redis(Calls):
    """A RESP2 client over one TCP socket. Errors inside replies are returned as ReplyError
    values by `pipeline` and raised by `call`; a broken connection raises ConnectionError and is
    reopened by the next command."""

    def __init__(self, host, port, timeout=3.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = None
        self.rf = None

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = self.rf = None

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode("utf-8", "surrogateescape")
            out += [b"$%d\r\n" % len(b), b, b"\r\n"]
        return b"".join(out)

    def _read(self):
        line = self.rf.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed by Redis")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return ReplyError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rf.read(n + 2)
            if len(data) != n + 2:
                raise ConnectionError("short read")
            return data[:-2].decode("utf-8", "surrogateescape")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise ConnectionError("unexpected reply %r" % line[:40])

    def connect(self):
        """Opens the socket unless it is open; NotSent when that fails (nothing was sent)."""
        if self.sock is not None:
            return
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.rf = self.sock.makefile("rb")
        except OSError as error:
            self.close()
            raise NotSent("%s:%d: %s" % (self.host, self.port, error)) from error

    def drop_if_closed(self):
        """Closes an open socket that the server already closed (EOF or an error waiting to be
        read), so that the next command opens a new one before sending anything: a command
        written into a dead socket would have an unknown outcome."""
        if self.sock is None:
            return
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
            if readable and not self.sock.recv(1, socket.MSG_PEEK):
                self.close()
        except (OSError, ValueError):
            self.close()

    def pipeline(self, commands, timeout=None):
        self.connect()
        try:
            self.sock.settimeout(timeout or self.timeout)
            self.sock.sendall(b"".join(self._encode(c) for c in commands))
            return [self._read() for _ in commands]
        except (OSError, ValueError) as error:
            self.close()
            raise ConnectionError(str(error)) from error
        except ConnectionError:
            self.close()
            raise

    def scan(self, deadline, pattern, count=1000):
        """Every key matching PATTERN (SCAN … MATCH, retried like `retry`)."""
        keys = set()
        cursor = "0"
        while True:
            cursor, batch = self.retry(deadline, "SCAN", cursor, "MATCH", pattern, "COUNT", count)
            keys.update(batch)
            if cursor == "0":
                return keys


# Redis Cluster (https://redis.io/docs/reference/cluster-spec/): a key's slot is CRC16 (XMODEM:
# polynomial 0x1021, initial value 0) of its hash tag — the text between the first `{` and the
# first `}` after it, when that is not empty — or of the whole key, modulo 16384.

def _crc16_table():
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


CRC16_TABLE = _crc16_table()
CLUSTER_SLOTS = 16384


def crc16(data):
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ CRC16_TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def key_slot(key):
    b = key if isinstance(key, bytes) else str(key).encode("utf-8", "surrogateescape")
    start = b.find(b"{")
    if start >= 0:
        end = b.find(b"}", start + 1)
        if end > start + 1:
            b = b[start + 1:end]
    return crc16(b) % CLUSTER_SLOTS


# Commands without a key (sent to any master), and where the others keep their first key.
KEYLESS = {"PING", "ECHO", "INFO", "CLUSTER", "ASKING", "READONLY", "READWRITE", "SCAN", "DBSIZE", "TIME",
           "SCRIPT", "FUNCTION", "FLUSHALL", "FLUSHDB", "ROLE", "CONFIG", "COMMAND", "HELLO", "AUTH", "SELECT",
           "WAIT", "CLIENT", "MULTI", "EXEC", "DISCARD", "RANDOMKEY", "KEYS", "LASTSAVE", "MEMORY"}


def command_key(cmd):
    name = str(cmd[0]).upper()
    if name in KEYLESS:
        return None
    if name in ("XREAD", "XREADGROUP"):
        for i, arg in enumerate(cmd):
            if str(arg).upper() == "STREAMS" and i + 1 < len(cmd):
                return cmd[i + 1]
        return None
    if name in ("XINFO", "XGROUP", "OBJECT"):
        return cmd[2] if len(cmd) > 2 else None
    if name in ("EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"):
        return cmd[3] if len(cmd) > 3 and int(cmd[2]) > 0 else None
    return cmd[1] if len(cmd) > 1 else None


# Error replies after which a command did not run and may be sent again once the cluster settled.
CLUSTER_RETRY = ("TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "LOADING", "BUSY")


def parse_nodes(text):
    """'redis://127.0.0.1:7000,127.0.0.1:7001' -> [('127.0.0.1', 7000), ('127.0.0.1', 7001)]"""
    nodes = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "://" in part:
            part = part.split("://", 1)[1]
        part = part.rsplit("@", 1)[-1].split("/", 1)[0]
        host, _, port = part.rpartition(":")
        nodes.append((host or "127.0.0.1", int(port)))
    return nodes


class ClusterRedis(Calls):
    """The same interface as `Redis`, over a Redis Cluster: one `Redis` connection per node, the
    slot map from CLUSTER SLOTS (asked of the known masters, then the seeds, then every node seen).
    `pipeline` sends each command to the master of its key's slot (a pipeline is split per node,
    the replies come back in order), follows `MOVED` (and updates the map) and `ASK` (`ASKING`,
    then the command, on the node named), and returns other error replies as values. A
    connection failure marks the map stale (the next command re-reads it) and raises
    ConnectionError — NotSent when nothing was sent. `retry`/`retry_pipeline` retry those and
    TRYAGAIN/CLUSTERDOWN (the cluster is failing over or migrating) until their deadline. `scan`
    walks every master. Keyless commands go to any master."""

    cluster = True
    MAX_REDIRECTS = 16

    def __init__(self, seeds, timeout=3.0):
        self.seeds = list(seeds)
        self.known = list(seeds)
        self.timeout = timeout
        self.conns = {}
        self.slots = [None] * CLUSTER_SLOTS
        self.masters = []
        self.stale = True
        self.stats = dict(moved=0, ask=0, refreshes=0, connection_errors=0, retried=0)

    def close(self):
        for conn in self.conns.values():
            conn.close()

    def conn(self, node):
        c = self.conns.get(node)
        if c is None:
            c = self.conns[node] = Redis(node[0], node[1], timeout=self.timeout)
        return c

    def refresh(self):
        """Reads the slot map: the first answer that covers every slot, else the one covering most."""
        self.stats["refreshes"] += 1
        candidates = []
        for node in self.masters + self.seeds + self.known:
            if node not in candidates:
                candidates.append(node)
        best, errors = None, []
        for node in candidates:
            try:
                self.conn(node).drop_if_closed()
                reply = self.conn(node).pipeline([("CLUSTER", "SLOTS")], timeout=min(self.timeout, 2.0))[0]
            except ConnectionError as error:
                errors.append(str(error))
                continue
            if isinstance(reply, ReplyError) or not isinstance(reply, list):
                errors.append("%s:%d: %s" % (node[0], node[1], reply))
                continue
            slots, masters, covered = [None] * CLUSTER_SLOTS, [], 0
            for entry in reply:
                start, end = int(entry[0]), int(entry[1])
                addrs = []
                for n in entry[2:]:
                    host = n[0] if n[0] not in ("", "?", None) else node[0]
                    addrs.append((host, int(n[1])))
                master = addrs[0]
                for slot in range(start, end + 1):
                    slots[slot] = master
                covered += end - start + 1
                if master not in masters:
                    masters.append(master)
                for a in addrs:
                    if a not in self.known:
                        self.known.append(a)
            if best is None or covered > best[0]:
                best = (covered, slots, masters)
            if covered == CLUSTER_SLOTS:
                break
        if best is None:
            self.stale = True
            raise NotSent("no cluster node answers CLUSTER SLOTS (%s)" % "; ".join(errors[-3:]))
        _, self.slots, self.masters = best
        self.stale = best[0] < CLUSTER_SLOTS

    def node_for(self, cmd):
        key = command_key(cmd)
        node = self.slots[key_slot(key)] if key is not None else None
        if node is None:
            node = self.masters[0] if self.masters else self.seeds[0]
        return node

    def pipeline(self, commands, timeout=None):
        if self.stale or not self.masters:
            self.refresh()
        commands = [tuple(c) for c in commands]
        replies = [None] * len(commands)
        todo = [(i, self.node_for(c), False) for i, c in enumerate(commands)]
        sent = False
        for _ in range(self.MAX_REDIRECTS):
            groups = {}
            for i, node, asking in todo:
                groups.setdefault(node, []).append((i, asking))
            again = []
            for node, items in groups.items():
                batch, where = [], []
                for i, asking in items:
                    if asking:
                        batch.append(("ASKING",))
                        where.append(None)
                    batch.append(commands[i])
                    where.append(i)
                conn = self.conn(node)
                conn.drop_if_closed()
                try:
                    got = conn.pipeline(batch, timeout)
                except NotSent as error:
                    self.stale = True
                    self.stats["connection_errors"] += 1
                    if sent:
                        raise ConnectionError(str(error)) from error
                    raise
                except ConnectionError:
                    self.stale = True
                    self.stats["connection_errors"] += 1
                    raise
                sent = True
                for i, reply in zip(where, got):
                    if i is None:
                        continue
                    replies[i] = reply
                    if isinstance(reply, ReplyError):
                        text = str(reply)
                        if text.startswith(("MOVED ", "ASK ")):
                            kind, slot, addr = text.split()[:3]
                            host, _, port = addr.rpartition(":")
                            target = (host or node[0], int(port))
                            if target not in self.known:
                                self.known.append(target)
                            if kind == "MOVED":
                                self.stats["moved"] += 1
                                self.slots[int(slot)] = target
                                if target not in self.masters:
                                    self.stale = True  # a new master: re-read the whole map
                            else:
                                self.stats["ask"] += 1
                            again.append((i, target, kind == "ASK"))
                        elif text.startswith("CLUSTERDOWN"):
                            self.stale = True
            if not again:
                return replies
            todo = again
        return replies  # still redirected after MAX_REDIRECTS hops: the last MOVED/ASK replies

    RETRY_PREFIXES = CLUSTER_RETRY + ("MOVED ", "ASK ")

    def on_retry(self):
        self.stats["retried"] += 1

    def scan(self, deadline, pattern, count=1000):
        """Every key matching PATTERN on every master (each SCANned to its end). Starts again
        from a fresh slot map when a node fails or the map does not cover every slot."""
        while True:
            try:
                self.refresh()
                if self.stale:
                    raise ConnectionError("the slot map does not cover every slot")
                keys = set()
                for node in list(self.masters):
                    cursor = "0"
                    while True:
                        reply = self.conn(node).pipeline([("SCAN", cursor, "MATCH", pattern, "COUNT", count)])[0]
                        if isinstance(reply, ReplyError):
                            raise ConnectionError("%s:%d: SCAN: %s" % (node[0], node[1], reply))
                        cursor, batch = reply
                        keys.update(batch)
                        if cursor == "0":
                            break
                return keys
            except ConnectionError:
                self.stale = True
                self.stats["retried"] += 1
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def connect(args, timeout):
    """The client for --cluster NODES (a Redis Cluster), else for --host/--port."""
    if getattr(args, "cluster", None):
        return ClusterRedis(parse_nodes(args.cluster), timeout=timeout)
    return Redis(args.host, args.port, timeout=timeout)


def stream_id(text):
    """'1700000000000-3' -> (1700000000000, 3), for comparing stream entry ids."""
    ms, _, seq = str(text).partition("-")
    return int(ms), int(seq or 0)


def pairs(flat):
    return {flat[i]: flat[i + 1] for i in range(0, len(flat or []), 2)}


# --------------------------------------------------------------------------------------------
# Workload


class TreeBuilder:
    """One submitted array. Half of the trees name their ids, the others only names (ids are
    then generated by Baton, deterministically per Redis-native entry)."""

    def __init__(self, rng, run, index, with_ids, sleep_share=0.3):
        self.rng, self.run, self.index, self.with_ids = rng, run, index, with_ids
        self.sleep_share = sleep_share
        self.tasks = []

    def tid(self, j):
        return "%s-t%d-%d" % (self.run, self.index, j)

    def dep(self, j, required=True):
        if self.with_ids:
            return self.tid(j) if required else {"id": self.tid(j), "required": False}
        return {"name": "n%d" % j, "required": required}

    def add(self, executor, inputs, deps=(), **extra):
        j = len(self.tasks)
        task = {"name": "n%d" % j, "executor": executor, "inputs": inputs, "priority": self.rng.randint(0, 3)}
        if self.with_ids:
            task["id"] = self.tid(j)
        if j > 0:
            task["parent_id"] = self.tid(0) if self.with_ids else "n0"
        if deps:
            task["dependencies"] = list(deps)
        task.update(extra)
        self.tasks.append(task)
        return j

    def echo(self, deps=(), ret=True):
        return self.add("echo_executor", {"ret": {"t": len(self.tasks)}} if ret else {"note": "fan-in"}, deps)

    def sleep(self, deps=()):
        return self.add("sleep_executor", {"seconds": round(self.rng.uniform(0.05, 0.3), 3)}, deps)

    def fail(self, deps=()):
        backoff = {"strategy": self.rng.choice(["fixed", "exponential"]), "base_s": self.rng.choice([0.05, 0.1, 0.2])}
        return self.add("fail_executor", {"message": "chaos failure"}, deps,
                        max_attempts=self.rng.choice([1, 2, 3]), backoff=backoff)

    def timeout(self, deps=()):
        """A sleep that always overruns its timeout_s: a failure that takes ~0.1 s, so that an
        agent can die (or stop) in the middle of a failing attempt."""
        backoff = {"strategy": "fixed", "base_s": self.rng.choice([0.05, 0.1])}
        return self.add("sleep_executor", {"seconds": 0.3}, deps, timeout_s=0.1,
                        max_attempts=self.rng.choice([2, 3]), backoff=backoff)

    def work(self, deps=(), fail_share=0.0):
        r = self.rng.random()
        if r < fail_share / 2:
            return self.timeout(deps)
        if r < fail_share:
            return self.fail(deps)
        if r < fail_share + self.sleep_share:
            return self.sleep(deps)
        return self.echo(deps)


def build_tree(rng, run, index, size, kind, with_ids, sleep_share):
    b = TreeBuilder(rng, run, index, with_ids, sleep_share)
    if kind == "chain":
        b.work()
        while len(b.tasks) < size:
            b.work([b.dep(len(b.tasks) - 1)], fail_share=0.03)
    elif kind == "fan":
        # fan-out / fan-in blocks: a source, k workers, a join over them (some optional), an after
        b.sleep()
        while len(b.tasks) < size:
            src = len(b.tasks) - 1
            k = max(1, min(size - len(b.tasks) - 2, rng.randint(3, 25)))
            workers = [b.work([b.dep(src)], fail_share=0.05) for _ in range(k)]
            join = b.echo([b.dep(w, required=rng.random() < 0.8) for w in workers], ret=False)
            if len(b.tasks) < size:
                b.echo([b.dep(join)])
    elif kind == "optional":
        # a failing task, an optional dependent (runs), a required one (blocked), its dependent
        # (blocked), and an optional dependent of the blocked one (runs)
        b.echo()
        while len(b.tasks) < size:
            f = b.fail([b.dep(0)])
            b.echo([b.dep(f, required=False)])
            blocked = b.echo([b.dep(f)])
            b.echo([b.dep(blocked)])
            b.sleep([b.dep(blocked, required=False), b.dep(0)])
    else:  # dag: every task depends on up to 3 earlier ones, a quarter of the edges optional
        b.work()
        while len(b.tasks) < size:
            n = len(b.tasks)
            picks = rng.sample(range(n), min(n, rng.randint(0, 3)))
            b.work([b.dep(p, required=rng.random() < 0.75) for p in sorted(picks)], fail_share=0.06)
    return b.tasks


def big_tree(rng, run, index, size, with_ids):
    b = TreeBuilder(rng, run, index, with_ids)
    b.echo()
    while len(b.tasks) < size - 1:
        if rng.random() < 0.1:
            b.sleep([b.dep(0)])
        else:
            b.echo([b.dep(0)])
    b.echo([b.dep(j) for j in range(1, len(b.tasks))])
    return b.tasks


def make_workload(args):
    rng = random.Random(args.seed)
    subs = []
    total = 0
    index = 0
    lo, hi = args.tree_min, args.tree_max
    while total < args.tasks:
        size = min(rng.randint(lo, hi), max(2, args.tasks - total))
        kind = rng.choice(["chain", "fan", "optional", "dag"])
        with_ids = rng.random() < 0.5
        via = "gateway" if rng.random() < args.gateway_share else "native"
        tasks = build_tree(rng, args.run, index, max(size, 2), kind, with_ids, args.sleep_share)
        subs.append({"index": index, "kind": kind, "via": via, "tasks": tasks})
        total += len(tasks)
        index += 1
    order = list(range(len(subs)))
    for k in range(args.big):
        via = "gateway" if args.big_via == "gateway" else "native"
        tasks = big_tree(rng, args.run, index, args.big_size, rng.random() < 0.5)
        sub = {"index": index, "kind": "big", "via": via, "tasks": tasks, "big": k}
        pos = rng.randint(len(order) // 5, max(len(order) // 5, len(order) - 1)) if order else 0
        order.insert(pos, len(subs))
        subs.append(sub)
        index += 1
    for sub in subs:
        sub["request_id"] = "%s-r%d" % (args.run, sub["index"])
        sub["n"] = len(sub["tasks"])
        first = sub["tasks"][0]
        sub["expected_tree_id"] = first.get("id")
        # Half of the gateway submissions carry an Idempotency-Key, as a careful client would:
        # it retries a cut connection too, and must end with exactly one tree.
        if sub["via"] == "gateway" and sub["index"] % 2 == 0:
            sub["idempotency_key"] = sub["request_id"]
    return [subs[i] for i in order]


# --------------------------------------------------------------------------------------------
# Client: submit, collect answers


class Client:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.answers = {}  # request id -> [reply, ...]
        self.stop = threading.Event()
        self.ns = args.ns
        self.reader_stats = None

    def reader(self):
        """Follows <ns>:submit:results (every answer of the Redis-native entry)."""
        r = connect(self.args, 4.0)
        last = "0-0"
        key = "%s:submit:results" % self.ns
        while not self.stop.is_set():
            try:
                reply = r.call("XREAD", "COUNT", 1000, "BLOCK", 1000, "STREAMS", key, last, timeout=4.0)
            except (ConnectionError, ReplyError):
                time.sleep(0.2)
                continue
            self.reader_stats = getattr(r, "stats", None)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    f = pairs(fields)
                    try:
                        answer = json.loads(f.get("reply", "null"))
                    except ValueError:
                        answer = {"ok": False, "unparsable": f.get("reply")}
                    answer["received_at"] = round(time.time(), 3)
                    with self.lock:
                        self.answers.setdefault(f.get("request_id", ""), []).append(answer)
        r.close()

    def xadd(self, r, sub, deadline):
        """XADDs one entry. Returns 'ok' (an entry id came back), 'unknown' (sent, no reply) or
        'failed' (never reached Redis before the deadline)."""
        body = json.dumps(sub["tasks"], separators=(",", ":"))
        key = "%s:{bus}:submit" % self.ns
        if getattr(r, "cluster", False):
            return self.xadd_cluster(r, sub, deadline, ("XADD", key, "*", "request_id", sub["request_id"],
                                                        "user_id", "chaos", "tasks", body))
        while True:
            sent = False
            try:
                if r.sock is None:
                    r.pipeline([("PING",)], timeout=15.0)
                sent = True
                # 15 s: a Redis stopped for 10 s (SIGSTOP) still answers this XADD
                reply = r.pipeline([("XADD", key, "*", "request_id", sub["request_id"], "user_id", "chaos", "tasks", body)],
                                   timeout=15.0)[0]
                if isinstance(reply, ReplyError):
                    if str(reply).startswith(("LOADING", "BUSY")) and time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                    sub["xadd_error"] = str(reply)
                    return "failed"
                sub["entry_id"] = reply
                return "ok"
            except ConnectionError:
                if sent:
                    return "unknown"
                if time.monotonic() > deadline:
                    return "failed"
                time.sleep(0.2)

    def xadd_cluster(self, r, sub, deadline, cmd):
        """The XADD on a Redis Cluster: sent to the master of {bus}'s slot, following MOVED/ASK.
        Sent again when it certainly did not run: no connection could be opened (the master
        failed, its replica is not promoted yet) or the cluster answered TRYAGAIN/CLUSTERDOWN.
        A connection lost after sending leaves the outcome unknown."""
        while True:
            try:
                reply = r.pipeline([cmd], timeout=15.0)[0]
            except NotSent:
                if time.monotonic() > deadline:
                    return "failed"
                sub["retried_cluster"] = sub.get("retried_cluster", 0) + 1
                time.sleep(0.2)
                continue
            except ConnectionError:
                return "unknown"
            if isinstance(reply, ReplyError):
                if str(reply).startswith(CLUSTER_RETRY + ("MOVED ", "ASK ")) and time.monotonic() < deadline:
                    sub["retried_cluster"] = sub.get("retried_cluster", 0) + 1
                    time.sleep(0.2)
                    continue
                sub["xadd_error"] = str(reply)
                return "failed"
            sub["entry_id"] = reply
            return "ok"

    def post(self, sub, deadline):
        """POST /v1/trees. Sets http_status/tree_id; 'unknown' when the connection broke after
        the request was sent (the gateway was killed mid-request)."""
        body = json.dumps(sub["tasks"], separators=(",", ":")).encode()
        headers = {"Authorization": "Bearer %s" % self.args.api_key, "Content-Type": "application/json"}
        key = sub.get("idempotency_key")
        if key:
            headers["Idempotency-Key"] = key
        # While a request is in flight this file exists: gateway-kill aims its kill -9 at it.
        marker = os.path.join(self.args.dir, "gateway-inflight-%s" % sub["request_id"])
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", self.args.gateway_port, timeout=30)
            sent = False
            try:
                conn.connect()
                open(marker, "w").close()
                conn.request("POST", "/v1/trees", body=body, headers=headers)
                sent = True
                resp = conn.getresponse()
                text = resp.read().decode("utf-8", "replace")
                sub["http_status"] = resp.status
                if resp.status == 201:
                    sub["answer"] = json.loads(text)
                    return "ok"
                if resp.status in (502, 503, 504) and time.monotonic() < deadline:
                    sub.setdefault("retried_503", 0)
                    sub["retried_503"] += 1
                    time.sleep(0.3)
                    continue
                sub["http_error"] = text[:500]
                return "refused"
            except (OSError, http.client.HTTPException, ValueError) as error:
                if sent and (not key or time.monotonic() > deadline):
                    sub["http_error"] = "connection lost after the request was sent: %s" % error
                    return "unknown"
                if sent:
                    # With its key, the retry is the same submission: it completes, never doubles.
                    sub["retried_lost"] = sub.get("retried_lost", 0) + 1
                    time.sleep(0.3)
                    continue
                if time.monotonic() > deadline:
                    sub["http_error"] = "gateway unreachable: %s" % error
                    return "failed"
                time.sleep(0.2)
            finally:
                conn.close()
                try:
                    os.unlink(marker)
                except OSError:
                    pass

    def gateway_worker(self, queue, deadline):
        while True:
            with self.lock:
                if not queue:
                    return
                sub = queue.pop(0)
            sub["t_sent"] = time.time()
            sub["outcome"] = self.post(sub, deadline)
            sub["t_answered"] = time.time()

    def run(self):
        a = self.args
        subs = make_workload(a)
        reader = threading.Thread(target=self.reader, daemon=True)
        reader.start()
        r = connect(a, 3.0)
        start = time.monotonic()
        submit_deadline = start + a.duration + a.submit_grace
        gateway_queue = []
        workers = []
        n = len(subs)
        for i, sub in enumerate(subs):
            due = start + a.duration * i / max(1, n)
            while time.monotonic() < due:
                time.sleep(max(0.0, min(0.05, due - time.monotonic())))
            if sub["via"] == "gateway":
                with self.lock:
                    gateway_queue.append(sub)
                workers = [w for w in workers if w.is_alive()]
                if len(workers) < 2:
                    w = threading.Thread(target=self.gateway_worker, args=(gateway_queue, submit_deadline), daemon=True)
                    w.start()
                    workers.append(w)
            else:
                sub["t_sent"] = time.time()
                sub["outcome"] = self.xadd(r, sub, submit_deadline)
            if "big" in sub:
                with open(os.path.join(a.dir, "big-%d.mark" % sub["big"]), "w") as f:
                    f.write(sub["request_id"] + "\n")
        for w in workers:
            w.join(max(0.0, submit_deadline + 35 - time.monotonic()))
        self.gateway_worker(gateway_queue, submit_deadline)  # whatever a finishing worker left
        open(os.path.join(a.dir, "submitted"), "w").close()
        # Every entry Redis took must be answered by a scheduler (at least once).
        answer_deadline = time.monotonic() + a.answer_timeout
        while time.monotonic() < answer_deadline:
            with self.lock:
                missing = [s for s in subs if s["via"] == "native" and s.get("outcome") == "ok"
                           and s["request_id"] not in self.answers]
            if not missing:
                break
            time.sleep(0.2)
        self.stop.set()
        reader.join(6)
        with self.lock:
            for s in subs:
                if s["via"] == "native":
                    s["answers"] = self.answers.get(s["request_id"], [])
                s["tasks_json_bytes"] = len(json.dumps(s["tasks"]))
        out = {"subs": subs, "duration_s": round(time.monotonic() - start, 1)}
        if getattr(r, "cluster", False):
            out["cluster_client"] = {"submitter": r.stats, "reader": self.reader_stats}
        tmp = os.path.join(a.dir, "client.json.tmp")
        with open(tmp, "w") as f:
            json.dump(out, f)
        os.replace(tmp, os.path.join(a.dir, "client.json"))
        r.close()
        return 0


# --------------------------------------------------------------------------------------------
# Audit


def acknowledged(sub):
    """(acked?, tree id) of one submission, by the client's records."""
    if sub["via"] == "gateway":
        if sub.get("outcome") == "ok":
            return True, sub["answer"].get("tree_id")
        return False, None
    ok = [a for a in sub.get("answers", []) if a.get("ok") is True]
    if ok:
        return True, ok[0].get("tree_id")
    return False, None


class Audit:
    def __init__(self, args):
        self.args = args
        self.ns = args.ns
        self.r = connect(args, 10.0)
        self.problems = []  # (category, tree, task, text)
        self.notes = {}  # [info] lines that repeated looks would repeat, by what they are about
        self.counts = dict(lost=0, double=0, illegal=0, unfinished=0, mismatch=0, stale=0, unanswered=0, crossslot=0,
                           reexec=0, retries=0, lease_failed=0, trees=0, tasks=0, acked=0, extra_trees=0,
                           refused=0, taken_by_earlier_attempt=0, unknown=0, leaked=0, log_errors=0)

    @staticmethod
    def refusal_text(sub):
        return sub.get("http_error") or sub.get("xadd_error") or json.dumps(sub.get("answers"))

    def refused_as_taken(self, sub):
        return bool(sub.get("expected_tree_id")) and "already_exists" in self.refusal_text(sub)

    def k(self, tree, suffix):
        return "%s:{t:%s}:%s" % (self.ns, tree, suffix)

    def problem(self, category, tree, task, text, events=None):
        self.counts[category] += 1
        line = "[%s] tree=%s task=%s: %s" % (category, tree, task, text)
        if events:
            line += "\n      events: " + " | ".join(events)
        self.problems.append(line)

    def deadline(self):
        return time.monotonic() + 30

    def all_trees(self):
        d = self.deadline()
        trees = set(self.r.retry(d, "ZRANGE", "%s:trees" % self.ns, 0, -1))
        pattern = "%s:{t:*}:tree" % self.ns
        prefix = "%s:{t:" % self.ns
        for key in self.r.scan(d, pattern, 1000):  # on a cluster: every master
            trees.add(key[len(prefix):-len("}:tree")])
        return trees

    def check_logs(self):
        """crossslot: every line of the scenario's logs (<dir>/logs/*.log but the audit's own)
        naming CROSSSLOT or the client's refusal. Lines logged at error or critical level
        (swift-log: `<timestamp> <level> <label> : …`) are counted, per log, for the record."""
        logs = os.path.join(self.args.dir, "logs")
        if not os.path.isdir(logs):
            return
        errors = {}
        for name in sorted(os.listdir(logs)):
            if not name.endswith(".log") or name == "audit.log":
                continue
            with open(os.path.join(logs, name), encoding="utf-8", errors="replace") as f:
                for n, line in enumerate(f, 1):
                    if any(m in line for m in CROSSSLOT_MARKERS):
                        self.problem("crossslot", "-", "-", "%s:%d: %s" % (name, n, line.strip()[:400]))
                    fields = line.split(None, 2)
                    if len(fields) > 1 and fields[1] in ("error", "critical") and fields[0][:2] == "20":
                        errors[name] = errors.get(name, 0) + 1
        for name, n in sorted(errors.items()):
            self.problems.append("[info] %s: %d lines logged at error/critical level" % (name, n))
        self.counts["log_errors"] = sum(errors.values())

    def executors(self):
        return sorted(set(self.r.retry(self.deadline(), "SMEMBERS", "%s:executors" % self.ns)) | set(EXECUTORS))

    def queue_members(self):
        """Members of every queue structure: (structure, executor, tree, task)."""
        out = []
        d = self.deadline()
        for e in self.executors():
            q = "%s:{q:%s}:" % (self.ns, e)
            ready, leases, delayed, cancels = self.r.retry_pipeline(d, [
                ("ZRANGE", q + "ready", 0, -1), ("ZRANGE", q + "leases", 0, -1),
                ("ZRANGE", q + "delayed", 0, -1), ("HKEYS", q + "cancels")])
            for name, members in (("ready", ready), ("leases", leases), ("cancels", cancels)):
                for m in members:
                    tree, _, task = m.partition("\t")
                    out.append((name, e, tree, task))
            for m in delayed:
                parts = m.split("\t")
                out.append(("delayed", e, parts[1] if len(parts) > 1 else "?", parts[2] if len(parts) > 2 else "?"))
        return out

    def bookkeeping(self):
        """Leftovers once everything finished. Returns (stale, leaked):
        stale  — must be gone by now: unacknowledged or unread bus entries, in-flight marks of
                 trees that are stored (the sweep finishes those within seconds);
        leaked — what a submission cut short left behind: for a tree never stored, its in-flight
                 mark (kept 10 min by design, then dropped) and its ids in the id index, which
                 nothing ever removes (a retry with the same ids is refused as already existing);
                 for a stored tree, reservation tokens the submitter did not clear."""
        d = self.deadline()
        stale, leaked = [], []
        inflight = self.r.retry(d, "ZRANGE", "%s:submissions:inflight" % self.ns, 0, -1)
        if inflight:
            exists = self.r.retry_pipeline(d, [("EXISTS", self.k(t, "tree")) for t in inflight])
            for tree, there in zip(inflight, exists):
                if there:
                    stale.append("in-flight submission mark left for stored tree %s" % tree)
                else:
                    leaked.append("in-flight submission mark left for tree %s, never stored" % tree)
        ids = self.r.retry_pipeline(d, [("HGETALL", "%s:{idx:%d}:ids" % (self.ns, n)) for n in range(64)])
        reserving = self.r.retry_pipeline(d, [("HGETALL", "%s:{idx:%d}:reserving" % (self.ns, n)) for n in range(64)])
        owners = {}
        for flat in ids:
            owners.update(pairs(flat))
        trees = sorted(set(owners.values()))
        exists = {}
        for i in range(0, len(trees), 500):
            chunk = trees[i:i + 500]
            exists.update(zip(chunk, self.r.retry_pipeline(d, [("EXISTS", self.k(t, "tree")) for t in chunk])))
        orphans = {}
        for task, tree in owners.items():
            if not exists.get(tree):
                orphans.setdefault(tree, []).append(task)
        for tree, tasks in sorted(orphans.items()):
            leaked.append("%d ids in the id index name tree %s, which is not stored (e.g. %s)" % (len(tasks), tree, tasks[0]))
        held = [(task, token) for flat in reserving for task, token in pairs(flat).items()]
        stored_held = [t for t, _ in held if exists.get(owners.get(t))]
        if stored_held:
            # the submitter died between storing the tree and clearing them; the sweep that
            # finished the tree does not clear them
            leaked.append("%d reservation tokens left in {idx:*}:reserving for ids of stored trees (e.g. %s of %s)" % (
                len(stored_held), stored_held[0], owners.get(stored_held[0])))
        for key in self.bus_streams(d):
            try:
                groups, info = self.r.retry_pipeline(d, [("XINFO", "GROUPS", key), ("XINFO", "STREAM", key)])
            except ReplyError:
                continue  # no such stream
            last = pairs(info).get("last-generated-id")
            for g in groups:
                g = pairs(g)
                if g.get("pending"):
                    stale.append("%s: group %s has %s unacknowledged entries" % (key, g.get("name"), g.get("pending")))
                # Unread: the group has not been handed the stream's last entry. (Not XINFO's
                # `lag`: it is entries-added minus entries-read, and entries-read is not
                # replicated exactly — redis/redis#12898 — so a promoted replica's lag stays off.)
                delivered = g.get("last-delivered-id")
                if last and delivered and stream_id(delivered) < stream_id(last):
                    stale.append("%s: group %s has read up to %s, the stream's last entry is %s (lag %s)" % (
                        key, g.get("name"), delivered, last, g.get("lag")))
                elif g.get("lag"):
                    self.notes["lag:%s:%s" % (key, g.get("name"))] = (
                        "[info] %s: group %s has read every entry (last-delivered-id %s = last-generated-id), yet "
                        "XINFO GROUPS says lag %s (entries-read %s): Redis's entries-read counter, not replicated "
                        "exactly (redis/redis#12898)" % (key, g.get("name"), delivered, g.get("lag"), g.get("entries-read")))
        return stale, leaked

    def bus_streams(self, deadline):
        """The streams the schedulers consume: <ns>:{bus}:submit and the report shards
        <ns>:{bus:<n>}:reports, n < <ns>:bus:shards (16 unless recorded otherwise; PROTOCOL "Bus"),
        and the unsharded <ns>:{bus}:reports of older versions."""
        shards = self.r.retry(deadline, "GET", "%s:bus:shards" % self.ns)
        try:
            n = int(shards) if shards is not None else 16
        except ValueError:
            n = 16
        return (["%s:{bus}:submit" % self.ns, "%s:{bus}:reports" % self.ns] +
                ["%s:{bus:%d}:reports" % (self.ns, i) for i in range(n)])

    def tree_status(self, trees):
        d = self.deadline()
        trees = sorted(trees)
        out = {}
        for i in range(0, len(trees), 500):
            chunk = trees[i:i + 500]
            replies = self.r.retry_pipeline(d, [("HGET", self.k(t, "tree"), "status") for t in chunk])
            out.update(zip(chunk, replies))
        return out

    def wait(self, expected):
        """Waits until every tree is finished and nothing is left in queues and bookkeeping for
        finished trees, or the deadline passes. Returns the seconds waited."""
        start = time.monotonic()
        end = start + self.args.wait_timeout
        last_report = start
        while True:
            try:
                trees = self.all_trees() | set(expected)
                status = self.tree_status(trees)
                running = [t for t, s in status.items() if s not in TERMINAL]
                stale = []
                if not running:
                    finished = set(status)
                    stale = [m for m in self.queue_members() if m[2] in finished or m[2] not in status]
                    stale += self.bookkeeping()[0]
                if not running and not stale:
                    return time.monotonic() - start
                if time.monotonic() - last_report > 15:
                    last_report = time.monotonic()
                    print("chaos audit: waiting: %d of %d trees not finished, %d leftovers" %
                          (len(running), len(trees), len(stale)), file=sys.stderr, flush=True)
            except (ConnectionError, ReplyError) as error:
                print("chaos audit: waiting: %s" % error, file=sys.stderr, flush=True)
            if time.monotonic() > end:
                return time.monotonic() - start
            time.sleep(0.5)

    def read_tree(self, tree):
        d = self.deadline()
        record, ids = self.r.retry_pipeline(d, [("HGETALL", self.k(tree, "tree")), ("ZRANGE", self.k(tree, "tasks"), 0, -1)])
        record = pairs(record)
        tasks = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for tid, h in zip(chunk, self.r.retry_pipeline(d, [("HGETALL", self.k(tree, "task:" + t)) for t in chunk])):
                tasks[tid] = pairs(h)
        events = []
        last = "-"
        while True:
            batch = self.r.retry(d, "XRANGE", self.k(tree, "events"), last, "+", "COUNT", 2000)
            if last != "-" and batch and batch[0][0] == last:
                batch = batch[1:]
            if not batch:
                break
            for eid, fields in batch:
                events.append((eid, pairs(fields)))
            last = batch[-1][0]
        return record, ids, tasks, events

    # The state machine (SPEC "Execution", PROTOCOL "Event stream") -------------------------

    def replay(self, tree, record, ids, tasks, events):
        """Replays one tree's events. Returns per-task state for the final comparison."""
        deps = {}
        for tid, h in tasks.items():
            try:
                deps[tid] = [(d["id"], d.get("required", True) is not False) for d in json.loads(h.get("dependencies", "[]"))]
            except ValueError:
                deps[tid] = []
        st = {}  # task -> dict(state, blocked, attempt, starts, completions, failures, requeues, lease_losses, retry_at)
        trail = {}  # task -> short event descriptions
        finished = None
        created = 0

        def desc(eid, e):
            s = "%s %s/%s" % (eid, e.get("type"), e.get("status"))
            for f in ("attempt", "reason", "will_retry", "blocked_by", "error"):
                if f in e:
                    s += " %s=%s" % (f, e[f][:40])
            return s

        def bad(category, task, text):
            self.problem(category, tree, task, text, trail.get(task))

        def dep_state(d):
            s = st.get(d)
            if s is None:
                return None
            return "blocked" if s["state"] == "pending" and s["blocked"] else s["state"]

        for eid, e in events:
            etype, task, status = e.get("type"), e.get("task_id"), e.get("status")
            if etype == "tree_finished":
                if finished is not None:
                    self.problem("illegal", tree, "-", "a second tree_finished (%s after %s)" % (eid, finished))
                    continue
                finished = eid
                states = [dep_state(t) for t in ids]
                if any(s in (None, "in_progress", "pending") for s in states):
                    waiting = [t for t in ids if dep_state(t) in (None, "in_progress", "pending")]
                    self.problem("illegal", tree, waiting[0], "tree_finished %s while %d tasks can still run (%s)" %
                                 (eid, len(waiting), ", ".join(waiting[:5])), trail.get(waiting[0]))
                expect = "completed" if all(s == "completed" for s in states) else \
                    "failed" if any(s == "failed" for s in states) else \
                    "cancelled" if any(s == "cancelled" for s in states) else "failed"
                if status != expect:
                    self.problem("illegal", tree, "-", "tree_finished says %s, the tasks say %s" % (status, expect))
                continue
            trail.setdefault(task, []).append(desc(eid, e))
            if finished is not None and etype not in ("task_reset", "task_created"):
                bad("illegal", task, "%s after tree_finished (%s)" % (etype, eid))
            s = st.get(task)
            if etype == "task_created":
                created += 1
                if s is not None:
                    bad("illegal", task, "task_created twice")
                    continue
                st[task] = dict(state=status or "pending", blocked=False, attempt=0, starts=0, completions=0,
                                failures=0, requeues=0, lease_losses=0, retry_at=None, reexec=0, retries=0,
                                last_pending_cause="created")
                if finished is not None:
                    finished = None  # addTask reopens a finished tree
                continue
            if s is None:
                bad("illegal", task, "%s before task_created" % etype)
                continue
            h = tasks.get(task, {})
            state = s["state"]
            if etype == "task_started":
                attempt = int(e.get("attempt", "0") or 0)
                if state != "pending" or s["blocked"]:
                    bad("illegal", task, "task_started from %s%s" % (state, " (blocked)" if s["blocked"] else ""))
                if attempt != s["attempt"] + 1:
                    bad("illegal", task, "task_started attempt %d after attempt %d" % (attempt, s["attempt"]))
                for d, required in deps.get(task, []):
                    ds = dep_state(d)
                    if d not in tasks:
                        continue  # another tree (the workload has none)
                    if required and ds != "completed":
                        bad("illegal", task, "started while its required dependency %s is %s" % (d, ds))
                    if not required and ds not in TERMINAL + ("blocked",):
                        bad("illegal", task, "started while its optional dependency %s is %s" % (d, ds))
                if s["retry_at"] is not None and int(e.get("timestamp", "0")) + 50 < s["retry_at"]:
                    bad("illegal", task, "retry started at %s before its backoff ended (%d)" % (e.get("timestamp"), s["retry_at"]))
                if s["starts"] > 0:
                    if s["last_pending_cause"] == "requeued":
                        s["reexec"] += 1
                    elif s["last_pending_cause"] == "retry":
                        s["retries"] += 1
                s.update(state="in_progress", attempt=attempt, retry_at=None)
                s["starts"] += 1
            elif etype == "progress" or etype == "cancel_requested":
                if state != "in_progress":
                    bad("illegal", task, "%s while %s" % (etype, state))
            elif etype == "task_completed":
                if state != "in_progress":
                    bad("illegal", task, "task_completed from %s" % state)
                s["completions"] += 1
                if s["completions"] > 1:
                    bad("double", task, "completed %d times" % s["completions"])
                s["state"] = "completed"
            elif etype == "task_failed":
                if state != "in_progress":
                    bad("illegal", task, "task_failed from %s" % state)
                max_attempts = int(h.get("max_attempts", "1"))
                lease_expired = e.get("error") == "lease expired"
                if lease_expired:
                    s["lease_losses"] += 1
                    limit = int(h.get("max_lease_losses", "3"))
                    if s["lease_losses"] < limit:
                        bad("illegal", task, "failed 'lease expired' after %d lease losses (max_lease_losses %d)" %
                            (s["lease_losses"], limit))
                    self.counts["lease_failed"] += 1
                else:
                    s["failures"] += 1
                if e.get("will_retry") == "1":
                    if status != "pending":
                        bad("illegal", task, "task_failed will_retry with status %s" % status)
                    if s["failures"] >= max_attempts:
                        bad("illegal", task, "retried after %d failed attempts (max_attempts %d)" % (s["failures"], max_attempts))
                    s.update(state="pending", last_pending_cause="retry")
                    try:
                        s["retry_at"] = int(e.get("retry_at"))
                    except (TypeError, ValueError):
                        s["retry_at"] = None
                else:
                    if status != "failed":
                        bad("illegal", task, "final task_failed with status %s" % status)
                    if not lease_expired and s["failures"] < max_attempts:
                        # SPEC: a lost lease "goes back to its queue without counting as a failed
                        # attempt", so an always-failing task fails max_attempts times
                        bad("illegal", task, "failed for good after %d failed attempts of max_attempts %d "
                            "(%d starts, %d lease losses)" % (s["failures"], max_attempts, s["starts"], s["requeues"]))
                    s["state"] = "failed"
            elif etype == "task_requeued":
                if state != "in_progress":
                    bad("illegal", task, "task_requeued from %s" % state)
                if e.get("reason") in ("lease expired", "lease lost"):
                    s["lease_losses"] += 1
                s["requeues"] += 1
                s.update(state="pending", last_pending_cause="requeued")
            elif etype == "task_blocked":
                if state != "pending" or s["blocked"]:
                    bad("illegal", task, "task_blocked from %s%s" % (state, " (already blocked)" if s["blocked"] else ""))
                cause = e.get("blocked_by")
                if dep_state(cause) not in ("failed", "cancelled"):
                    bad("illegal", task, "blocked_by %s, which is %s" % (cause, dep_state(cause)))
                if not any(req and dep_state(d) in ("failed", "cancelled", "blocked") for d, req in deps.get(task, [])):
                    bad("illegal", task, "blocked although no required dependency failed, was cancelled or is blocked")
                s["blocked"] = True
            elif etype == "task_cancelled":
                if state not in ("pending", "in_progress"):
                    bad("illegal", task, "task_cancelled from %s" % state)
                s["state"] = "cancelled"
            elif etype == "task_reset":
                if state not in TERMINAL and not s["blocked"]:
                    bad("illegal", task, "task_reset from %s" % state)
                s.update(state="pending", blocked=False, completions=0, failures=0, last_pending_cause="reset")
            else:
                bad("illegal", task, "unknown event type %s" % etype)
            if etype not in ("task_blocked",) and status and status != s["state"] and etype != "task_failed":
                bad("illegal", task, "%s carries status %s, the state machine says %s" % (etype, status, s["state"]))
        return st, finished, created, trail

    def audit_tree(self, tree):
        record, ids, tasks, events = self.read_tree(tree)
        self.counts["trees"] += 1
        self.counts["tasks"] += len(ids)
        if not record:
            self.problem("unfinished", tree, "-", "a tree whose record is missing (%d task keys, %d events)" % (len(ids), len(events)))
            return
        st, finished, created, trail = self.replay(tree, record, ids, tasks, events)
        if created != len(ids):
            self.problem("mismatch", tree, "-", "%d task_created events for %d tasks (stream trimmed?)" % (created, len(ids)))
        # every task terminal or legitimately blocked
        counts = dict(n_pending=0, n_in_progress=0, n_completed=0, n_failed=0, n_cancelled=0, n_blocked=0)
        progress_sum = 0.0
        for tid in ids:
            h = tasks.get(tid, {})
            status = h.get("status")
            progress_sum += float(h.get("progress", "0") or 0)
            if status in ("pending", "in_progress", "completed", "failed", "cancelled"):
                counts["n_" + status] += 1
            if status == "pending" and h.get("blocked_by"):
                counts["n_blocked"] += 1
            s = st.get(tid)
            if status == "in_progress" or (status == "pending" and not h.get("blocked_by")):
                self.problem("unfinished", tree, tid, "task is %s%s" % (status, "" if h.get("blocked_by") else " (not blocked)"),
                             trail.get(tid))
            elif status == "pending":
                reqs = [(d, tasks.get(d, {}).get("status"), tasks.get(d, {}).get("blocked_by")) for d, req in
                        [(x["id"], x.get("required", True) is not False) for x in json.loads(h.get("dependencies", "[]"))] if req]
                if not any(ds in ("failed", "cancelled") or (ds == "pending" and db) for _, ds, db in reqs):
                    self.problem("illegal", tree, tid, "blocked_by %s but no required dependency failed, was cancelled or is blocked" %
                                 h.get("blocked_by"), trail.get(tid))
            if s is None:
                self.problem("mismatch", tree, tid, "task without events")
                continue
            replayed = s["state"]
            if replayed != status or bool(s["blocked"]) != bool(h.get("blocked_by")):
                self.problem("mismatch", tree, tid, "task hash says %s%s, its events say %s%s" % (
                    status, " blocked" if h.get("blocked_by") else "", replayed, " blocked" if s["blocked"] else ""), trail.get(tid))
            if int(h.get("attempt", "0") or 0) != s["attempt"]:
                self.problem("mismatch", tree, tid, "task hash attempt %s, events say %d" % (h.get("attempt"), s["attempt"]))
            self.counts["reexec"] += s["reexec"]
            self.counts["retries"] += s["retries"]
            if s["reexec"]:
                self.reexec_tasks.append((s["reexec"], tree, tid))
        if finished is None:
            self.problem("unfinished", tree, "-", "no tree_finished event (status %s)" % record.get("status"))
        counts["n_total"] = len(ids)
        for field, value in counts.items():
            if int(record.get(field, "0") or 0) != value:
                self.problem("mismatch", tree, "-", "tree record %s=%s, the task hashes say %d" % (field, record.get(field), value))
        if abs(float(record.get("progress_sum", "0") or 0) - progress_sum) > 1e-6:
            self.problem("mismatch", tree, "-", "progress_sum %s, tasks sum to %.6f" % (record.get("progress_sum"), progress_sum))
        states = [tasks.get(t, {}).get("status") for t in ids]
        expect = "completed" if all(s == "completed" for s in states) else \
            "failed" if "failed" in states else "cancelled" if "cancelled" in states else "failed"
        if record.get("status") in TERMINAL and record.get("status") != expect:
            self.problem("mismatch", tree, "-", "tree status %s, its tasks say %s" % (record.get("status"), expect))
        if record.get("status") not in TERMINAL and finished is not None:
            self.problem("mismatch", tree, "-", "tree_finished emitted but the record says %s" % record.get("status"))

    def run(self):
        a = self.args
        with open(os.path.join(a.dir, "client.json")) as f:
            client = json.load(f)
        subs = client["subs"]
        started = time.monotonic()
        # answers that arrived after the client stopped listening
        late = {}
        try:
            last = "-"
            while True:
                batch = self.r.retry(time.monotonic() + 30, "XRANGE", "%s:submit:results" % self.ns, last, "+", "COUNT", 1000)
                if last != "-" and batch and batch[0][0] == last:
                    batch = batch[1:]
                if not batch:
                    break
                for _, fields in batch:
                    f = pairs(fields)
                    try:
                        late.setdefault(f.get("request_id"), []).append(json.loads(f.get("reply", "null")))
                    except ValueError:
                        pass
                last = batch[-1][0]
        except (ConnectionError, ReplyError):
            pass
        expected = {}
        for s in subs:
            if s["via"] == "native":
                seen = {x.get("entry_id") for x in s.get("answers", [])}
                for x in late.get(s["request_id"], []):
                    if x.get("entry_id") not in seen:
                        x["late"] = True
                        s.setdefault("answers", []).append(x)
            ok, tree = acknowledged(s)
            if ok:
                expected[tree] = s
        waited = self.wait(expected)
        self.reexec_tasks = []
        trees = self.all_trees()
        # lost: acknowledged but not stored whole
        d = self.deadline()
        for tree, s in sorted(expected.items()):
            self.counts["acked"] += 1
            n_total, n_tasks = self.r.retry_pipeline(d, [("HGET", self.k(tree, "tree"), "n_total"), ("ZCARD", self.k(tree, "tasks"))])
            if s.get("expected_tree_id") and tree != s["expected_tree_id"]:
                self.problem("lost", tree, "-", "%s (%s) answered tree %s, its first task is %s" % (
                    s["request_id"], s["via"], tree, s["expected_tree_id"]))
            if n_total is None or int(n_total) != s["n"] or n_tasks != s["n"]:
                self.problem("lost", tree, "-", "%s via %s acknowledged (%d tasks) but stored: n_total=%s, %d task ids" % (
                    s["request_id"], s["via"], s["n"], n_total, n_tasks))
        for s in subs:
            ok, tree = acknowledged(s)
            if not ok:
                if s["via"] == "native" and s.get("outcome") == "ok" and not s.get("answers"):
                    self.problem("unanswered", "-", "-", "%s: entry %s (XADD answered at %s) never answered" % (
                        s["request_id"], s.get("entry_id"), s.get("t_sent")))
                elif s.get("outcome") == "unknown" and not s.get("answers"):
                    # the XADD (or the POST) was cut by the fault: Redis may never have seen it
                    self.counts["unknown"] += 1
                    self.problems.append("[info] %s via %s: outcome unknown (%s)" % (
                        s["request_id"], s["via"], s.get("http_error") or "XADD sent, connection lost"))
                elif self.refused_as_taken(s):
                    # our ids are unique to this run: "already exists" can only mean an earlier
                    # attempt of this very submission, whose tree must then be there
                    if self.r.retry(d, "EXISTS", self.k(s["expected_tree_id"], "tree")) == 0:
                        self.problem("lost", s["expected_tree_id"], "-",
                                     "%s via %s refused as already existing, yet no tree %s is stored (%s)" % (
                                         s["request_id"], s["via"], s["expected_tree_id"], self.refusal_text(s)[:300]))
                    else:
                        self.counts["taken_by_earlier_attempt"] += 1
                        self.problems.append("[info] %s via %s refused as already existing; stored by an earlier "
                                             "attempt" % (s["request_id"], s["via"]))
                else:
                    # Refused for good (or still refused when the client's deadline came, as a
                    # gateway 503 retried for CHAOS_SUBMIT_S + 30 s): reported, not failing —
                    # nothing was acknowledged — but printed under the row.
                    self.problem("refused", s.get("expected_tree_id") or "-", "-", "%s via %s not acknowledged%s: %s" % (
                        s["request_id"], s["via"],
                        " (%d times 503, retried for %.0f s)" % (s["retried_503"], s.get("t_answered", 0) - s.get("t_sent", 0))
                        if s.get("retried_503") else "", self.refusal_text(s)[:300]))
            if s["via"] == "native":
                tree_ids = {x.get("tree_id") for x in s.get("answers", []) if x.get("ok")}
                if len(tree_ids) > 1:
                    self.problems.append("[info] %s answered with %d different trees: %s" % (
                        s["request_id"], len(tree_ids), sorted(tree_ids)))
        extra = sorted(trees - set(expected))
        self.counts["extra_trees"] = len(extra)
        for tree in extra:
            self.problems.append("[info] tree %s stored but never acknowledged (a submission cut short or refused)" % tree)
        for tree in sorted(trees):
            try:
                self.audit_tree(tree)
            except (ConnectionError, ReplyError) as error:
                self.problem("unfinished", tree, "-", "cannot read the tree: %s" % error)
        # queues and bookkeeping
        status = self.tree_status(trees)
        for name, e, tree, task in self.queue_members():
            if status.get(tree) in TERMINAL or tree not in status:
                self.problem("stale", tree, task, "%s entry left in {q:%s}:%s (tree %s)" % (name, e, name, status.get(tree) or "missing"))
        stale, leaked = self.bookkeeping()
        for text in stale:
            self.problem("stale", "-", "-", text)
        for text in leaked:
            self.problem("leaked", "-", "-", text)
        self.problems.extend(self.notes.values())
        self.check_logs()
        if getattr(self.r, "cluster", False):
            self.problems.append("[info] cluster client of the audit: %s" % json.dumps(self.r.stats))
        self.reexec_tasks.sort(reverse=True)
        row = dict(self.counts)
        row.update(scenario=a.scenario, duration_s=round(a.elapsed + time.monotonic() - started, 1),
                   waited_s=round(waited, 1), audit_s=round(time.monotonic() - started - waited, 1),
                   client_s=client.get("duration_s"), submissions=len(subs),
                   max_reexec=self.reexec_tasks[0][0] if self.reexec_tasks else 0)
        row["failed"] = any(row[k] for k in FAILING + (("leaked",) if a.strict else ()))
        with open(os.path.join(a.dir, "audit.txt"), "w") as f:
            f.write(json.dumps(row) + "\n")
            for p in self.problems:
                f.write(p + "\n")
            for n, tree, task in self.reexec_tasks[:50]:
                f.write("[reexec] tree=%s task=%s started %d extra times after a lost lease or handback\n" % (tree, task, n))
        with open(a.results, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(format_row(row), flush=True)
        shown = [p for p in self.problems if not p.startswith("[info]")]
        for p in shown[:20]:
            print("    " + p.replace("\n", "\n    "), flush=True)
        if len(shown) > 20:
            print("    … %d more in %s" % (len(shown) - 20, os.path.join(a.dir, "audit.txt")), flush=True)
        return 1 if row["failed"] else 0


COLUMNS = [("scenario", 24), ("trees", 6), ("tasks", 6), ("acked", 6), ("lost", 5), ("double", 7), ("illegal", 8),
           ("unfinished", 11), ("mismatch", 9), ("stale", 6), ("unanswered", 11), ("crossslot", 10), ("leaked", 7), ("refused", 8), ("reexec", 7), ("retries", 8),
           ("lease_failed", 13), ("log_errors", 11), ("duration_s", 10)]


def format_header():
    return " ".join(name.ljust(w) if i == 0 else name.rjust(w) for i, (name, w) in enumerate(COLUMNS)) + "  result"


def format_row(row):
    cells = []
    for i, (name, w) in enumerate(COLUMNS):
        v = str(row.get(name, ""))
        cells.append(v.ljust(w) if i == 0 else v.rjust(w))
    return " ".join(cells) + ("  FAIL" if row.get("failed") else "  ok")


def table(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    print(format_header())
    for row in rows:
        print(format_row(row))
    return 1 if any(r.get("failed") for r in rows) else 0


def ping(args):
    end = time.monotonic() + args.timeout
    r = Redis("127.0.0.1", args.port, timeout=1.0)
    while time.monotonic() < end:
        try:
            if r.call("PING") == "PONG":
                return 0
        except (ConnectionError, ReplyError):
            pass
        time.sleep(0.1)
    return 1


# --------------------------------------------------------------------------------------------
# Self-test: fabricated histories the audit must flag (and one it must accept)


def selftest(args):
    """Writes small fabricated trees into a Redis (one namespace per case), audits each, and
    checks that the audit counts what each case breaks, and nothing in the good case."""
    r = Redis("127.0.0.1", args.port, timeout=5.0)
    T = lambda i: str(1800000000000 + i)  # noqa: E731

    def write(ns, tree, tasks, events, record=None, extra=()):
        """tasks: list of (id, executor, deps, hash fields); events: (type, task, status, fields)."""
        n = dict(n_pending=0, n_in_progress=0, n_completed=0, n_failed=0, n_cancelled=0, n_blocked=0)
        cmds = []
        for pos, (tid, executor, deps, fields) in enumerate(tasks, 1):
            h = dict(id=tid, tree_id=tree, name=tid, executor=executor, status="completed",
                     dependencies=json.dumps([{"id": d, "required": req} for d, req in deps]))
            h.update(fields)
            n["n_" + h["status"]] += 1
            if h["status"] == "pending" and h.get("blocked_by"):
                n["n_blocked"] += 1
            cmds.append(["HSET", "%s:{t:%s}:task:%s" % (ns, tree, tid)] + [x for kv in h.items() for x in kv])
            cmds.append(["ZADD", "%s:{t:%s}:tasks" % (ns, tree), pos, tid])
        status = "completed" if n["n_completed"] == len(tasks) else "failed" if n["n_failed"] else "in_progress"
        rec = dict(id=tree, root_id=tasks[0][0], user_id="chaos", status=status, started="1", n_total=len(tasks),
                   progress_sum=sum(float(t[3].get("progress", "1" if t[3].get("status", "completed") == "completed" else "0"))
                                    for t in tasks), token="t")
        rec.update(n)
        rec.update(record or {})
        cmds.append(["HSET", "%s:{t:%s}:tree" % (ns, tree)] + [str(x) for kv in rec.items() for x in kv])
        cmds.append(["ZADD", "%s:trees" % ns, 1, tree])
        for i, (etype, tid, st, fields) in enumerate(events):
            cmds.append(["XADD", "%s:{t:%s}:events" % (ns, tree), "*", "type", etype, "tree_id", tree,
                         "task_id", tid, "status", st, "timestamp", T(i)] + [str(x) for kv in fields.items() for x in kv])
        cmds += [list(c) for c in extra]
        for reply in r.pipeline(cmds):
            if isinstance(reply, ReplyError):
                raise reply

    def done(tid, attempt=1):
        return [("task_started", tid, "in_progress", {"attempt": attempt}),
                ("task_completed", tid, "completed", {"result": "{}", "progress": "1"})]

    def created(*ids):
        return [("task_created", t, "pending", {}) for t in ids]

    fin = [("tree_finished", "a", "completed", {"progress": "1.0000"})]
    two = [("a", "echo_executor", [], {"attempt": "1", "progress": "1"}),
           ("b", "echo_executor", [("a", True)], {"attempt": "1", "progress": "1"})]
    cases = {
        "good": (two, created("a", "b") + done("a") + done("b") + fin, None, (), {}),
        "double": (
            [two[0], (two[1][0], two[1][1], two[1][2], {"attempt": "2", "progress": "1"})],
            created("a", "b") + done("a") + done("b") + done("b", 2) + fin, None, (), {"double": 1, "illegal": 1}),
        "early-start": (
            two, created("a", "b") + [("task_started", "b", "in_progress", {"attempt": 1})] + done("a") +
            [("task_completed", "b", "completed", {"result": "{}"})] + fin, None, (), {"illegal": 1}),
        "unfinished": (
            [two[0], ("b", "echo_executor", [("a", True)], {"status": "in_progress", "attempt": "1", "progress": "0"})],
            created("a", "b") + done("a") + [("task_started", "b", "in_progress", {"attempt": 1})], None, (),
            {"unfinished": 1}),
        "counters": (two, created("a", "b") + done("a") + done("b") + fin, {"n_completed": 1}, (), {"mismatch": 1}),
        "after-finish": (two, created("a", "b") + done("a") + done("b") + fin +
                         [("progress", "b", "in_progress", {"progress": "0.5"})], None, (), {"illegal": 1}),
        "stale-lease": (two, created("a", "b") + done("a") + done("b") + fin, None,
                        [("ZADD", "{ns}:{q:echo_executor}:leases", 1, "a\tb")], {"stale": 1}),
        "retries-cut-short": (
            [("a", "fail_executor", [], {"status": "failed", "attempt": "2", "max_attempts": "2", "progress": "0"})],
            created("a") + [("task_started", "a", "in_progress", {"attempt": 1}),
                            ("task_requeued", "a", "pending", {"reason": "lease expired"}),
                            ("task_started", "a", "in_progress", {"attempt": 2}),
                            ("task_failed", "a", "failed", {"error": "chaos failure"}),
                            ("tree_finished", "a", "failed", {"progress": "0.0000"})], None, (), {"illegal": 1}),
        "wrongly-blocked": (
            [two[0], ("b", "echo_executor", [("a", True)], {"status": "pending", "blocked_by": "a", "progress": "0"})],
            created("a", "b") + done("a") + [("task_blocked", "b", "pending", {"blocked_by": "a"})] +
            [("tree_finished", "a", "failed", {"progress": "0.5000"})], {"status": "failed"}, (), {"illegal": 1}),
        "lost": (two, created("a", "b") + done("a") + done("b") + fin, None, (), {"lost": 1}),
        "leaked-ids": (two, created("a", "b") + done("a") + done("b") + fin, None,
                       [("HSET", "{ns}:{idx:3}:ids", "x1", "never-stored"),
                        ("HSET", "{ns}:{idx:3}:reserving", "x1", "tok")], {"leaked": 1}),
        "taken-not-stored": (two, created("a", "b") + done("a") + done("b") + fin, None, (), {"lost": 1}),
        "crossslot": (two, created("a", "b") + done("a") + done("b") + fin, None, (), {"crossslot": 1}),
        "bus-unread": (two, created("a", "b") + done("a") + done("b") + fin, None,
                       [("XADD", "{ns}:{bus:3}:reports", "*", "x", "1"),
                        ("XGROUP", "CREATE", "{ns}:{bus:3}:reports", "schedulers", "0")], {"stale": 1}),
        # read to the end, but entries-read is off (as on a promoted replica): XINFO's lag is 1
        "bus-lag-only": (two, created("a", "b") + done("a") + done("b") + fin, None,
                         [("XADD", "{ns}:{bus}:submit", "*", "x", "1"),
                          ("XGROUP", "CREATE", "{ns}:{bus}:submit", "schedulers", "$", "ENTRIESREAD", "0")], {}),
    }
    failures = 0
    for name, (tasks, events, record, extra, expect) in cases.items():
        ns = "selftest-" + name
        extra = [[str(x).replace("{ns}", ns) for x in c] for c in extra]
        write(ns, "a", tasks, events, record, extra)
        d = os.path.join(args.dir, name)
        os.makedirs(d, exist_ok=True)
        subs = [{"request_id": "r1", "via": "native", "n": len(tasks), "outcome": "ok", "expected_tree_id": "a",
                 "answers": [{"ok": True, "tree_id": "a", "entry_id": "1-0"}]}]
        if name == "lost":
            subs.append({"request_id": "r2", "via": "gateway", "n": 3, "outcome": "ok", "answer": {"tree_id": "gone"}})
        if name == "taken-not-stored":
            subs.append({"request_id": "r2", "via": "gateway", "n": 3, "outcome": "refused", "http_status": 409,
                         "expected_tree_id": "gone", "http_error": '{"error":{"code":"already_exists"}}'})
        with open(os.path.join(d, "client.json"), "w") as f:
            json.dump({"subs": subs}, f)
        if name == "crossslot":
            os.makedirs(os.path.join(d, "logs"), exist_ok=True)
            with open(os.path.join(d, "logs", "scheduler-1.log"), "w") as f:
                f.write("2026-12-01T14:00:00+0000 info baton.scheduler : started\n"
                        "2026-12-01T14:00:01+0000 error baton.scheduler : store failed: refused before sending "
                        "(CROSSSLOT): keys of 2 slots\n")
        a = argparse.Namespace(dir=d, host="127.0.0.1", port=args.port, ns=ns, scenario="selftest-" + name,
                               results=os.path.join(d, "results.jsonl"), wait_timeout=0, elapsed=0, strict=False)
        audit = Audit(a)
        with open(os.devnull, "w") as null:
            saved, sys.stdout = sys.stdout, null
            try:
                audit.run()
            finally:
                sys.stdout = saved
        got = {k: audit.counts[k] for k in FAILING + ("leaked",)}
        wrong = {k: v for k, v in got.items() if (v == 0) != (expect.get(k, 0) == 0)}
        if wrong:
            failures += 1
            print("chaos audit self-test %s: expected %s, counted %s" % (name, expect, got))
            for p in audit.problems:
                print("    " + p)
    # The cluster client's slot arithmetic (the spec's examples and Baton's hash tags).
    slot_cases = [(crc16(b"123456789"), 0x31C3), (key_slot("123456789"), 12739), (key_slot("foo"), 12182),
                  (key_slot("{user1000}.following"), key_slot("{user1000}.followers")),
                  (key_slot("foo{}{bar}"), crc16(b"foo{}{bar}") % 16384), (key_slot("foo{{bar}}zap"), crc16(b"{bar") % 16384),
                  (key_slot("foo{bar}{zap}"), crc16(b"bar") % 16384), (key_slot("ns:{bus}:submit"), key_slot("other:{bus}:reports")),
                  (command_key(("XREAD", "COUNT", 5, "BLOCK", 1, "STREAMS", "k", "0")), "k"),
                  (command_key(("XINFO", "GROUPS", "k")), "k"), (command_key(("SCAN", "0")), None)]
    wrong_slots = [i for i, (got, want) in enumerate(slot_cases) if got != want]
    if wrong_slots:
        failures += 1
        print("chaos audit self-test: cluster slot cases %s wrong: %s" % (wrong_slots, [slot_cases[i] for i in wrong_slots]))
    print("chaos audit self-test: %d of %d cases as expected" % (len(cases) + 1 - failures, len(cases) + 1))
    return 1 if failures else 0


def cluster_state(args):
    """One look at a cluster for scripts/chaos (chaos_cluster.sh), printed as lines:
        ready 1|0 <what is wrong>       1 when every node answers, says cluster_state:ok with all
                                        16384 slots served and knows every node, none is flagged
                                        failing (or in handshake), all agree on the slot map and
                                        who replicates whom, and every replica's link is up, synced
        master <port> <id> <slots> <replica port or -> <replica's offset lag in bytes or -> <first slot>
        key <key> <slot> <port>         for each --key: its slot and the master serving it
        slot <slot> <port>              for each --slot
    The view (masters, slots) is that of the first node that answers, masters first."""
    nodes = parse_nodes(args.cluster)
    seen = {}
    for node in nodes:
        r = Redis(node[0], node[1], timeout=1.0)
        try:
            info, cnodes, repl = r.pipeline([("CLUSTER", "INFO"), ("CLUSTER", "NODES"), ("INFO", "replication")])
        except ConnectionError as error:
            seen[node] = error
            continue
        finally:
            r.close()
        if any(isinstance(x, ReplyError) for x in (info, cnodes, repl)):
            seen[node] = ConnectionError("error reply: %s" % [x for x in (info, cnodes, repl) if isinstance(x, ReplyError)][0])
            continue
        seen[node] = (dict(l.split(":", 1) for l in info.splitlines() if ":" in l), cnodes,
                      dict(l.split(":", 1) for l in repl.splitlines() if ":" in l))
    reasons = []
    view, views = None, {}
    for node, got in seen.items():
        name = "%s:%d" % node
        if isinstance(got, Exception):
            reasons.append("%s does not answer (%s)" % (name, got))
            continue
        info, cnodes, repl = got
        if info.get("cluster_state") != "ok":
            reasons.append("%s says cluster_state:%s" % (name, info.get("cluster_state")))
        if info.get("cluster_slots_ok") != str(CLUSTER_SLOTS):
            reasons.append("%s serves %s slots" % (name, info.get("cluster_slots_ok")))
        if info.get("cluster_known_nodes") != str(len(nodes)):
            reasons.append("%s knows %s nodes, not %d" % (name, info.get("cluster_known_nodes"), len(nodes)))
        table = []
        for line in cnodes.splitlines():
            f = line.split()
            if len(f) < 8:
                continue
            flags = f[2]
            if any(x in flags for x in ("fail", "handshake", "noaddr")):
                reasons.append("%s flags %s %s" % (name, f[1].split("@")[0], flags))
            role = "master" if "master" in flags else "slave"
            slots = [x for x in f[8:] if not x.startswith("[")]
            table.append((f[0], f[1].split("@")[0], role, f[3], tuple(slots), flags))
            if "[" in " ".join(f[8:]):
                reasons.append("%s shows slots in migration: %s" % (name, " ".join(x for x in f[8:] if x.startswith("["))[:80]))
        views[node] = sorted((t[0], t[2], t[3], t[4]) for t in table)
        if repl.get("role") == "slave":
            if repl.get("master_link_status") != "up":
                reasons.append("%s is a replica whose master link is %s" % (name, repl.get("master_link_status")))
            elif repl.get("master_sync_in_progress") == "1":
                reasons.append("%s is a replica still syncing" % name)
        if view is None or (view[0] == "replica" and repl.get("role") == "master"):
            view = ("master" if repl.get("role") == "master" else "replica", node, table)
    if len({tuple(v) for v in views.values()}) > 1:
        reasons.append("the nodes disagree on the slot map or who replicates whom")
    print("ready %d %s" % (0 if reasons else 1, "; ".join(dict.fromkeys(reasons))[:600]))
    if view is None:
        return 1
    table = view[2]
    slot_owner = [None] * CLUSTER_SLOTS
    for nid, addr, role, master, slots, flags in table:
        if role != "master" or "fail" in flags or not slots:
            continue
        port = int(addr.rsplit(":", 1)[1])
        count, first = 0, CLUSTER_SLOTS
        for rng in slots:
            lo, _, hi = rng.partition("-")
            lo, hi = int(lo), int(hi or lo)
            count += hi - lo + 1
            first = min(first, lo)
            for slot in range(lo, hi + 1):
                slot_owner[slot] = port
        replica, lag = "-", "-"
        for rid, raddr, rrole, rmaster, _, rflags in table:
            if rrole == "slave" and rmaster == nid and "fail" not in rflags:
                rnode = (raddr.rsplit(":", 1)[0], int(raddr.rsplit(":", 1)[1]))
                got = seen.get(rnode)
                if isinstance(got, tuple) and got[2].get("master_link_status") == "up":
                    replica = rnode[1]
                    mine = seen.get((addr.rsplit(":", 1)[0], port))
                    if isinstance(mine, tuple):
                        try:
                            lag = int(mine[2].get("master_repl_offset", 0)) - int(got[2].get("slave_repl_offset", 0))
                        except ValueError:
                            pass
                    break
        print("master %d %s %d %s %s %d" % (port, nid, count, replica, lag, first))
    for key in args.key or []:
        slot = key_slot(key)
        print("key %s %d %s" % (key, slot, slot_owner[slot] or "-"))
    for slot in args.slot or []:
        print("slot %d %s" % (slot, slot_owner[slot] or "-"))
    return 0


def cluster_check(args):
    """Checks the cluster client on a live cluster (before a cluster scenario): its slot of each
    key equals CLUSTER KEYSLOT's, a pipeline of keys on every master writes and reads back in
    order, SCAN finds all of them on the masters, and they are deleted again."""
    r = connect(args, 5.0)
    d = time.monotonic() + 30
    ns = "%s:check" % args.ns
    keys = ["%s:{t:tree-%d}:tree" % (ns, i) for i in range(300)] + ["%s:{bus}:submit" % ns, "%s:submit:results" % ns,
                                                                    "%s:{q:sleep_executor}:ready" % ns, "%s:trees" % ns]
    problems = []
    slots = r.retry_pipeline(d, [("CLUSTER", "KEYSLOT", k) for k in keys[:40]] + [("CLUSTER", "KEYSLOT", k) for k in keys[-4:]])
    for k, slot in zip(keys[:40] + keys[-4:], slots):
        if slot != key_slot(k):
            problems.append("slot of %s: CLUSTER KEYSLOT says %s, the client %d" % (k, slot, key_slot(k)))
    r.retry_pipeline(d, [("SET", k, "v-%d" % i) for i, k in enumerate(keys)])
    got = r.retry_pipeline(d, [("GET", k) for k in keys])
    if got != ["v-%d" % i for i in range(len(keys))]:
        problems.append("a pipeline over every master read back %d wrong values" %
                        sum(1 for i, g in enumerate(got) if g != "v-%d" % i))
    found = r.scan(d, "%s:*" % ns, 50)
    if found != set(keys):
        problems.append("SCAN on every master found %d of %d keys (%d others)" % (
            len(found & set(keys)), len(keys), len(found - set(keys))))
    nodes = {r.node_for(("GET", k)) for k in keys}
    if len(nodes) < 2:
        problems.append("the keys map to %d node(s) only: %s" % (len(nodes), sorted(nodes)))
    r.retry_pipeline(d, [("DEL", k) for k in keys])
    r.close()
    for p in problems:
        print("chaos cluster check: " + p, file=sys.stderr)
    print("chaos cluster check: %s (%d keys on %d masters, client %s)" % (
        "ok" if not problems else "FAILED", len(keys), len(nodes), json.dumps(r.stats)), file=sys.stderr)
    return 1 if problems else 0


def main(argv):
    p = argparse.ArgumentParser(prog="chaos_audit.py")
    sub = p.add_subparsers(dest="command", required=True)

    def common(q):
        q.add_argument("--dir", required=True)
        q.add_argument("--host", default="127.0.0.1")
        q.add_argument("--port", type=int, required=True)
        q.add_argument("--ns", required=True)
        q.add_argument("--cluster", default="",
                       help="a Redis Cluster: its nodes, comma-separated (host:port or redis://host:port)")

    c = sub.add_parser("client")
    common(c)
    c.add_argument("--run", required=True, help="prefix of ids and request ids")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--tasks", type=int, default=400)
    c.add_argument("--sleep-share", type=float, default=0.3, help="share of sleep_executor tasks")
    c.add_argument("--tree-min", type=int, default=5)
    c.add_argument("--tree-max", type=int, default=40)
    c.add_argument("--duration", type=float, default=8.0, help="seconds over which submissions are spread")
    c.add_argument("--submit-grace", type=float, default=30.0)
    c.add_argument("--answer-timeout", type=float, default=60.0)
    c.add_argument("--gateway-port", type=int, required=True)
    c.add_argument("--gateway-share", type=float, default=0.2)
    c.add_argument("--api-key", default="chaos-key")
    c.add_argument("--big", type=int, default=0, help="big trees (fan-out + fan-in) to add")
    c.add_argument("--big-size", type=int, default=500)
    c.add_argument("--big-via", default="native")

    a = sub.add_parser("audit")
    common(a)
    a.add_argument("--scenario", required=True)
    a.add_argument("--results", required=True)
    a.add_argument("--wait-timeout", type=float, default=60.0)
    a.add_argument("--elapsed", type=float, default=0.0, help="seconds the scenario ran before the audit")
    a.add_argument("--strict", action="store_true", help="leaked bookkeeping fails the scenario too")

    t = sub.add_parser("table")
    t.add_argument("results")

    g = sub.add_parser("ping")
    g.add_argument("--port", type=int, required=True)
    g.add_argument("--timeout", type=float, default=10.0)

    cc = sub.add_parser("cluster-check")
    cc.add_argument("--host", default="127.0.0.1")
    cc.add_argument("--port", type=int, default=0)
    cc.add_argument("--cluster", required=True)
    cc.add_argument("--ns", default="chaos-check")

    cs = sub.add_parser("cluster-state")
    cs.add_argument("--cluster", required=True)
    cs.add_argument("--key", action="append")
    cs.add_argument("--slot", type=int, action="append")

    st = sub.add_parser("selftest")
    st.add_argument("--port", type=int, required=True)
    st.add_argument("--dir", required=True)

    args = p.parse_args(argv)
    if args.command == "client":
        return Client(args).run()
    if args.command == "audit":
        return Audit(args).run()
    if args.command == "table":
        return table(args.results)
    if args.command == "selftest":
        return selftest(args)
    if args.command == "cluster-check":
        return cluster_check(args)
    if args.command == "cluster-state":
        return cluster_state(args)
    return ping(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
