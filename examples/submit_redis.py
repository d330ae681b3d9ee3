#!/usr/bin/env python3
"""Submit a task tree to Baton straight through Redis (no gateway), wait for the answer, then
follow the tree's events until it finishes.

    pip install redis
    BATON_REDIS_URL=redis://127.0.0.1:6379/0 python3 examples/submit_redis.py examples/quickstart.json

The protocol is documented in docs/PROTOCOL.md ("Submitting without the gateway").
"""
import json
import os
import sys
import uuid

import redis


def main() -> int:
    url = os.environ.get("BATON_REDIS_URL", "redis://127.0.0.1:6379/0")
    namespace = os.environ.get("BATON_NAMESPACE", "baton")
    path = sys.argv[1] if len(sys.argv) > 1 else "examples/quickstart.json"
    with open(path, encoding="utf-8") as handle:
        tasks = json.load(handle)

    r = redis.Redis.from_url(url, decode_responses=True)
    request_id = str(uuid.uuid4())
    r.xadd(f"{namespace}:{{bus}}:submit", {
        "request_id": request_id,
        "user_id": os.environ.get("BATON_USER", "dev"),
        "tasks": json.dumps(tasks),
    })

    answer = r.blpop(f"{namespace}:submit:reply:{request_id}", timeout=30)
    if answer is None:
        print("no answer within 30 s: is a baton-scheduler running on this Redis?", file=sys.stderr)
        return 2
    reply = json.loads(answer[1])
    if not reply["ok"]:
        error = reply["error"]
        print(f"refused: {error['message']} (field {error.get('field')})", file=sys.stderr)
        return 1
    tree_id = reply["tree_id"]
    print(f"tree {tree_id}: {len(reply['task_ids'])} tasks", file=sys.stderr)

    stream = f"{namespace}:{{t:{tree_id}}}:events"
    last_id = "0"
    while True:
        for _, entries in r.xread({stream: last_id}, block=5000, count=500) or []:
            for entry_id, event in entries:
                last_id = entry_id
                print(f"{event['type']:15} {event['task_id']} [{event['status']}]", file=sys.stderr)
                if event["type"] == "tree_finished":
                    print(json.dumps({"tree_id": tree_id, "status": event["status"]}))
                    return 0


if __name__ == "__main__":
    sys.exit(main())
