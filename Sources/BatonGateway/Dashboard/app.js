// Baton dashboard: one script for every page, picked by <body data-page>.
// Plain ES2020, no framework, no build step, no external requests.
//
// Rules kept throughout:
// - Every API call goes through api(): same-origin cookie, X-Baton-CSRF on POST/DELETE,
//   401 -> /dashboard/login.
// - Every async entry point catches its errors and shows them in #flash, so nothing reaches the
//   console as an error or an unhandled rejection.
// - Text from the API is only ever set with textContent (never innerHTML).
// - The API key is never read, stored or logged here: the login form posts it to the gateway.
"use strict";

(() => {
  // ---------------------------------------------------------------------------------------------
  // Shared helpers
  // ---------------------------------------------------------------------------------------------

  const STATUSES = ["pending", "in_progress", "completed", "failed", "cancelled"];
  const ACTIVE = new Set(["pending", "in_progress"]);
  const RERUNNABLE = new Set(["failed", "cancelled", "completed"]);
  const POLL_MS = 2000;

  const $ = (selector, root = document) => root.querySelector(selector);
  const enc = encodeURIComponent;

  /** Creates an element with an optional class and text. */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** "in_progress" -> "in progress". */
  const label = (status) => String(status || "").replace(/_/g, " ");

  /** A 0..1 number from anything (events may carry numbers or numeric strings). */
  function fraction(value) {
    const n = typeof value === "number" ? value : parseFloat(value);
    if (!Number.isFinite(n)) return 0;
    return Math.min(1, Math.max(0, n));
  }

  const percent = (value) => `${Math.round(fraction(value) * 100)}%`;

  /** Epoch ms of an RFC 3339 string or an epoch-ms number; NaN when unknown. */
  function millis(value) {
    if (typeof value === "number") return value;
    if (typeof value === "string" && value) {
      if (/^\d+$/.test(value)) return Number(value);
      return Date.parse(value);
    }
    return NaN;
  }

  const pad2 = (n) => String(n).padStart(2, "0");

  /** Local "YYYY-MM-DD HH:MM:SS" for a time, "—" when there is none. */
  function formatTime(value) {
    const ms = millis(value);
    if (!Number.isFinite(ms)) return "—";
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
      `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  }

  /** "12 s", "4 min", "2 h" for a duration in seconds. */
  function formatDuration(seconds) {
    if (!Number.isFinite(seconds)) return "—";
    const s = Math.max(0, Math.round(seconds));
    if (s < 90) return `${s} s`;
    if (s < 90 * 60) return `${Math.round(s / 60)} min`;
    if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
    return `${Math.round(s / 86400)} d`;
  }

  /** "12 s ago" / "in 12 s" relative to now. */
  function formatRelative(value) {
    const ms = millis(value);
    if (!Number.isFinite(ms)) return "—";
    const delta = (ms - Date.now()) / 1000;
    return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
  }

  /** A <time> element showing local time, with the raw value as tooltip. */
  function timeCell(value) {
    const node = el("time", null, formatTime(value));
    if (value !== null && value !== undefined) {
      const ms = millis(value);
      if (Number.isFinite(ms)) node.dateTime = new Date(ms).toISOString();
      node.title = String(value);
    }
    return node;
  }

  /** A progress bar: <span.bar><span.fill>. Width set through CSSOM (allowed under a strict CSP). */
  function progressBar(value, className = "bar") {
    const bar = el("span", className);
    const fill = el("span", "fill");
    fill.style.width = percent(value);
    bar.appendChild(fill);
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", "100");
    bar.setAttribute("aria-valuenow", String(Math.round(fraction(value) * 100)));
    return bar;
  }

  function setBar(bar, value) {
    bar.firstChild.style.width = percent(value);
    bar.setAttribute("aria-valuenow", String(Math.round(fraction(value) * 100)));
  }

  /** Status chips ("3 completed") into `container`; zero counts left out unless `all`. */
  function renderCounts(container, counts, { all = false, extra = null } = {}) {
    const frag = document.createDocumentFragment();
    const keys = [...STATUSES];
    for (const key of Object.keys(counts || {})) if (!keys.includes(key)) keys.push(key);
    for (const key of keys) {
      const n = Number((counts || {})[key] || 0);
      if (!n && !all) continue;
      const chip = el("span", `chip st-${key}`);
      chip.appendChild(el("b", null, n));
      chip.appendChild(document.createTextNode(` ${label(key)}`));
      frag.appendChild(chip);
    }
    if (extra) frag.appendChild(extra);
    container.replaceChildren(frag);
  }

  /** A status badge. */
  function badge(status) {
    return el("span", `badge st-${status}`, label(status));
  }

  // --- Flash: the visible status area (#flash) -------------------------------------------------

  let flashTimer = null;

  /** Shows `message` in #flash. kind: "error" | "info". `key` lets a later clearFlash(key) remove it. */
  function flash(message, kind = "error", key = "") {
    const box = $("#flash") || $("#login-error");
    if (!box) return;
    clearTimeout(flashTimer);
    box.className = `flash flash-${kind}`;
    box.dataset.key = key;
    const text = el("span", "flash-text", message);
    const close = el("button", "flash-close", "×");
    close.type = "button";
    close.title = "Dismiss";
    close.setAttribute("aria-label", "Dismiss message");
    close.addEventListener("click", () => { box.hidden = true; });
    box.replaceChildren(text, close);
    box.hidden = false;
    // Informational messages fade by themselves; errors stay until dismissed or replaced.
    if (kind === "info") flashTimer = setTimeout(() => { box.hidden = true; }, 5000);
  }

  /** Hides #flash if it currently shows the message with `key`. */
  function clearFlash(key) {
    const box = $("#flash");
    if (box && !box.hidden && box.dataset.key === key) box.hidden = true;
  }

  // --- API --------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status, code, field) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.code = code || "";
      this.field = field || "";
    }
  }

  let leaving = false;

  /** Goes to the login page once (several requests may see the 401 at the same time). */
  function goToLogin() {
    if (leaving) return;
    leaving = true;
    window.location.assign("/dashboard/login");
  }

  /** The CSRF token the gateway put into <meta name="baton-csrf">. */
  function csrfToken() {
    const meta = document.querySelector('meta[name="baton-csrf"]');
    return meta ? meta.content : "";
  }

  /**
   * fetch() for the JSON API. Resolves with the parsed body (null when empty), rejects with an
   * ApiError carrying the gateway's {"error": {code, message, field}}. On 401 it navigates to the
   * login page and never settles, so callers simply stop.
   */
  async function api(path, { method = "GET", body } = {}) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET" && method !== "HEAD") {
      headers["X-Baton-CSRF"] = csrfToken();
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body === undefined ? {} : body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (_) {
      throw new ApiError("Cannot reach the gateway; retrying", 0, "network");
    }
    if (response.status === 401) {
      goToLogin();
      return new Promise(() => {});
    }
    let text = "";
    try {
      text = await response.text();
    } catch (_) {
      throw new ApiError("The connection to the gateway broke; retrying", 0, "network");
    }
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = null; }
    }
    if (!response.ok) {
      const err = data && data.error;
      const message = (err && err.message) || `${method} ${path} failed: HTTP ${response.status}`;
      throw new ApiError(message, response.status, err && err.code, err && err.field);
    }
    return data;
  }

  /** Shows an error from api() (or anything else) without letting it escape. */
  function reportError(error, key = "") {
    if (leaving) return;
    const network = error instanceof ApiError && error.code === "network";
    const message = error instanceof Error ? error.message : String(error);
    flash(message, "error", network ? "network" : key);
  }

  /**
   * Runs `fn` now and then every `interval` ms after each run finished (never overlapping).
   * Skips runs while the tab is hidden and catches up when it is shown. Returns { now() }.
   */
  function poll(fn, interval = POLL_MS) {
    let timer = null;
    let running = false;
    let again = false;

    async function tick() {
      timer = null;
      if (leaving) return;
      if (document.hidden) { timer = setTimeout(tick, interval); return; }
      running = true;
      try {
        await fn();
        clearFlash("network");
      } catch (error) {
        reportError(error);
      } finally {
        running = false;
      }
      if (leaving) return;
      if (again) { again = false; tick(); return; }
      timer = setTimeout(tick, interval);
    }

    function now() {
      if (running) { again = true; return; }
      clearTimeout(timer);
      tick();
    }

    document.addEventListener("visibilitychange", () => { if (!document.hidden) now(); });
    tick();
    return { now };
  }

  // --- Nav ---------------------------------------------------------------------------------------

  function setUpSignOut() {
    const button = $("#sign-out");
    if (!button) return;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const response = await fetch("/dashboard/logout", {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-Baton-CSRF": csrfToken() },
        });
        // 204 signed out; 401 was not signed in anyway: both end on the login page.
        if (response.status === 204 || response.status === 401 || response.ok) {
          leaving = true;
          window.location.assign("/dashboard/login");
          return;
        }
        flash(`Sign out failed: HTTP ${response.status}`);
      } catch (_) {
        flash("Sign out failed: cannot reach the gateway");
      }
      button.disabled = false;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Login page
  // ---------------------------------------------------------------------------------------------

  function loginPage() {
    // The gateway redirects a wrong key to /dashboard/login?error=1.
    const params = new URLSearchParams(window.location.search);
    if (params.get("error")) {
      const box = $("#login-error");
      if (box) box.hidden = false;
    }
    const input = $('input[name="api_key"]');
    if (input) input.focus();
  }

  // ---------------------------------------------------------------------------------------------
  // Trees page (/dashboard)
  // ---------------------------------------------------------------------------------------------

  function treesPage() {
    const body = $("#trees-body");
    const filter = $("#status-filter");
    const nextButton = $("#page-next");
    const firstButton = $("#page-first");
    const updated = $("#updated");
    const rows = new Map(); // tree_id -> { tr, cells }
    let cursor = null; // cursor of the page shown (null: first page)
    let nextCursor = null;

    // The filter lives in the URL (?status=) so a reload or a shared link keeps it.
    const initial = new URLSearchParams(window.location.search).get("status") || "";
    if (STATUSES.includes(initial)) filter.value = initial;

    /** A row with its cells; filled in by updateRow. */
    function makeRow(treeId) {
      const tr = el("tr", "tree-row");
      tr.dataset.treeId = treeId;
      const link = el("a", "tree-link mono", treeId);
      link.href = `/dashboard/trees/${enc(treeId)}`;
      const cells = {
        id: el("td"), status: el("td"), progress: el("td", "col-progress"),
        tasks: el("td", "num"), counts: el("td", "counts"), created: el("td", "nowrap"),
      };
      cells.id.appendChild(link);
      cells.bar = progressBar(0);
      cells.pct = el("span", "pct");
      cells.progress.append(cells.bar, cells.pct);
      tr.append(cells.id, cells.status, cells.progress, cells.tasks, cells.counts, cells.created);
      return { tr, cells, key: "" };
    }

    function updateRow(row, tree) {
      const status = tree.status || "pending";
      // Only touch the DOM when something shown changed.
      const key = JSON.stringify([status, tree.progress, tree.task_count, tree.counts, tree.created_at, tree.archived, tree.started]);
      if (key === row.key) return;
      row.key = key;
      row.tr.dataset.status = status;
      row.tr.className = `tree-row st-${status}`;
      const statusBadge = badge(status);
      row.cells.status.replaceChildren(statusBadge);
      if (!tree.started && status === "pending") row.cells.status.appendChild(el("span", "tag", "not started"));
      if (tree.archived) row.cells.status.appendChild(el("span", "tag", "archived"));
      setBar(row.cells.bar, tree.progress);
      row.cells.pct.textContent = percent(tree.progress);
      row.cells.tasks.textContent = String(tree.task_count ?? "—");
      renderCounts(row.cells.counts, tree.counts);
      row.cells.created.replaceChildren(timeCell(tree.created_at));
    }

    function render(trees) {
      const frag = document.createDocumentFragment();
      const seen = new Set();
      for (const tree of trees) {
        if (!tree || typeof tree.tree_id !== "string") continue;
        let row = rows.get(tree.tree_id);
        if (!row) { row = makeRow(tree.tree_id); rows.set(tree.tree_id, row); }
        updateRow(row, tree);
        seen.add(tree.tree_id);
        frag.appendChild(row.tr); // moves an existing row into the new order
      }
      for (const id of [...rows.keys()]) if (!seen.has(id)) rows.delete(id);
      if (!seen.size) {
        const tr = el("tr", "placeholder");
        const td = el("td", "muted", filter.value ? `No ${label(filter.value)} trees.` : "No trees yet.");
        td.colSpan = 6;
        tr.appendChild(td);
        frag.appendChild(tr);
      }
      body.replaceChildren(frag);
    }

    async function load() {
      let url = "/v1/trees?limit=50";
      if (filter.value) url += `&status=${enc(filter.value)}`;
      if (cursor) url += `&cursor=${enc(cursor)}`;
      const data = await api(url);
      render((data && data.trees) || []);
      nextCursor = (data && data.next_cursor) || null;
      nextButton.hidden = !nextCursor;
      firstButton.hidden = !cursor;
      updated.textContent = `Updated ${formatTime(Date.now())}`;
    }

    const poller = poll(load);

    filter.addEventListener("change", () => {
      cursor = null;
      const url = new URL(window.location.href);
      if (filter.value) url.searchParams.set("status", filter.value);
      else url.searchParams.delete("status");
      window.history.replaceState(null, "", url.pathname + url.search);
      poller.now();
    });
    nextButton.addEventListener("click", () => { if (nextCursor) { cursor = nextCursor; poller.now(); } });
    firstButton.addEventListener("click", () => { cursor = null; poller.now(); });
  }

  // ---------------------------------------------------------------------------------------------
  // Executors page (/dashboard/executors)
  // ---------------------------------------------------------------------------------------------

  function executorsPage() {
    const executorsBody = $("#executors-body");
    const agentsBody = $("#agents-body");
    const schedulesBody = $("#schedules-body");
    const updated = $("#updated");

    /** A <tr> of plain cells; a cell spec is text or a Node, objects give { v, cls }. */
    function row(cells, attrs) {
      const tr = el("tr");
      for (const [name, value] of Object.entries(attrs || {})) tr.dataset[name] = value;
      for (const cell of cells) {
        const spec = cell !== null && typeof cell === "object" && !(cell instanceof Node) ? cell : { v: cell };
        const td = el("td", spec.cls || "");
        if (spec.v instanceof Node) td.appendChild(spec.v);
        else td.textContent = spec.v === null || spec.v === undefined ? "—" : String(spec.v);
        if (spec.title) td.title = spec.title;
        tr.appendChild(td);
      }
      return tr;
    }

    function placeholder(text, span) {
      const tr = el("tr", "placeholder");
      const td = el("td", "muted", text);
      td.colSpan = span;
      tr.appendChild(td);
      return tr;
    }

    // "running 3 / 5 · 2 per key", or "none" without limits.
    function limitsText(admission) {
      if (!admission) return null;
      const parts = [];
      if (admission.max_running !== null && admission.max_running !== undefined) {
        parts.push(`${admission.running ?? 0} / ${admission.max_running}`);
      }
      if (admission.max_running_per_key !== null && admission.max_running_per_key !== undefined) {
        parts.push(`${admission.max_running_per_key} per key`);
      }
      return parts.length ? parts.join(" · ") : "none";
    }

    function renderExecutors(list) {
      const frag = document.createDocumentFragment();
      for (const x of list) {
        const ready = x.ready || {};
        const byPriority = [0, 1, 2, 3].map((p) => ready[p] ?? ready[String(p)] ?? 0).join(" / ");
        const idle = Number(x.agents || 0) === 0 && Number(x.ready_total || 0) > 0;
        const tr = row([
          { v: x.executor, cls: "mono" },
          { v: x.ready_total, cls: "num" },
          { v: byPriority, cls: "mono" },
          { v: x.running, cls: "num" },
          { v: x.delayed, cls: "num" },
          { v: x.agents, cls: idle ? "num warn" : "num", title: idle ? "Tasks are ready but no agent serves this executor" : "" },
          { v: x.free_slots, cls: "num" },
          { v: x.completed_last_minute, cls: "num" },
          { v: x.failed_last_minute, cls: Number(x.failed_last_minute) > 0 ? "num bad" : "num" },
          { v: x.oldest_ready_age_s === null || x.oldest_ready_age_s === undefined ? "—" : formatDuration(Number(x.oldest_ready_age_s)), cls: "num" },
          { v: limitsText(x.admission), cls: "mono" },
          { v: x.admission ? x.admission.held : null, cls: "num" },
          { v: x.admission ? x.admission.throttled_claims : null, cls: "num" },
        ], { executor: String(x.executor) });
        frag.appendChild(tr);
      }
      if (!list.length) frag.appendChild(placeholder("No executors have queues yet.", 13));
      executorsBody.replaceChildren(frag);
    }

    function renderAgents(list) {
      const frag = document.createDocumentFragment();
      for (const a of list) {
        const seenAgo = (Date.now() - millis(a.last_seen)) / 1000;
        const stale = Number.isFinite(seenAgo) && seenAgo > 30;
        const running = el("span", null, `${a.running ?? 0} / ${a.concurrency ?? "?"}`);
        const execs = Array.isArray(a.executors) ? a.executors.join(", ") : "";
        const seen = el("span", stale ? "bad" : null, formatRelative(a.last_seen));
        seen.title = formatTime(a.last_seen);
        const tr = row([
          { v: a.id, cls: "mono" },
          a.host,
          { v: a.pid, cls: "num" },
          a.version,
          { v: execs, cls: "mono" },
          running,
          timeCell(a.started_at),
          seen,
        ], { agentId: String(a.id) });
        if (stale) tr.classList.add("stale");
        frag.appendChild(tr);
      }
      if (!list.length) frag.appendChild(placeholder("No agents are connected.", 8));
      agentsBody.replaceChildren(frag);
    }

    function renderSchedules(list) {
      const frag = document.createDocumentFragment();
      for (const s of list) {
        const when = s.cron ? `cron ${s.cron} (${s.timezone})` : `every ${s.every_s} s`;
        let last = "—";
        if (s.last_tree_id) {
          last = el("a", "mono", s.last_tree_id);
          last.href = `/dashboard/trees/${enc(s.last_tree_id)}`;
        }
        frag.appendChild(row([
          { v: s.schedule_id, cls: "mono" },
          { v: when, cls: "mono" },
          s.overlap,
          s.paused ? el("span", "warn", "paused") : timeCell(s.next_at),
          { v: s.runs, cls: "num" },
          { v: s.skipped, cls: Number(s.skipped) > 0 ? "num warn" : "num" },
          last,
        ], { scheduleId: String(s.schedule_id) }));
      }
      if (!list.length) frag.appendChild(placeholder("No schedules.", 7));
      schedulesBody.replaceChildren(frag);
    }

    poll(async () => {
      // All requests at once; each table shows what it got.
      const [executors, agents, schedules] = await Promise.allSettled([api("/v1/executors"), api("/v1/agents"), api("/v1/schedules")]);
      if (executors.status === "fulfilled") renderExecutors((executors.value && executors.value.executors) || []);
      if (agents.status === "fulfilled") renderAgents((agents.value && agents.value.agents) || []);
      if (schedules.status === "fulfilled") renderSchedules((schedules.value && schedules.value.schedules) || []);
      const failed = [executors, agents, schedules].find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
      updated.textContent = `Updated ${formatTime(Date.now())}`;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Tree page (/dashboard/trees/<id>)
  // ---------------------------------------------------------------------------------------------

  /** One-line summary of a task's `waiting` object, "" when it is not waiting. */
  function waitingSummary(waiting) {
    if (!waiting || typeof waiting !== "object" || !waiting.reason) return "";
    switch (waiting.reason) {
      case "not_started":
        return Number.isFinite(millis(waiting.run_at))
          ? `starts at ${formatTime(waiting.run_at)} (${formatRelative(waiting.run_at)})`
          : "tree not started";
      case "dependencies": {
        const unmet = Array.isArray(waiting.unmet) ? waiting.unmet : [];
        if (!unmet.length) return "waiting for dependencies";
        const shown = unmet.slice(0, 3).map((d) => `${d.id} (${label(d.status)})`).join(", ");
        return `waiting for ${unmet.length} dependenc${unmet.length === 1 ? "y" : "ies"}: ${shown}${unmet.length > 3 ? ", …" : ""}`;
      }
      case "blocked":
        return waiting.blocked_by ? `blocked by ${waiting.blocked_by}` : "blocked";
      case "queued": {
        const parts = [];
        if (waiting.position !== undefined && waiting.position !== null) parts.push(`position ${waiting.position}`);
        if (Array.isArray(waiting.ahead)) parts.push(`${waiting.ahead.length} ahead`);
        else if (waiting.ahead !== undefined && waiting.ahead !== null) parts.push(`${waiting.ahead} ahead`);
        return parts.length ? `queued: ${parts.join(", ")}` : "queued";
      }
      case "no_agent":
        return waiting.executor ? `no agent serves ${waiting.executor}` : "no agent";
      case "retry_backoff":
        return Number.isFinite(millis(waiting.retry_at))
          ? `retry at ${formatTime(waiting.retry_at).slice(11)} (${formatRelative(waiting.retry_at)})`
          : "waiting to retry";
      case "throttled": {
        const limit = waiting.limit ? String(waiting.limit).split(".").pop() : "a limit";
        const use = waiting.max !== undefined && waiting.max !== null ? ` (${waiting.running ?? "?"} / ${waiting.max})` : "";
        const key = waiting.concurrency_key ? ` for key ${waiting.concurrency_key}` : "";
        return `throttled by ${limit}${key}${use}`;
      }
      default: {
        const extra = Object.keys(waiting).filter((k) => k !== "reason")
          .map((k) => `${k} ${typeof waiting[k] === "object" ? JSON.stringify(waiting[k]) : waiting[k]}`);
        return `${label(waiting.reason)}${extra.length ? `: ${extra.join(", ")}` : ""}`;
      }
    }
  }

  /** JSON for a <pre>, cut at a size a browser still lays out quickly. */
  function prettyJSON(value, limit = 20000) {
    let text;
    try { text = JSON.stringify(value, null, 2); } catch (_) { text = String(value); }
    if (text === undefined) text = "null";
    return text.length > limit ? `${text.slice(0, limit)}\n… (${text.length - limit} more characters)` : text;
  }

  const COLLAPSE_OVER = 50; // a parent with more children than this starts collapsed
  const REFETCH_MS = 2000; // at most one tree re-fetch per 2 s
  const BACKGROUND_REFRESH_MS = 10000; // refresh `waiting` etc. even without events

  function treePage() {
    const treeId = document.body.dataset.treeId || "";
    const treeUrl = `/v1/trees/${enc(treeId)}`;
    const list = $("#task-tree");
    const details = $("#task-details");
    $("#tree-id").textContent = treeId;

    // --- Model -----------------------------------------------------------------------------------
    // nodes: id -> node. A node keeps the latest task JSON (`t`), tree links, subtree counts and,
    // once rendered, its elements. Events and re-fetches update nodes and mark them dirty; a
    // flush (once per frame) writes only the dirty parts to the DOM.
    const nodes = new Map();
    const roots = [];
    const dependents = new Map(); // dep id -> [ids that depend on it]
    const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
    let blockedCount = 0;
    let progressSum = 0;
    let tree = null; // the tree record
    let treeTs = 0; // ms of the newest tree state shown
    let selected = null; // the node shown in #task-details

    const emptyCounts = () => Object.fromEntries(STATUSES.map((s) => [s, 0]));

    function newNode(task) {
      const status = STATUSES.includes(task.status) ? task.status : "pending";
      return {
        id: task.id,
        t: task,
        status,
        progress: fraction(task.progress),
        ts: millis(task.updated_at) || 0, // newest known transition time (epoch ms)
        blocked: false,
        parent: null,
        kids: [],
        sub: emptyCounts(), // statuses of all descendants (not the node itself)
        expanded: true,
        kidsRendered: false,
        li: null, // rendered elements (null while inside a collapsed subtree)
        ui: null,
        shown: {}, // what the DOM currently shows, to skip no-op writes
      };
    }

    /** Ancestors of a node, nearest first (guards against a malformed parent cycle). */
    function* ancestors(node) {
      let p = node.parent;
      let guard = nodes.size;
      while (p && guard-- > 0) { yield p; p = p.parent; }
    }

    /** Adds new tasks to the model (first load or tasks added later); returns the new nodes. */
    function addTasks(tasks) {
      const fresh = [];
      for (const task of tasks) {
        if (!task || typeof task.id !== "string" || nodes.has(task.id)) continue;
        const node = newNode(task);
        nodes.set(task.id, node);
        fresh.push(node);
      }
      // Link first (a child may come before its parent), then count: each fresh node adds itself
      // to the subtree counts of all its ancestors.
      for (const node of fresh) {
        const parent = node.t.parent_id ? nodes.get(node.t.parent_id) : null;
        if (parent && parent !== node) { node.parent = parent; parent.kids.push(node); } else roots.push(node);
        for (const dep of node.t.dependencies || []) {
          if (!dep || typeof dep.id !== "string") continue;
          if (!dependents.has(dep.id)) dependents.set(dep.id, []);
          dependents.get(dep.id).push(node.id);
        }
      }
      for (const node of fresh) {
        // Big families start collapsed: their children are not built until expanded.
        node.expanded = node.kids.length <= COLLAPSE_OVER;
        counts[node.status] += 1;
        progressSum += node.progress;
        refreshBlocked(node);
        for (const p of ancestors(node)) { p.sub[node.status] += 1; markSub(p); }
      }
      return fresh;
    }

    function refreshBlocked(node) {
      const blocked = node.status === "pending" && !!node.t.blocked_by;
      if (blocked !== node.blocked) { blockedCount += blocked ? 1 : -1; node.blocked = blocked; }
    }

    function setStatus(node, status) {
      if (!STATUSES.includes(status) || status === node.status) return;
      const old = node.status;
      counts[old] -= 1;
      counts[status] += 1;
      for (const p of ancestors(node)) { p.sub[old] -= 1; p.sub[status] += 1; markSub(p); }
      node.status = status;
      node.t.status = status;
    }

    function setProgress(node, value) {
      const p = fraction(value);
      progressSum += p - node.progress;
      node.progress = p;
      node.t.progress = p;
    }

    // --- Dirty tracking and flush -------------------------------------------------------------------

    const dirty = new Set();
    const dirtySub = new Set();
    let headerDirty = true;
    let detailsDirty = false;
    let flushQueued = false;
    let lastDetails = 0;
    let detailsTimer = null;

    function markDirty(node) {
      dirty.add(node);
      if (node === selected) detailsDirty = true;
      headerDirty = true;
      scheduleFlush();
    }

    function markSub(node) {
      dirtySub.add(node);
      scheduleFlush();
    }

    /** Flushes on the next frame, or after 200 ms when frames are not running (hidden tab). */
    function scheduleFlush() {
      if (flushQueued) return;
      flushQueued = true;
      const run = () => { if (flushQueued) { flushQueued = false; flush(); } };
      requestAnimationFrame(run);
      setTimeout(run, 200);
    }

    function flush() {
      for (const node of dirty) if (node.li) updateRow(node);
      for (const node of dirtySub) if (node.li) updateSub(node);
      dirty.clear();
      dirtySub.clear();
      if (headerDirty) { headerDirty = false; renderHeader(); }
      if (detailsDirty && selected) {
        // The details panel is rebuilt whole: at most twice a second so text stays selectable.
        const wait = lastDetails + 500 - Date.now();
        if (wait <= 0) { detailsDirty = false; lastDetails = Date.now(); renderDetails(); }
        else if (!detailsTimer) detailsTimer = setTimeout(() => { detailsTimer = null; scheduleFlush(); }, wait);
      }
    }

    // --- Rows ----------------------------------------------------------------------------------------

    // One prototype row, cloned per task (cloneNode is much faster than building each row).
    //   <li.task data-task-id data-status>
    //     <div.row> toggle · dot · name · id · executor · bar · pct · note · deps · sub · actions </div>
    //     <ul.kids> (children, only once expanded)
    const ROW = { tog: 0, dot: 1, name: 2, id: 3, exec: 4, bar: 5, pct: 6, note: 7, deps: 8, sub: 9, acts: 10 };
    const prototype = (() => {
      const li = el("li", "task");
      li.setAttribute("role", "treeitem");
      const row = el("div", "row");
      const tog = el("button", "tog");
      tog.type = "button";
      tog.dataset.action = "toggle";
      const name = el("button", "name");
      name.type = "button";
      name.dataset.action = "select";
      const bar = el("span", "bar");
      bar.appendChild(el("span", "fill"));
      row.append(tog, el("span", "dot"), name, el("code", "tid"), el("span", "exec"), bar,
        el("span", "pct"), el("span", "note"), el("span", "deps"), el("span", "sub"), el("span", "acts"));
      li.appendChild(row);
      return li;
    })();

    function shortId(id) {
      return id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
    }

    /** Builds the element of one task (not its children). */
    function createRow(node) {
      const li = prototype.cloneNode(true);
      const row = li.firstChild;
      const c = row.children;
      node.li = li;
      node.ui = {
        row, tog: c[ROW.tog], dot: c[ROW.dot], name: c[ROW.name], fill: c[ROW.bar].firstChild, pct: c[ROW.pct],
        note: c[ROW.note], deps: c[ROW.deps], sub: c[ROW.sub], acts: c[ROW.acts], kidsUl: null,
      };
      node.shown = {};
      li.dataset.taskId = node.id;
      c[ROW.name].textContent = node.t.name || node.id;
      c[ROW.id].textContent = shortId(node.id);
      c[ROW.id].title = node.id;
      c[ROW.exec].textContent = node.t.executor || "";
      renderDepLinks(node);
      updateRow(node);
      if (node.kids.length) updateSub(node);
      return li;
    }

    /** "needs: a, b" links; at most 3 per row (the details panel lists all). */
    function renderDepLinks(node) {
      const deps = (node.t.dependencies || []).filter((d) => d && typeof d.id === "string");
      const box = node.ui.deps;
      if (!deps.length) { box.replaceChildren(); return; }
      const frag = document.createDocumentFragment();
      frag.appendChild(el("span", "deps-label", "needs"));
      for (const dep of deps.slice(0, 3)) frag.appendChild(depLink(dep));
      if (deps.length > 3) frag.appendChild(el("span", "muted", `+${deps.length - 3}`));
      box.replaceChildren(frag);
    }

    /** A link to a dependency that reveals and highlights it; plain text when it is outside the tree. */
    function depLink(dep) {
      const target = nodes.get(dep.id);
      if (!target) {
        const span = el("span", "dep external", shortId(dep.id));
        span.title = `${dep.id} (outside this tree)`;
        return span;
      }
      const a = el("a", `dep${dep.required === false ? " optional" : ""}`, target.t.name || shortId(dep.id));
      a.href = `#task=${enc(dep.id)}`;
      a.dataset.depId = dep.id;
      a.title = `${dep.id}${dep.required === false ? " (optional)" : ""}`;
      return a;
    }

    function liClass(node) {
      let cls = `task st-${node.status}`;
      if (node.blocked) cls += " is-blocked";
      if (node.kids.length) cls += node.expanded ? " is-parent" : " is-parent is-collapsed";
      return cls;
    }

    /** Writes a node's changing parts (status, progress, note, buttons, toggle) to its row. */
    function updateRow(node) {
      const { li, ui, shown } = node;
      const cls = liClass(node);
      if (shown.cls !== cls) { li.className = cls; shown.cls = cls; }
      if (shown.status !== node.status) { li.dataset.status = node.status; shown.status = node.status; ui.dot.title = label(node.status); }
      if (shown.progress !== node.progress) {
        ui.fill.style.width = percent(node.progress);
        ui.pct.textContent = percent(node.progress);
        shown.progress = node.progress;
      }
      let note = waitingSummary(node.t.waiting);
      if (node.status === "in_progress" && node.t.cancel_requested_at) note = "cancelling…";
      else if (node.status === "pending" && node.t.blocked_by && !note) note = `blocked by ${node.t.blocked_by}`;
      else if ((node.status === "failed" || node.status === "cancelled") && node.t.error) note = String(node.t.error).split("\n")[0].slice(0, 120);
      if (shown.note !== note) { ui.note.textContent = note; ui.note.title = note; shown.note = note; }
      // Row action: Cancel while pending/in progress, Re-execute once failed or cancelled.
      let action = "";
      if (ACTIVE.has(node.status) && !node.t.cancel_requested_at) action = "cancel";
      else if (node.status === "failed" || node.status === "cancelled") action = "reexecute";
      if (shown.action !== action) {
        ui.acts.replaceChildren(action ? actionButton(action, node.id, true) : "");
        shown.action = action;
      }
      const tog = node.kids.length ? (node.expanded ? "open" : "closed") : "leaf";
      if (shown.tog !== tog) {
        ui.tog.textContent = tog === "leaf" ? "" : tog === "open" ? "▾" : "▸";
        ui.tog.disabled = tog === "leaf";
        ui.tog.classList.toggle("leaf", tog === "leaf");
        ui.tog.title = tog === "open" ? "Collapse" : tog === "closed" ? `Expand ${node.kids.length} children` : "";
        if (tog === "leaf") li.removeAttribute("aria-expanded");
        else li.setAttribute("aria-expanded", String(tog === "open"));
        shown.tog = tog;
      }
    }

    /** Subtree counts of a parent: chips, e.g. "40 completed 3 in progress". */
    function updateSub(node) {
      if (!node.kids.length) return;
      const key = STATUSES.map((s) => node.sub[s]).join(",");
      if (node.shown.sub === key) return;
      node.shown.sub = key;
      const total = STATUSES.reduce((sum, s) => sum + node.sub[s], 0);
      renderCounts(node.ui.sub, node.sub, { extra: el("span", "muted small", `of ${total} below`) });
    }

    function actionButton(action, id, compact) {
      const button = el("button", `act act-${action}`, action === "cancel" ? "Cancel" : compact ? "Re-run" : "Re-execute");
      button.type = "button";
      button.dataset.action = action;
      button.dataset.taskId = id;
      button.title = action === "cancel" ? "Cancel this task (and its subtree)" : "Re-execute this task";
      if (action === "cancel") button.classList.add("danger");
      return button;
    }

    /**
     * Renders `list` (and, below each expanded node, its children) into `container` in one
     * append. Iterative, so a very deep tree cannot overflow the JS stack.
     */
    function renderNodes(list, container) {
      const frag = document.createDocumentFragment();
      const stack = [];
      for (let i = list.length - 1; i >= 0; i--) stack.push([list[i], frag]);
      while (stack.length) {
        const [node, into] = stack.pop();
        into.appendChild(node.li || createRow(node));
        if (node.kids.length && node.expanded && !node.kidsRendered) {
          const ul = kidsList(node);
          ul.hidden = false;
          node.kidsRendered = true;
          for (let i = node.kids.length - 1; i >= 0; i--) {
            if (!node.kids[i].li) stack.push([node.kids[i], ul]);
          }
        }
      }
      container.appendChild(frag);
    }

    function kidsList(node) {
      if (!node.ui.kidsUl) {
        const ul = el("ul", "kids");
        ul.setAttribute("role", "group");
        node.li.appendChild(ul);
        node.ui.kidsUl = ul;
      }
      return node.ui.kidsUl;
    }

    /** Expands or collapses a rendered parent. Children are built on the first expand only. */
    function setExpanded(node, expanded) {
      if (!node.kids.length || !node.li) return;
      node.expanded = expanded;
      if (expanded) {
        if (!node.kidsRendered) {
          node.kidsRendered = true;
          renderNodes(node.kids.filter((k) => !k.li), kidsList(node));
        }
        // Children expanded earlier but never rendered (inside this collapsed node) show now.
        kidsList(node).hidden = false;
        for (const kid of node.kids) if (kid.expanded && kid.kids.length && !kid.kidsRendered) setExpanded(kid, true);
      } else if (node.ui.kidsUl) {
        node.ui.kidsUl.hidden = true;
      }
      updateRow(node);
    }

    /** Expands every ancestor of a node so that it gets an element; returns that element. */
    function reveal(node) {
      const chain = [...ancestors(node)].reverse();
      for (const p of chain) if (!p.expanded || !p.kidsRendered || (p.ui && p.ui.kidsUl && p.ui.kidsUl.hidden)) {
        if (!p.li) continue; // cannot happen: the chain is walked from the root down
        setExpanded(p, true);
      }
      return node.li;
    }

    /** Scrolls to a node and briefly highlights it. */
    function highlight(node) {
      const li = reveal(node);
      if (!li) return;
      const row = node.ui.row;
      row.scrollIntoView({ block: "center", behavior: "smooth" });
      row.classList.remove("hl");
      void row.offsetWidth; // restart the CSS animation
      row.classList.add("hl");
    }

    // --- Selection and details panel -------------------------------------------------------------

    const marked = []; // rows marked as dependency / dependent of the selection

    function select(node, { scroll = false } = {}) {
      if (selected && selected.ui) selected.ui.row.classList.remove("is-selected");
      for (const row of marked.splice(0)) row.classList.remove("is-dep", "is-dependent");
      selected = node;
      if (!node) { renderDetails(); return; }
      if (scroll) highlight(node); else reveal(node);
      if (node.ui) node.ui.row.classList.add("is-selected");
      // Show the selection's edges: its dependencies and its dependents get a marker.
      for (const dep of node.t.dependencies || []) {
        const target = dep && nodes.get(dep.id);
        if (target && target.ui) { target.ui.row.classList.add("is-dep"); marked.push(target.ui.row); }
      }
      for (const id of dependents.get(node.id) || []) {
        const target = nodes.get(id);
        if (target && target.ui) { target.ui.row.classList.add("is-dependent"); marked.push(target.ui.row); }
      }
      window.history.replaceState(null, "", `${window.location.pathname}${window.location.search}#task=${enc(node.id)}`);
      detailsDirty = false;
      lastDetails = Date.now();
      renderDetails();
    }

    function dlRows(pairs) {
      const dl = el("dl", "kv");
      for (const [key, value] of pairs) {
        dl.appendChild(el("dt", null, key));
        const dd = el("dd");
        if (value instanceof Node) dd.appendChild(value); else dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
        dl.appendChild(dd);
      }
      return dl;
    }

    function section(title, ...content) {
      const box = el("section", "det-section");
      box.appendChild(el("h3", null, title));
      for (const item of content) if (item) box.appendChild(item);
      return box;
    }

    function pre(value, className) {
      return el("pre", `json${className ? ` ${className}` : ""}`, typeof value === "string" ? value : prettyJSON(value));
    }

    /** A list of task links with their status (dependencies or dependents). */
    function taskList(items) {
      const ul = el("ul", "task-links");
      for (const { id, required } of items) {
        const li = el("li");
        const target = nodes.get(id);
        if (target) {
          li.appendChild(badge(target.status));
          li.appendChild(depLink({ id, required }));
        } else {
          li.appendChild(el("span", "muted", `${id} (outside this tree)`));
        }
        if (required === false) li.appendChild(el("span", "tag", "optional"));
        ul.appendChild(li);
      }
      return ul;
    }

    function renderDetails() {
      const node = selected;
      if (!node) {
        details.replaceChildren(el("p", "muted", "Select a task to see its inputs, result, attempts and why it is waiting."));
        return;
      }
      const t = node.t;
      const frag = document.createDocumentFragment();

      const head = el("div", "det-head");
      head.appendChild(el("h2", null, t.name || t.id));
      head.appendChild(badge(node.status));
      if (node.blocked) head.appendChild(el("span", "tag", "blocked"));
      const close = el("button", "det-close", "×");
      close.type = "button";
      close.dataset.action = "close-details";
      close.title = "Close";
      close.setAttribute("aria-label", "Close details");
      head.appendChild(close);
      frag.appendChild(head);

      const actions = el("div", "det-actions");
      if (ACTIVE.has(node.status)) actions.appendChild(actionButton("cancel", t.id, false));
      if (RERUNNABLE.has(node.status)) actions.appendChild(actionButton("reexecute", t.id, false));
      if (actions.childNodes.length) frag.appendChild(actions);

      const progressBox = el("span", "det-progress");
      progressBox.append(progressBar(node.progress), el("span", "pct", percent(node.progress)));
      const parentLink = node.parent ? depLink({ id: node.parent.id }) : null;
      frag.appendChild(dlRows([
        ["id", el("code", null, t.id)],
        ["executor", t.executor],
        ["priority", t.priority],
        ["progress", progressBox],
        ["parent", parentLink || "—"],
        ["children", node.kids.length || "—"],
        ["origin", t.origin_type + (t.original_task_id ? ` of ${t.original_task_id}` : "")],
      ]));

      const waiting = waitingSummary(t.waiting);
      if (waiting || t.blocked_by) {
        const parts = [];
        if (waiting) parts.push(el("p", "waiting", waiting));
        if (t.waiting && Array.isArray(t.waiting.unmet) && t.waiting.unmet.length) {
          parts.push(taskList(t.waiting.unmet.map((d) => ({ id: d.id }))));
        }
        if (t.blocked_by) {
          const p = el("p", null, "blocked by ");
          p.appendChild(depLink({ id: t.blocked_by }));
          parts.push(p);
        }
        if (t.waiting) parts.push(pre(t.waiting, "small"));
        frag.appendChild(section("Waiting", ...parts));
      }

      frag.appendChild(section("Attempts", dlRows([
        ["attempt", `${t.attempt ?? 0} of ${t.max_attempts ?? "?"}`],
        ["lease losses", `${t.lease_losses ?? 0} of ${t.max_lease_losses ?? "?"}`],
        ["timeout", t.timeout_s === null || t.timeout_s === undefined ? "none" : `${t.timeout_s} s`],
        ["backoff", t.backoff ? JSON.stringify(t.backoff) : "—"],
        ["last requeue", t.requeue_reason || ""],
      ])));

      const deps = (t.dependencies || []).filter((d) => d && typeof d.id === "string");
      if (deps.length) frag.appendChild(section(`Depends on (${deps.length})`, taskList(deps)));
      const needers = dependents.get(t.id) || [];
      if (needers.length) frag.appendChild(section(`Needed by (${needers.length})`, taskList(needers.slice(0, 200).map((id) => ({ id })))));

      frag.appendChild(section("Timestamps", dlRows([
        ["created", timeCell(t.created_at)],
        ["started", timeCell(t.started_at)],
        ["completed", timeCell(t.completed_at)],
        ["cancel requested", timeCell(t.cancel_requested_at)],
        ["updated", timeCell(t.updated_at)],
      ])));

      if (t.error) frag.appendChild(section("Error", pre(String(t.error), "error")));
      frag.appendChild(section("Inputs", pre(t.inputs ?? null)));
      if (t.params && Object.keys(t.params).length) frag.appendChild(section("Params", pre(t.params)));
      frag.appendChild(section("Result", pre(t.result ?? null)));

      details.replaceChildren(frag);
    }

    // --- Header -----------------------------------------------------------------------------------

    const header = {
      status: $("#tree-status"), bar: $("#tree-bar"), pct: $("#tree-progress"), counts: $("#tree-counts"),
      meta: $("#tree-meta"), execute: $("#tree-execute"), cancel: $("#tree-cancel"), copy: $("#tree-copy"),
      live: $("#live-state"), box: $("#tree-header"),
    };

    function renderHeader() {
      if (!tree) return;
      const status = tree.status || "pending";
      header.status.className = `badge st-${status}`;
      header.status.textContent = label(status) + (tree.archived ? " · archived" : "");
      header.box.dataset.treeStatus = status;
      const mean = nodes.size ? progressSum / nodes.size : fraction(tree.progress);
      header.bar.style.width = percent(mean);
      header.pct.textContent = `${percent(mean)} · ${counts.completed} of ${nodes.size} completed`;
      const blocked = blockedCount ? el("span", "chip st-blocked") : null;
      if (blocked) { blocked.appendChild(el("b", null, blockedCount)); blocked.appendChild(document.createTextNode(" blocked")); }
      renderCounts(header.counts, counts, { all: true, extra: blocked });
      header.execute.hidden = !!tree.started;
      header.cancel.hidden = !ACTIVE.has(status) || !!tree.archived;
      const meta = [
        ["created", timeCell(tree.created_at)],
        ["updated", timeCell(tree.updated_at)],
        ["finished", timeCell(tree.finished_at)],
        ["origin", tree.origin_type],
        ["user", tree.user_id],
        ["tasks", nodes.size],
      ].map(([key, value]) => {
        const item = el("span", "meta-item");
        item.appendChild(el("span", "k", key));
        item.appendChild(value instanceof Node ? value : document.createTextNode(value === null || value === undefined ? "—" : String(value)));
        return item;
      });
      header.meta.replaceChildren(...meta);
      document.title = `${label(status)} · Tree ${treeId} · Baton`;
    }

    // --- Loading and re-fetching ----------------------------------------------------------------

    function applyTreeRecord(record) {
      const ts = millis(record.updated_at) || 0;
      if (tree && ts < treeTs) return; // an older snapshot than what an event already showed
      treeTs = ts;
      const { tasks, ...rest } = record;
      tree = rest;
      headerDirty = true;
    }

    /** Applies a re-fetched snapshot: changed tasks are marked dirty, new tasks rendered. */
    function applySnapshot(snapshot) {
      applyTreeRecord(snapshot);
      const tasks = Array.isArray(snapshot.tasks) ? snapshot.tasks : [];
      const unknown = [];
      for (const task of tasks) {
        const node = task && nodes.get(task.id);
        if (!node) { if (task) unknown.push(task); continue; }
        const ts = millis(task.updated_at);
        // An event newer than this snapshot already moved the task on: keep what it showed.
        if (Number.isFinite(ts) && ts < node.ts) continue;
        const before = node.t;
        const sig = (t) => JSON.stringify([t.status, t.progress, t.waiting, t.blocked_by, t.error, t.cancel_requested_at, t.attempt, t.updated_at]);
        const changed = sig(before) !== sig(task);
        if (task.requeue_reason === undefined && before.requeue_reason) task.requeue_reason = before.requeue_reason;
        node.t = task;
        if (Number.isFinite(ts)) node.ts = ts;
        setStatus(node, task.status);
        node.t.status = node.status;
        setProgress(node, task.progress);
        refreshBlocked(node);
        if (changed) markDirty(node);
      }
      if (unknown.length) {
        const fresh = addTasks(unknown);
        for (const node of fresh) {
          if (node.li) continue; // rendered already with a fresh parent
          const parent = node.parent;
          if (!parent) { renderNodes([node], list); continue; }
          if (!parent.li) continue; // inside a collapsed subtree: built when expanded
          if (!parent.kidsRendered && parent.expanded) parent.kidsRendered = true; // was a leaf
          if (parent.kidsRendered) renderNodes([node], kidsList(parent));
          markDirty(parent); // its toggle and counts changed
        }
      }
      headerDirty = true;
      scheduleFlush();
    }

    let refetchTimer = null;
    let refetchBusy = false;
    let refetchWanted = false;
    let lastFetch = 0;

    /** Asks for a re-fetch of the tree JSON; runs at most once per REFETCH_MS. */
    function scheduleRefetch() {
      refetchWanted = true;
      if (refetchBusy || refetchTimer || leaving) return;
      refetchTimer = setTimeout(runRefetch, Math.max(0, lastFetch + REFETCH_MS - Date.now()));
    }

    async function runRefetch() {
      refetchTimer = null;
      if (!refetchWanted) return;
      refetchWanted = false;
      refetchBusy = true;
      lastFetch = Date.now();
      try {
        applySnapshot(await api(`${treeUrl}?flat=true`));
        clearFlash("network");
      } catch (error) {
        reportError(error);
      } finally {
        refetchBusy = false;
        if (refetchWanted) scheduleRefetch();
      }
    }

    // --- Live events (Server-Sent Events) ---------------------------------------------------------

    let source = null;
    let lastEventId = "";
    let retryDelay = 2000;
    let retryTimer = null;

    function setLive(state, text) {
      header.live.textContent = text;
      header.live.className = `live small live-${state}`;
    }

    /** Opens the stream; `after` resumes after an event id (else the whole history replays). */
    function openStream(after) {
      if (source) source.close();
      clearTimeout(retryTimer);
      // follow=true: keep the stream open after tree_finished, so a re-execution shows live too.
      let url = `${treeUrl}/events?follow=true`;
      if (after) url += `&after=${enc(after)}`;
      const es = new EventSource(url);
      source = es;
      setLive("connecting", "connecting…");
      es.onopen = () => { retryDelay = 2000; setLive("on", "live"); clearFlash("stream"); };
      es.onmessage = (message) => {
        if (message.lastEventId) lastEventId = message.lastEventId;
        let event;
        try { event = JSON.parse(message.data); } catch (_) { return; }
        if (event && typeof event === "object") applyEvent(event);
      };
      es.addEventListener("error", (e) => {
        if (es !== source) return;
        if (typeof e.data === "string" && e.data) {
          // The gateway's `event: error` frame: this stream is over. Reconnect ourselves: from the
          // start when our resume id was trimmed, else after the last event we got.
          let err = {};
          try { err = JSON.parse(e.data).error || {}; } catch (_) { err = {}; }
          es.close();
          const restart = err.code === "not_found" || err.code === "invalid_argument";
          flash(`Live updates interrupted: ${err.message || "the stream ended"}; reconnecting`, "error", "stream");
          retryStream(restart ? "" : lastEventId);
          scheduleRefetch();
          return;
        }
        if (es.readyState === EventSource.CLOSED) {
          // Refused (e.g. 401, 404, 503): the browser gives up, so we retry with a backoff. The
          // re-fetch finds out about a lost session (401 -> login) or a deleted tree.
          setLive("off", "offline, retrying");
          retryStream(lastEventId);
          scheduleRefetch();
        } else {
          setLive("connecting", "reconnecting…"); // the browser reconnects with Last-Event-ID
        }
      });
    }

    function retryStream(after) {
      if (leaving) return;
      setLive("off", "reconnecting…");
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => openStream(after), retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    }

    const isoOf = (ms) => (Number.isFinite(ms) ? new Date(ms).toISOString() : null);

    /** Applies one event to the model in place; the flush writes it to the DOM. */
    function applyEvent(ev) {
      const ts = millis(ev.timestamp);
      if (ev.type === "tree_finished" || ev.type === "tree_archived") {
        if (tree && !(Number.isFinite(ts) && ts < treeTs)) {
          if (Number.isFinite(ts)) treeTs = ts;
          if (ev.type === "tree_finished") {
            if (STATUSES.includes(ev.status)) tree.status = ev.status;
            if (ev.progress !== undefined) tree.progress = fraction(ev.progress);
            tree.finished_at = isoOf(ts) || tree.finished_at;
          } else {
            tree.archived = true;
          }
          headerDirty = true;
          scheduleFlush();
        }
        scheduleRefetch();
        return;
      }
      const node = typeof ev.task_id === "string" ? nodes.get(ev.task_id) : null;
      if (!node) { scheduleRefetch(); return; } // e.g. task_created for a task added later
      // The stream replays history from the start: skip what the snapshot already shows.
      if (Number.isFinite(ts) && ts < node.ts) return;
      if (Number.isFinite(ts)) node.ts = ts;
      const t = node.t;
      const at = isoOf(ts);
      switch (ev.type) {
        case "task_started":
          if (ev.attempt !== undefined) t.attempt = Number(ev.attempt);
          t.started_at = at || t.started_at;
          t.waiting = null;
          t.blocked_by = null;
          break;
        case "progress":
          setProgress(node, ev.progress);
          break;
        case "task_completed":
          if ("result" in ev) t.result = ev.result;
          setProgress(node, ev.progress !== undefined ? ev.progress : 1);
          t.completed_at = at || t.completed_at;
          t.waiting = null;
          break;
        case "task_failed":
          if (ev.error !== undefined) t.error = ev.error;
          if (ev.will_retry === true || ev.will_retry === "1" || ev.will_retry === "true") {
            t.waiting = { reason: "retry_backoff", retry_at: ev.retry_at };
          } else {
            t.completed_at = at || t.completed_at;
            t.waiting = null;
          }
          break;
        case "task_requeued":
          t.requeue_reason = ev.reason || "";
          t.waiting = null;
          break;
        case "task_blocked":
          t.blocked_by = ev.blocked_by || t.blocked_by;
          t.waiting = { reason: "blocked", blocked_by: t.blocked_by };
          break;
        case "cancel_requested":
          t.cancel_requested_at = t.cancel_requested_at || at;
          if (ev.error !== undefined) t.error = ev.error;
          break;
        case "task_cancelled":
          if (ev.error !== undefined) t.error = ev.error;
          if ("result" in ev) t.result = ev.result;
          t.waiting = null;
          break;
        case "task_reset":
          setProgress(node, 0);
          t.result = null;
          t.error = null;
          t.blocked_by = null;
          t.completed_at = null;
          t.cancel_requested_at = null;
          t.waiting = null;
          break;
        default:
          break; // task_created and unknown types: the status below is all there is
      }
      if (at) t.updated_at = at;
      setStatus(node, ev.status);
      refreshBlocked(node);
      markDirty(node);
      scheduleRefetch(); // `waiting`, counts and the tree status come with the next snapshot
    }

    // --- Actions ----------------------------------------------------------------------------------

    async function taskAction(action, id, button) {
      const node = nodes.get(id);
      const name = node ? node.t.name || id : id;
      if (button) button.disabled = true;
      try {
        const result = await api(`/v1/tasks/${enc(id)}/${action}`, { method: "POST", body: {} });
        if (action === "cancel") {
          const done = result && result.status === "cancelled";
          flash(done ? `Cancelled ${name}` : `Cancelling ${name}…`, "info");
          // The gateway says it is cancelled: show that now (the event confirms it later).
          if (done && node) { setStatus(node, "cancelled"); refreshBlocked(node); markDirty(node); }
        } else {
          flash(`Re-executing ${name}`, "info");
        }
        scheduleRefetch();
      } catch (error) {
        reportError(error);
      } finally {
        if (button && button.isConnected) button.disabled = false;
      }
    }

    async function treeAction(action, button) {
      button.disabled = true;
      try {
        const result = await api(`${treeUrl}/${action}`, { method: "POST", body: {} });
        if (action === "copy") {
          if (result && typeof result.tree_id === "string") {
            leaving = true;
            window.location.assign(`/dashboard/trees/${enc(result.tree_id)}`);
            return;
          }
          flash("Copied, but the gateway did not say the new tree's id");
        } else {
          flash(action === "cancel" ? "Cancelling the tree…" : "Tree started", "info");
          if (action === "execute" && tree) { tree.started = true; headerDirty = true; scheduleFlush(); }
        }
        scheduleRefetch();
      } catch (error) {
        reportError(error);
      } finally {
        button.disabled = false;
      }
    }

    // --- Event wiring (one delegated listener per area) ---------------------------------------------

    list.addEventListener("click", (e) => {
      const target = e.target instanceof Element ? e.target : null;
      if (!target) return;
      const link = target.closest("a.dep");
      if (link) {
        e.preventDefault();
        const node = nodes.get(link.dataset.depId);
        if (node) select(node, { scroll: true });
        return;
      }
      const button = target.closest("button[data-action]");
      const li = target.closest("li.task");
      const node = li ? nodes.get(li.dataset.taskId) : null;
      if (button) {
        const action = button.dataset.action;
        if (action === "toggle" && node) { setExpanded(node, !node.expanded); return; }
        if (action === "cancel" || action === "reexecute") { taskAction(action, button.dataset.taskId, button); return; }
      }
      // Anywhere else on a row: open its details.
      if (node && target.closest(".row")) select(node);
    });

    details.addEventListener("click", (e) => {
      const target = e.target instanceof Element ? e.target : null;
      if (!target) return;
      const link = target.closest("a.dep");
      if (link) {
        e.preventDefault();
        const node = nodes.get(link.dataset.depId);
        if (node) select(node, { scroll: true });
        return;
      }
      const button = target.closest("button[data-action]");
      if (!button) return;
      const action = button.dataset.action;
      if (action === "close-details") {
        select(null);
        window.history.replaceState(null, "", window.location.pathname + window.location.search);
      } else if (action === "cancel" || action === "reexecute") {
        taskAction(action, button.dataset.taskId, button);
      }
    });

    header.execute.addEventListener("click", () => treeAction("execute", header.execute));
    header.cancel.addEventListener("click", () => treeAction("cancel", header.cancel));
    header.copy.addEventListener("click", () => treeAction("copy", header.copy));

    $("#expand-all").addEventListener("click", () => {
      // Top-down, so each parent exists before its children are rendered into it.
      const stack = [...roots];
      while (stack.length) {
        const node = stack.pop();
        if (node.kids.length) { setExpanded(node, true); stack.push(...node.kids); }
      }
    });
    $("#collapse-all").addEventListener("click", () => {
      for (const node of nodes.values()) if (node.kids.length) { node.expanded = false; if (node.li) setExpanded(node, false); }
      if (selected && selected.li && selected.li.isConnected) selected.ui.row.scrollIntoView({ block: "nearest" });
    });

    // Find: the next task (after the selected one) whose name or id contains the text.
    $("#find-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const query = $("#find-input").value.trim().toLowerCase();
      if (!query) return;
      const all = [...nodes.values()];
      const start = selected ? all.indexOf(selected) + 1 : 0;
      for (let i = 0; i < all.length; i++) {
        const node = all[(start + i) % all.length];
        if (node.id.toLowerCase().includes(query) || String(node.t.name || "").toLowerCase().includes(query)) {
          select(node, { scroll: true });
          return;
        }
      }
      flash(`No task matches “${query}”`, "info");
    });

    /** #task=<id> in the URL selects that task (links, back/forward, reloads). */
    function selectFromHash() {
      const match = /^#task=(.+)$/.exec(window.location.hash);
      if (!match) return;
      let id;
      try { id = decodeURIComponent(match[1]); } catch (_) { return; }
      const node = nodes.get(id);
      if (node && node !== selected) select(node, { scroll: true });
    }
    window.addEventListener("hashchange", selectFromHash);

    // --- Start ------------------------------------------------------------------------------------

    async function start() {
      let snapshot;
      try {
        snapshot = await api(`${treeUrl}?flat=true`);
      } catch (error) {
        list.replaceChildren(el("li", "placeholder muted", error instanceof ApiError && error.status === 404 ? "This tree does not exist (or was deleted)." : "Could not load the tree."));
        reportError(error);
        if (!(error instanceof ApiError && error.status === 404)) setTimeout(() => { start().catch(reportError); }, 5000);
        return;
      }
      lastFetch = Date.now();
      applyTreeRecord(snapshot);
      addTasks(Array.isArray(snapshot.tasks) ? snapshot.tasks : []);
      list.replaceChildren();
      renderNodes(roots, list);
      if (!nodes.size) list.appendChild(el("li", "placeholder muted", "This tree has no tasks."));
      dirty.clear();
      dirtySub.clear();
      renderHeader();
      headerDirty = false;
      // For tests and tooling: the first render is complete, with this many task rows.
      document.body.dataset.renderedTasks = String(list.querySelectorAll("li[data-task-id]").length);
      document.body.dataset.renderState = "ready";
      selectFromHash();
      openStream("");
      // A slow safety net: `waiting` (queue positions, agents) changes without events too.
      setInterval(() => { if (!document.hidden && tree && ACTIVE.has(tree.status)) scheduleRefetch(); }, BACKGROUND_REFRESH_MS);
    }

    window.addEventListener("pagehide", () => { if (source) source.close(); });
    start().catch(reportError);
  }

  // ---------------------------------------------------------------------------------------------
  // Boot
  // ---------------------------------------------------------------------------------------------

  // Anything that still slips through is also shown on the page (it stays in the console too, so
  // the headless checker catches it).
  window.addEventListener("unhandledrejection", (e) => reportError(e.reason));

  const pages = { login: loginPage, trees: treesPage, tree: treePage, executors: executorsPage };
  const page = document.body.dataset.page;
  setUpSignOut();
  if (pages[page]) pages[page]();
})();
