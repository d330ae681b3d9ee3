/// The OpenAPI 3.1 document served at `/openapi.json`: every route, body, parameter and error of
/// the gateway, written by hand. `RouteTable` lists the same routes; a test checks they agree, and
/// `scripts/fuzz-api` checks the gateway's answers against this document with schemathesis.
enum OpenAPIDocument {
    static let json = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Baton gateway",
    "version": "1.0.0",
    "description": "HTTP API of Baton, a task orchestrator on Redis: create trees of tasks with dependencies and priorities, read them, cancel, re-execute, copy/link/archive, and stream every event of a tree (Server-Sent Events or WebSocket) with resume. Every /v1 route acts as the user of its API key (Authorization: Bearer <key>); another user's task or tree answers 404 exactly like a missing one; an admin key sees everything. Errors are {\"error\": {\"code\", \"message\", \"field\"?}}; bad input is always a 4xx and changes nothing."
  },
  "servers": [{"url": "/"}],
  "security": [{"bearerAuth": []}],
  "paths": {
    "/healthz": {
      "get": {
        "operationId": "healthz",
        "summary": "Liveness: the process answers",
        "security": [],
        "responses": {
          "200": {"description": "Alive", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}}
        }
      }
    },
    "/readyz": {
      "get": {
        "operationId": "readyz",
        "summary": "Readiness: every Redis master answers PING (on a cluster, each also says cluster_state:ok); the answer lists them under redis.masters, and what is wrong under redis.problems",
        "security": [],
        "responses": {
          "200": {"description": "Ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}}},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/metrics": {
      "get": {
        "operationId": "metrics",
        "summary": "Prometheus metrics (text exposition format 0.0.4)",
        "security": [],
        "responses": {
          "200": {"description": "Metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}
        }
      }
    },
    "/openapi.json": {
      "get": {
        "operationId": "openapi",
        "summary": "This document",
        "security": [],
        "responses": {
          "200": {"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}}
        }
      }
    },
    "/v1/trees": {
      "get": {
        "operationId": "listTrees",
        "summary": "The caller's trees (every user's for an admin), newest first, filtered by status and paginated",
        "parameters": [
          {"name": "status", "in": "query", "required": false, "schema": {"$ref": "#/components/schemas/TreeStatus"}},
          {"name": "user_id", "in": "query", "required": false, "description": "Admins only: one user's trees", "schema": {"type": "string", "maxLength": 255}},
          {"name": "limit", "in": "query", "required": false, "description": "Page size, default 50", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
          {"name": "cursor", "in": "query", "required": false, "description": "next_cursor of the previous page", "schema": {"type": "string", "maxLength": 1024}}
        ],
        "responses": {
          "200": {"description": "One page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TreePage"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "post": {
        "operationId": "createTree",
        "summary": "Validate and store a whole task array as one new tree",
        "description": "The body is the task array itself (apflow's format) or {\"tasks\": [...], \"execute\": true}. Everything is validated first (names present and unique, ids unique and free, at least one root, parents and dependencies resolvable, no cycles, priorities 0-3) and stored all or nothing. Ids are 1-255 bytes without '{', '}' or control characters; numbers have documented ranges (timeout_s up to 604800). command_executor and rest_executor are for admins unless the deployment's executor_policy says otherwise (403 naming the task and the executor). execute:false stores the tree without running it (POST /v1/trees/{id}/execute starts it). With an Idempotency-Key, a repeat of the same body gets the first answer again (header Idempotent-Replayed: true), and a repeat whose first request never answered (a 503, a cut connection, a dead gateway) completes that same submission; the same key with another body is refused (409). Within a priority, an executor type's ready tasks are shared round-robin between users (fairness.weights); executors.<type>.max_running and max_running_per_key (with a task's concurrency_key) hold tasks back at claim time (waiting.reason throttled). A 503 may also mean that an id is held by an earlier submission whose outcome is not known yet: retry.",
        "parameters": [
          {"name": "Idempotency-Key", "in": "header", "required": false, "description": "1 to 255 visible ASCII characters; remembered for 24 hours per user.", "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}}
        ],
        "requestBody": {
          "required": true,
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateTreeRequest"}}}
        },
        "responses": {
          "201": {
            "description": "Stored (and started unless execute was false)",
            "headers": {
              "Location": {"description": "/v1/trees/{tree_id}", "schema": {"type": "string"}},
              "Idempotent-Replayed": {"description": "true when this is the stored answer of an earlier request with the same Idempotency-Key", "schema": {"type": "string", "enum": ["true"]}}
            },
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Created"}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "422": {"$ref": "#/components/responses/Invalid"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/trees/{id}": {
      "get": {
        "operationId": "getTree",
        "summary": "A tree: status, progress, counts by status and its tasks nested by parent",
        "parameters": [
          {"$ref": "#/components/parameters/TreeID"},
          {"name": "flat", "in": "query", "required": false, "description": "true: tasks as a flat list in submission order", "schema": {"type": "boolean"}}
        ],
        "responses": {
          "200": {"description": "The tree", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TreeSnapshot"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "delete": {
        "operationId": "deleteTree",
        "summary": "Delete a finished (or archived) tree with its tasks, events and index entries",
        "description": "A running or waiting tree is refused (409) unless cancel=true: then it is cancelled, deleted at once when nothing runs any more (200), else deleted as soon as its running tasks stopped (202).",
        "parameters": [
          {"$ref": "#/components/parameters/TreeID"},
          {"name": "cancel", "in": "query", "required": false, "description": "true: cancel a running tree first", "schema": {"type": "boolean"}}
        ],
        "responses": {
          "200": {"description": "Deleted", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deleted"}}}},
          "202": {"description": "Cancelled; deleted once its running tasks stopped", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Deleted"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/trees/{id}/execute": {
      "post": {
        "operationId": "executeTree",
        "summary": "Start a stored tree (distribute_task_tree); on a started tree, queue again whatever is ready",
        "parameters": [{"$ref": "#/components/parameters/TreeID"}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EmptyRequest"}}}},
        "responses": {
          "200": {"description": "The tree record after the start", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TreeRecord"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/trees/{id}/cancel": {
      "post": {
        "operationId": "cancelTree",
        "summary": "Cancel every pending and in_progress task of a tree",
        "parameters": [{"$ref": "#/components/parameters/TreeID"}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CancelRequest"}}}},
        "responses": {
          "200": {"description": "One outcome per task the cancellation touched", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TreeCancelResult"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/trees/{id}/copy": {
      "post": {
        "operationId": "copyTree",
        "summary": "Copy a tree (or the subtree of task_id) into a new pending tree owned by the caller",
        "description": "New ids, origin_type copy, run state reset, dependencies remapped, overrides applied to every node. The copy is stored, not started.",
        "parameters": [{"$ref": "#/components/parameters/TreeID"}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CopyRequest"}}}},
        "responses": {
          "201": {"description": "The copy", "headers": {"Location": {"description": "/v1/trees/{tree_id}", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Created"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "422": {"$ref": "#/components/responses/Invalid"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/trees/{id}/link": {
      "post": {
        "operationId": "linkTree",
        "summary": "Link a fully completed tree: new completed nodes that resolve to the original's data",
        "description": "The link tree belongs to the caller; an admin links on behalf of the source tree's owner. Linking a tree with a node of another user is refused (403).",
        "parameters": [{"$ref": "#/components/parameters/TreeID"}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LinkRequest"}}}},
        "responses": {
          "201": {"description": "The link tree", "headers": {"Location": {"description": "/v1/trees/{tree_id}", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Created"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "422": {"$ref": "#/components/responses/Invalid"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/trees/{id}/archive": {
      "post": {
        "operationId": "archiveTree",
        "summary": "Archive a fully completed tree in place; it is read-only afterwards",
        "parameters": [{"$ref": "#/components/parameters/TreeID"}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EmptyRequest"}}}},
        "responses": {
          "200": {"description": "The archived tree's record", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TreeRecord"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/trees/{id}/mixed": {
      "post": {
        "operationId": "mixedTree",
        "summary": "A copy in which the listed completed tasks become links",
        "parameters": [{"$ref": "#/components/parameters/TreeID"}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MixedRequest"}}}},
        "responses": {
          "201": {"description": "The mixed tree", "headers": {"Location": {"description": "/v1/trees/{tree_id}", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Created"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "422": {"$ref": "#/components/responses/Invalid"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/trees/{id}/events": {
      "get": {
        "operationId": "streamTreeEvents",
        "summary": "Server-Sent Events: every event of the tree, with resume",
        "description": "Every event of the tree's stream from the beginning, or after the id in the Last-Event-ID header (it wins) or ?after=. Each event is a frame 'id: <event id>' + 'data: <Event JSON>'; comment lines keep idle streams alive. The stream ends after tree_finished unless follow=true. A resume id that was trimmed from the stream, a client too slow to keep up, or an unreachable Redis end the stream with 'event: error' and data {\"error\": {...}}.",
        "parameters": [
          {"$ref": "#/components/parameters/TreeID"},
          {"$ref": "#/components/parameters/LastEventID"},
          {"$ref": "#/components/parameters/After"},
          {"$ref": "#/components/parameters/Follow"}
        ],
        "responses": {
          "200": {"description": "An event stream", "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/ServerSentEvent"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/trees/{id}/ws": {
      "get": {
        "operationId": "streamTreeEventsWebSocket",
        "summary": "The same events over WebSocket",
        "description": "Upgrade with Connection: Upgrade, Upgrade: websocket. Each event arrives as one text message holding an Event; an error as {\"error\": {...}} before the close. Resume with ?after= (or Last-Event-ID); the socket closes after tree_finished unless follow=true. Every well-formed upgrade is accepted and checked on the socket (browsers never see a refused handshake's status): a missing key, an unknown or foreign tree or a bad resume id is answered by one message {\"error\": {...}} and a close with code 4000 + the HTTP status (4401, 4404, 4400). A GET without the upgrade headers gets the same checks as an HTTP answer, then 400.",
        "parameters": [
          {"$ref": "#/components/parameters/TreeID"},
          {"$ref": "#/components/parameters/LastEventID"},
          {"$ref": "#/components/parameters/After"},
          {"$ref": "#/components/parameters/Follow"}
        ],
        "responses": {
          "101": {"description": "Switching to the WebSocket protocol"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/agents": {
      "get": {
        "operationId": "listAgents",
        "summary": "The live agents: id, host, pid, version, executor types, concurrency, running tasks, last seen",
        "responses": {
          "200": {"description": "The agents", "content": {"application/json": {"schema": {"type": "object", "required": ["agents"], "properties": {"agents": {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}}}}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/executors": {
      "get": {
        "operationId": "listExecutors",
        "summary": "Per executor type served lately: ready tasks by priority, running, delayed, live agents and free slots, outcomes of the last minute",
        "responses": {
          "200": {"description": "The executor types", "content": {"application/json": {"schema": {"type": "object", "required": ["executors"], "properties": {"executors": {"type": "array", "items": {"$ref": "#/components/schemas/Executor"}}}}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/schedules": {
      "post": {
        "operationId": "createSchedule",
        "summary": "Create a schedule: the tree is stored as a template and, at each due time (cron or every_s), copied and the copy executed; each due time fires once however many schedulers run",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CreateScheduleRequest"}}}},
        "responses": {
          "201": {"description": "The schedule", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Schedule"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "422": {"$ref": "#/components/responses/Invalid"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "get": {
        "operationId": "listSchedules",
        "summary": "The caller's schedules (every user's for an admin), newest first",
        "responses": {
          "200": {"description": "The schedules", "content": {"application/json": {"schema": {"type": "object", "required": ["schedules"], "properties": {"schedules": {"type": "array", "items": {"$ref": "#/components/schemas/Schedule"}}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/schedules/{id}": {
      "get": {
        "operationId": "getSchedule",
        "summary": "One schedule: its timing, overlap policy, next and last due times, runs and skipped due times",
        "parameters": [{"$ref": "#/components/parameters/ScheduleID"}],
        "responses": {
          "200": {"description": "The schedule", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Schedule"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "delete": {
        "operationId": "deleteSchedule",
        "summary": "Delete a schedule and its template tree; the runs made so far stay",
        "parameters": [{"$ref": "#/components/parameters/ScheduleID"}],
        "responses": {
          "204": {"description": "Deleted"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/schedules/{id}/pause": {
      "post": {
        "operationId": "pauseSchedule",
        "summary": "Pause a schedule: no due time fires until it is resumed",
        "parameters": [{"$ref": "#/components/parameters/ScheduleID"}],
        "responses": {
          "200": {"description": "The schedule", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Schedule"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/schedules/{id}/resume": {
      "post": {
        "operationId": "resumeSchedule",
        "summary": "Resume a paused schedule: it fires next at the first due time after now",
        "parameters": [{"$ref": "#/components/parameters/ScheduleID"}],
        "responses": {
          "200": {"description": "The schedule", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Schedule"}}}},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/schedules/{id}/runs": {
      "get": {
        "operationId": "listScheduleRuns",
        "summary": "A schedule's runs, newest first (the newest 1,000 are kept): due time, the copy's tree id and its status now",
        "parameters": [{"$ref": "#/components/parameters/ScheduleID"}],
        "responses": {
          "200": {"description": "The runs", "content": {"application/json": {"schema": {"type": "object", "required": ["runs"], "properties": {"runs": {"type": "array", "items": {"$ref": "#/components/schemas/ScheduleRun"}}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/tasks": {
      "post": {
        "operationId": "createTask",
        "summary": "Create one task: with parent_id it joins the parent's tree, without it starts a tree of its own",
        "description": "A task joining a tree belongs to that tree's owner; its dependencies may name tasks of the same tree or of the caller's other trees. In a started tree it runs as soon as its dependencies allow.",
        "requestBody": {
          "required": true,
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskSubmission"}}}
        },
        "responses": {
          "201": {"description": "The new task", "headers": {"Location": {"description": "/v1/tasks/{id}", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Task"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "403": {"$ref": "#/components/responses/Forbidden"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "422": {"$ref": "#/components/responses/Invalid"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "get": {
        "operationId": "listTasks",
        "summary": "The caller's tasks (everyone's for an admin), oldest tree first, filtered and paginated",
        "parameters": [
          {"name": "status", "in": "query", "required": false, "schema": {"$ref": "#/components/schemas/TaskStatus"}},
          {"name": "tree_id", "in": "query", "required": false, "schema": {"type": "string", "maxLength": 255}},
          {"name": "executor", "in": "query", "required": false, "schema": {"type": "string", "maxLength": 1024}},
          {"name": "limit", "in": "query", "required": false, "description": "Page size, default 100", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
          {"name": "cursor", "in": "query", "required": false, "description": "next_cursor of the previous page", "schema": {"type": "string", "maxLength": 1024}}
        ],
        "responses": {
          "200": {"description": "One page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskPage"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/tasks/{id}": {
      "get": {
        "operationId": "getTask",
        "summary": "A task record (a link shows its original's data)",
        "parameters": [{"$ref": "#/components/parameters/TaskID"}],
        "responses": {
          "200": {"description": "The task", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Task"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/tasks/{id}/cancel": {
      "post": {
        "operationId": "cancelTask",
        "summary": "Cancel a task",
        "description": "A pending task is cancelled at once (stop_confirmed true); a running one is signalled and answers cancelled with stop_confirmed true when its executor stopped within about a second, else cancelling with stop_confirmed false. A terminal task is refused with 409 already_terminal and current_status.",
        "parameters": [{"$ref": "#/components/parameters/TaskID"}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CancelRequest"}}}},
        "responses": {
          "200": {"description": "The outcome", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CancelOutcome"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/v1/tasks/{id}/reexecute": {
      "post": {
        "operationId": "reexecuteTask",
        "summary": "Re-execute a failed or cancelled task (a completed one with include_completed) and its unfinished dependents",
        "parameters": [{"$ref": "#/components/parameters/TaskID"}],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReexecuteRequest"}}}},
        "responses": {
          "200": {"description": "The tasks reset to pending", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReexecuteResult"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "401": {"$ref": "#/components/responses/Unauthorized"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "409": {"$ref": "#/components/responses/Conflict"},
          "413": {"$ref": "#/components/responses/TooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API key from gateway.api_keys / BATON_API_KEYS (key=user[:admin])"}
    },
    "parameters": {
      "TreeID": {"name": "id", "in": "path", "required": true, "description": "A tree id (its root task's id)", "schema": {"type": "string", "minLength": 1}},
      "TaskID": {"name": "id", "in": "path", "required": true, "description": "A task id", "schema": {"type": "string", "minLength": 1}},
      "ScheduleID": {"name": "id", "in": "path", "required": true, "description": "A schedule id", "schema": {"type": "string", "minLength": 1}},
      "LastEventID": {"name": "Last-Event-ID", "in": "header", "required": false, "description": "Resume after this event id (sent by reconnecting SSE clients)", "schema": {"$ref": "#/components/schemas/EventID"}},
      "After": {"name": "after", "in": "query", "required": false, "description": "Resume after this event id", "schema": {"$ref": "#/components/schemas/EventID"}},
      "Follow": {"name": "follow", "in": "query", "required": false, "description": "Keep streaming after tree_finished", "schema": {"type": "boolean"}}
    },
    "responses": {
      "BadRequest": {"description": "Malformed request: bad JSON, a field of the wrong type, an unknown field, a bad id or query value (invalid_argument)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unauthorized": {"description": "No API key, or an unknown one (unauthorized)", "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Forbidden": {"description": "Not allowed for this caller, e.g. linking another user's task (forbidden)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "NotFound": {"description": "No such task or tree, or one of another user (not_found)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Conflict": {"description": "The state does not allow it: already_exists, already_terminal (with current_status), immutable (archived), conflict (not completed, Idempotency-Key reused with another body)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "TooLarge": {"description": "Body over the configured limit, or too many tasks (payload_too_large)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Invalid": {"description": "Well-formed but against the rules: validation_failed naming the field and task (validation_failed)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Unavailable": {"description": "Redis is unreachable or full (unavailable); retry after the Retry-After seconds", "headers": {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
      "Deleted": {"type": "object", "required": ["tree_id", "deleted"], "properties": {"tree_id": {"type": "string"}, "deleted": {"type": "boolean"}}},
      "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
          "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
              "code": {"type": "string", "enum": ["invalid_argument", "validation_failed", "not_found", "conflict", "already_exists", "immutable", "already_terminal", "unauthorized", "forbidden", "payload_too_large", "unavailable", "internal", "method_not_allowed"]},
              "message": {"type": "string"},
              "field": {"type": "string", "description": "The offending field, e.g. tasks[3].dependencies[0]"},
              "current_status": {"$ref": "#/components/schemas/TaskStatus"}
            },
            "additionalProperties": false
          }
        },
        "additionalProperties": false
      },
      "EventID": {"type": "string", "pattern": "^[0-9]{1,20}(-[0-9]{1,20})?$", "description": "A stream entry id such as 1700000000000-0"},
      "TaskStatus": {"type": "string", "enum": ["pending", "in_progress", "completed", "failed", "cancelled"]},
      "TreeStatus": {"type": "string", "enum": ["pending", "in_progress", "completed", "failed", "cancelled"]},
      "JSONObject": {"type": "object"},
      "Dependency": {
        "type": "object",
        "required": ["id", "required"],
        "properties": {"id": {"type": "string"}, "required": {"type": "boolean"}}
      },
      "Backoff": {
        "type": "object",
        "properties": {
          "strategy": {"type": ["string", "null"], "enum": ["fixed", "exponential", null], "description": "Default exponential"},
          "base_s": {"type": ["number", "null"], "minimum": 0, "maximum": 3600, "description": "Seconds, default 1"}
        }
      },
      "TaskSubmission": {
        "type": "object",
        "description": "One task as submitted (apflow's format; unknown fields are ignored, user_id too: the owner is the caller). The executor is executor, else params.executor_id, else schemas.method, else name.",
        "required": ["name"],
        "properties": {
          "id": {"type": ["string", "null"], "minLength": 1, "maxLength": 255, "description": "Default: a new UUID"},
          "name": {"type": "string", "minLength": 1, "description": "Unique in the array"},
          "executor": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
          "parent_id": {"type": ["string", "null"], "description": "An id or name in the array (POST /v1/trees) or an existing task's id (POST /v1/tasks)"},
          "priority": {"type": ["integer", "null"], "minimum": 0, "maximum": 3, "description": "0 urgent ... 3 low; default 2"},
          "dependencies": {
            "type": ["array", "null"],
            "items": {
              "anyOf": [
                {"type": "string", "description": "An id (or name) that must complete"},
                {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}, "required": {"type": ["boolean", "null"]}}},
                {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "required": {"type": ["boolean", "null"]}}}
              ]
            }
          },
          "inputs": {"type": ["object", "null"]},
          "params": {"type": ["object", "null"]},
          "schemas": {"type": ["object", "null"]},
          "timeout_s": {"type": ["number", "null"], "exclusiveMinimum": 0},
          "max_attempts": {"type": ["integer", "null"], "minimum": 1, "maximum": 100},
          "backoff": {"oneOf": [{"$ref": "#/components/schemas/Backoff"}, {"type": "null"}]},
          "concurrency_key": {"type": ["string", "null"], "minLength": 1, "maxLength": 200, "description": "Admission key (e.g. a customer id): the executor type's max_running_per_key bounds how many tasks of one key run at once. 1-200 bytes, no control characters"},
          "user_id": {"description": "Ignored: the owner is the caller"}
        }
      },
      "CreateScheduleRequest": {
        "type": "object",
        "required": ["tree"],
        "properties": {
          "tree": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/TaskSubmission"}, "description": "The template: validated and stored like a submission, never executed itself"},
          "cron": {"type": "string", "description": "5 fields (minute hour day month weekday) or 6 (seconds first); *, a-b, */n, lists, JAN-DEC, SUN-SAT, @hourly/@daily/@weekly/@monthly/@yearly. Exactly one of cron and every_s"},
          "every_s": {"type": "integer", "minimum": 1, "maximum": 31536000, "description": "Fire every so many seconds, counted from the creation"},
          "timezone": {"type": "string", "description": "IANA time zone of the cron fields (default UTC)"},
          "overlap": {"type": "string", "enum": ["skip", "allow", "cancel_previous"], "description": "What a due time does while the previous run has not finished (default skip)"}
        },
        "additionalProperties": false
      },
      "Schedule": {
        "type": "object",
        "required": ["schedule_id", "template_tree_id", "timezone", "overlap", "paused", "next_at", "runs", "skipped"],
        "properties": {
          "schedule_id": {"type": "string"}, "user_id": {"type": ["string", "null"]}, "template_tree_id": {"type": "string"},
          "cron": {"type": ["string", "null"]}, "every_s": {"type": ["integer", "null"]}, "timezone": {"type": "string"},
          "overlap": {"type": "string", "enum": ["skip", "allow", "cancel_previous"]}, "paused": {"type": "boolean"},
          "next_at": {"type": ["string", "null"], "format": "date-time", "description": "null while paused"},
          "last_at": {"type": ["string", "null"], "format": "date-time"}, "last_tree_id": {"type": ["string", "null"]},
          "runs": {"type": "integer"}, "skipped": {"type": "integer", "description": "Due times skipped because the previous run had not finished"},
          "created_at": {"type": ["string", "null"], "format": "date-time"}
        }
      },
      "ScheduleRun": {
        "type": "object",
        "required": ["due_at", "tree_id", "status"],
        "properties": {
          "due_at": {"type": "string", "format": "date-time"}, "tree_id": {"type": "string"},
          "status": {"type": ["string", "null"], "description": "The copy's status now; null once it was deleted (retention)"}
        }
      },
      "CreateTreeRequest": {
        "oneOf": [
          {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/TaskSubmission"}, "description": "apflow's array format"},
          {
            "type": "object",
            "required": ["tasks"],
            "properties": {
              "tasks": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/TaskSubmission"}},
              "execute": {"type": ["boolean", "null"], "description": "false: store without running (default true)"},
              "retention_s": {"type": ["integer", "null"], "minimum": 0, "description": "Seconds the tree is kept once finished (default retention.finished_s)"},
              "run_at": {"type": ["string", "null"], "format": "date-time", "description": "Store now, start at this time (at most 366 days ahead; a time gone starts at once). Not with execute: false"}
            },
            "additionalProperties": false
          }
        ]
      },
      "Created": {
        "type": "object",
        "required": ["tree_id", "task_ids"],
        "properties": {
          "tree_id": {"type": "string"},
          "task_ids": {"type": "array", "items": {"type": "string"}, "description": "Every task id, in submission order"},
          "warnings": {"type": "array", "items": {"type": "string"}, "description": "What will keep tasks waiting although they were accepted, e.g. an executor type no agent has served"}
        }
      },
      "Task": {
        "type": "object",
        "required": ["id", "tree_id", "parent_id", "name", "executor", "user_id", "priority", "dependencies", "inputs", "params", "schemas", "status", "result", "error", "progress", "created_at", "updated_at", "started_at", "completed_at", "cancel_requested_at", "attempt", "origin_type", "original_task_id", "has_children", "has_references", "timeout_s", "max_attempts", "backoff", "max_lease_losses", "lease_losses", "blocked_by", "concurrency_key"],
        "properties": {
          "id": {"type": "string"},
          "tree_id": {"type": "string"},
          "parent_id": {"type": ["string", "null"]},
          "name": {"type": "string"},
          "executor": {"type": "string"},
          "user_id": {"type": ["string", "null"]},
          "priority": {"type": "integer", "minimum": 0, "maximum": 3},
          "dependencies": {"type": "array", "items": {"$ref": "#/components/schemas/Dependency"}},
          "inputs": {"type": "object"},
          "params": {"type": "object"},
          "schemas": {"type": "object"},
          "status": {"$ref": "#/components/schemas/TaskStatus"},
          "result": {"description": "The executor's output (any JSON), null before"},
          "error": {"type": ["string", "null"]},
          "progress": {"type": "number", "minimum": 0, "maximum": 1},
          "created_at": {"type": ["string", "null"], "format": "date-time"},
          "updated_at": {"type": ["string", "null"], "format": "date-time"},
          "started_at": {"type": ["string", "null"], "format": "date-time"},
          "completed_at": {"type": ["string", "null"], "format": "date-time"},
          "cancel_requested_at": {"type": ["string", "null"], "format": "date-time"},
          "attempt": {"type": "integer", "minimum": 0},
          "origin_type": {"type": "string", "enum": ["create", "copy", "link", "archive"]},
          "original_task_id": {"type": ["string", "null"]},
          "has_children": {"type": "boolean"},
          "has_references": {"type": "boolean"},
          "timeout_s": {"type": ["number", "null"]},
          "max_attempts": {"type": "integer"},
          "backoff": {"oneOf": [{"$ref": "#/components/schemas/Backoff"}, {"type": "null"}]},
          "max_lease_losses": {"type": "integer"},
          "lease_losses": {"type": "integer"},
          "blocked_by": {"type": ["string", "null"], "description": "The failed or cancelled required dependency that keeps this pending task from running"},
          "concurrency_key": {"type": ["string", "null"]},
          "waiting": {"oneOf": [{"$ref": "#/components/schemas/Waiting"}, {"type": "null"}], "description": "Why a pending task is not running (GET /v1/tasks/{id} and GET /v1/trees/{id}); null for other statuses"}
        }
      },
      "Waiting": {
        "type": "object",
        "required": ["reason"],
        "properties": {
          "reason": {"type": "string", "enum": ["not_started", "dependencies", "blocked", "queued", "no_agent", "retry_backoff", "throttled"]},
          "unmet": {"type": "array", "description": "dependencies: the dependencies not resolved yet", "items": {"type": "object", "required": ["id", "status"], "properties": {"id": {"type": "string"}, "status": {"type": "string"}}}},
          "blocked_by": {"type": ["string", "null"], "description": "blocked: the failed or cancelled task at the origin"},
          "position": {"type": ["integer", "null"], "description": "queued (and throttled by max_running): 1-based place in its queue"},
          "ahead": {"type": ["integer", "null"], "description": "queued: tasks of higher or equal priority ahead of it"},
          "executor": {"type": ["string", "null"], "description": "queued, no_agent, throttled: the executor type"},
          "limit": {"type": ["string", "null"], "description": "throttled: the limit that holds it back, executors.<type>.max_running or executors.<type>.max_running_per_key"},
          "max": {"type": ["integer", "null"], "description": "throttled: the limit's value"},
          "running": {"type": ["integer", "null"], "description": "throttled: how much of it is in use (tasks of the type, or of the key, running or claimed)"},
          "concurrency_key": {"type": "string", "description": "throttled by max_running_per_key: the task's key"},
          "run_at": {"type": "string", "format": "date-time", "description": "not_started: when a tree submitted with run_at starts by itself"},
          "retry_at": {"type": ["string", "null"], "format": "date-time", "description": "retry_backoff: when the next attempt may start"}
        }
      },
      "TreePage": {
        "type": "object",
        "required": ["trees", "next_cursor"],
        "properties": {
          "trees": {"type": "array", "items": {"$ref": "#/components/schemas/TreeRecord"}},
          "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next page; null on the last page"}
        }
      },
      "Agent": {
        "type": "object",
        "required": ["id", "host", "pid", "version", "executors", "concurrency", "running", "free_slots", "started_at", "last_seen", "last_minute"],
        "properties": {
          "id": {"type": "string"}, "host": {"type": "string"}, "pid": {"type": "integer"}, "version": {"type": "string"},
          "executors": {"type": "array", "items": {"type": "string"}}, "concurrency": {"type": "integer"}, "running": {"type": "integer"},
          "free_slots": {"type": "integer"}, "started_at": {"type": "string", "format": "date-time"}, "last_seen": {"type": "string", "format": "date-time"},
          "last_minute": {"type": "object", "description": "Attempts that ended on this agent in the last minute, per executor type and outcome", "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}}}
        }
      },
      "Executor": {
        "type": "object",
        "required": ["executor", "ready", "ready_total", "running", "delayed", "agents", "free_slots", "completed_last_minute", "failed_last_minute", "oldest_ready_age_s"],
        "properties": {
          "executor": {"type": "string"},
          "ready": {"type": "object", "description": "Ready tasks by priority (keys 0-3)", "additionalProperties": {"type": "integer"}},
          "ready_total": {"type": "integer"}, "running": {"type": "integer"}, "delayed": {"type": "integer"},
          "agents": {"type": "integer"}, "free_slots": {"type": "integer"},
          "completed_last_minute": {"type": "integer"}, "failed_last_minute": {"type": "integer"},
          "oldest_ready_age_s": {"type": ["number", "null"]},
          "admission": {
            "type": "object", "description": "The type's limits as the schedulers published them, and their use",
            "properties": {
              "max_running": {"type": ["integer", "null"]}, "max_running_per_key": {"type": ["integer", "null"]},
              "running": {"type": "integer"}, "held": {"type": "integer", "description": "Tasks held back because their concurrency_key is at its limit"},
              "throttled_claims": {"type": "integer", "description": "Claims a limit held back since the queue was created"}
            }
          }
        }
      },
      "TaskNode": {
        "allOf": [
          {"$ref": "#/components/schemas/Task"},
          {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/components/schemas/TaskNode"}}}}
        ]
      },
      "TreeRecord": {
        "type": "object",
        "required": ["tree_id", "user_id", "root_id", "status", "started", "archived", "origin_type", "counts", "task_count", "progress", "created_at", "updated_at", "finished_at"],
        "properties": {
          "tree_id": {"type": "string"},
          "user_id": {"type": ["string", "null"]},
          "root_id": {"type": "string"},
          "status": {"$ref": "#/components/schemas/TreeStatus"},
          "started": {"type": "boolean"},
          "archived": {"type": "boolean"},
          "origin_type": {"type": "string", "description": "create, copy, link, mixed or archive"},
          "counts": {"type": "object", "additionalProperties": {"type": "integer"}, "description": "Tasks per status, plus blocked"},
          "task_count": {"type": "integer"},
          "progress": {"type": "number", "minimum": 0, "maximum": 1},
          "created_at": {"type": ["string", "null"], "format": "date-time"},
          "updated_at": {"type": ["string", "null"], "format": "date-time"},
          "finished_at": {"type": ["string", "null"], "format": "date-time"},
          "run_at": {"type": ["string", "null"], "format": "date-time", "description": "When a tree submitted with run_at starts"},
          "started_at": {"type": ["string", "null"], "format": "date-time", "description": "When the tree was started (its creation when it ran at once)"}
        }
      },
      "TreeSnapshot": {
        "allOf": [
          {"$ref": "#/components/schemas/TreeRecord"},
          {"type": "object", "required": ["tasks"], "properties": {"tasks": {"type": "array", "description": "Root tasks with nested children, or every task flat with ?flat=true", "items": {"$ref": "#/components/schemas/TaskNode"}}}}
        ]
      },
      "TaskPage": {
        "type": "object",
        "required": ["tasks", "next_cursor"],
        "properties": {
          "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
          "next_cursor": {"type": ["string", "null"], "description": "Pass as cursor for the next page; null on the last page"}
        }
      },
      "EmptyRequest": {"type": "object", "additionalProperties": false, "maxProperties": 0},
      "CancelRequest": {
        "type": "object",
        "properties": {"message": {"type": ["string", "null"], "description": "The cancelled tasks' error; default 'Cancellation requested'"}},
        "additionalProperties": false
      },
      "CancelOutcome": {
        "type": "object",
        "required": ["task_id", "status", "stop_confirmed"],
        "properties": {
          "task_id": {"type": "string"},
          "status": {"type": "string", "enum": ["cancelled", "cancelling"]},
          "stop_confirmed": {"type": "boolean"},
          "message": {"type": "string"}
        }
      },
      "TreeCancelResult": {
        "type": "object",
        "required": ["tree_id", "tasks"],
        "properties": {
          "tree_id": {"type": "string"},
          "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/CancelOutcome"}}
        }
      },
      "ReexecuteRequest": {
        "type": "object",
        "properties": {"include_completed": {"type": ["boolean", "null"], "description": "Also re-run a completed task"}},
        "additionalProperties": false
      },
      "ReexecuteResult": {
        "type": "object",
        "required": ["task_id", "task_ids"],
        "properties": {
          "task_id": {"type": "string"},
          "task_ids": {"type": "array", "items": {"type": "string"}, "description": "Every task reset to pending"}
        }
      },
      "Overrides": {
        "type": ["object", "null"],
        "description": "Applied to every copied node",
        "properties": {
          "inputs": {"type": ["object", "null"]},
          "params": {"type": ["object", "null"]},
          "priority": {"type": ["integer", "null"], "minimum": 0, "maximum": 3},
          "name": {"type": ["string", "null"], "minLength": 1}
        },
        "additionalProperties": false
      },
      "CopyRequest": {
        "type": "object",
        "properties": {
          "task_id": {"type": ["string", "null"], "description": "Copy this task's subtree (plus what its dependencies need) instead of the whole tree"},
          "recursive": {"type": ["boolean", "null"], "description": "false: copy task_id alone"},
          "overrides": {"$ref": "#/components/schemas/Overrides"}
        },
        "additionalProperties": false
      },
      "LinkRequest": {
        "type": "object",
        "properties": {"task_id": {"type": ["string", "null"], "description": "Link this task's subtree instead of the whole tree"}},
        "additionalProperties": false
      },
      "MixedRequest": {
        "type": "object",
        "properties": {
          "task_id": {"type": ["string", "null"]},
          "link_task_ids": {"type": ["array", "null"], "items": {"type": "string"}, "description": "Completed tasks of the copied part that become links"},
          "overrides": {"$ref": "#/components/schemas/Overrides"}
        },
        "additionalProperties": false
      },
      "ServerSentEvent": {
        "type": "object",
        "description": "One Server-Sent Event as parsed from the stream: data is an Event (event message) or an Error (event error)",
        "required": ["data"],
        "properties": {
          "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"oneOf": [{"$ref": "#/components/schemas/Event"}, {"$ref": "#/components/schemas/Error"}]}},
          "event": {"type": "string", "enum": ["message", "error"]},
          "id": {"$ref": "#/components/schemas/EventID"},
          "retry": {"type": "integer"}
        }
      },
      "Event": {
        "type": "object",
        "description": "One event of a tree's stream (SSE data / WebSocket message)",
        "required": ["id", "type", "tree_id", "task_id", "status", "timestamp"],
        "properties": {
          "id": {"$ref": "#/components/schemas/EventID"},
          "type": {"type": "string", "description": "task_created, task_started, progress, task_completed, task_failed, task_requeued, task_blocked, cancel_requested, task_cancelled, task_reset, tree_archived, tree_finished"},
          "tree_id": {"type": "string"},
          "task_id": {"type": "string", "description": "The tree id for tree_finished"},
          "status": {"type": "string", "description": "The task's status after the event (the tree's for tree_finished)"},
          "timestamp": {"type": "integer", "description": "Epoch milliseconds of the transition"},
          "result": {"description": "task_completed: the executor's result"},
          "error": {"type": "string"},
          "progress": {"type": "number"},
          "attempt": {"type": "integer"},
          "blocked_by": {"type": "string"},
          "will_retry": {"type": "boolean"},
          "retry_at": {"type": "integer"},
          "reason": {"type": "string"}
        }
      }
    }
  }
}
"""#
}
