"""Submits a tree that mixes Baton's built-in Swift executors with the Python ``py_shout``, follows
its events and prints the results.

    BATON_GATEWAY_URL=http://127.0.0.1:PORT BATON_API_KEY=dev-key python clients/python/examples/submit_tree.py
"""

from __future__ import annotations

import json
import os
import uuid

import baton

client = baton.Client(os.environ.get("BATON_GATEWAY_URL", "http://127.0.0.1:8080"), os.environ.get("BATON_API_KEY", "dev-key"))
run = uuid.uuid4().hex[:6]
created = client.submit([
    # Swift: echo_executor returns inputs.ret.
    {"id": f"greet-{run}", "name": "greet", "executor": "echo_executor", "inputs": {"ret": "hello from swift"}},
    # Swift: sleep_executor sleeps, reporting progress.
    {"id": f"pause-{run}", "name": "pause", "executor": "sleep_executor", "inputs": {"seconds": 1},
     "parent_id": f"greet-{run}"},
    # Python: runs once both are done, with their results merged into its inputs.
    {"id": f"shout-{run}", "name": "shout", "executor": "py_shout", "parent_id": f"greet-{run}",
     "inputs": {"extra": "and python"}, "dependencies": [f"greet-{run}", f"pause-{run}"]},
    # Swift again, on the Python task's result.
    {"id": f"echo-{run}", "name": "echo back", "executor": "echo_executor", "parent_id": f"greet-{run}",
     "dependencies": [f"shout-{run}"]},
])
for warning in created.get("warnings", []):
    print("warning:", warning)
for event in client.events(created["tree_id"]):  # resumes by itself if the connection drops
    print(f"{event['type']:15} {event['task_id']:14} {event['status']}")
tree = client.tree(created["tree_id"], flat=True)
print("tree", tree["tree_id"], tree["status"])
for task in tree["tasks"]:
    print(f"  {task['name']:10} {task['executor']:15} {json.dumps(task['result'])}")
