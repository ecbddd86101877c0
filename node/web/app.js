// Stoop's web page. Hand-written, no build step, no library: it talks only
// to the node that served it (/api/v1/... is the local API's own JSON, /web/...
// the page's helpers). Every text from the network goes in with textContent,
// never as HTML.

const $ = (id) => document.getElementById(id);
const state = { status: null, session: null, cell: "", csrf: "", author: "" };

// ---------- helpers ----------

/** Builds an element: h("a", {href: "#"}, "text", child...). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, reason, message, body) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.body = body;
  }
}

async function call(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (method !== "GET") {
    opts.headers["X-Stoop-Csrf"] = state.csrf;
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
  }
  const r = await fetch(path, opts);
  if (r.status === 401) {
    location.assign("/pair");
    throw new ApiError(401, "not_paired", "not paired");
  }
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!r.ok) {
    const e = (json && json.error) || {};
    throw new ApiError(r.status, e.reason || json?.reason || String(r.status), e.message || json?.message || text, json);
  }
  return json;
}
const api = (path) => call("GET", `/api/v1${path}`);
const post = (path, body) => call("POST", `/api/v1${path}`, body);

const now = () => Math.floor(Date.now() / 1000);
function age(t) {
  const s = Math.max(0, now() - t);
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}
const when = (t) => new Date(t * 1000).toLocaleString();
const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
const short = (hex) => (hex ? `${hex.slice(0, 8)}…` : "");

// Plain words for the node's refusal reasons (the code is shown too).
const PLAIN = {
  link_not_allowed: "Links are not allowed here: Stoop carries text only. Say what happened instead.",
  media_not_allowed: "No photos, files or encoded data: Stoop carries text only.",
  footage_solicitation: "Do not offer or ask for footage or photos here: Stoop carries text only.",
  personal_information: "Remove the phone number or e-mail address.",
  precise_location: "Too precise a location: name the block or choose an area cell, not an address or coordinates.",
  profiling: "Describe what the person did and what they wore, not their race or ethnicity.",
  too_long: "This is too long.",
  empty: "This is required.",
  control_character: "Remove the control characters (a headline is one line).",
  invisible_character: "Remove the invisible characters.",
  unknown_category: "Choose one of the hood's categories.",
  area_outside_hood: "This cell is outside the hood.",
  area_too_precise: "This cell is finer than the hood allows.",
  bad_cell: "This is not a geohash cell.",
  lifetime_too_long: "That is longer than this category may stay up.",
  over_quota: "You have posted as many alerts as the hood allows for now.",
  probation: "New members may post 2 alerts an hour and 6 a day during their first day.",
  not_member: "This node is not a member of the hood yet.",
  revoked: "This node's membership was revoked.",
  not_author: "Only the author can do that.",
  not_moderator: "Only moderators can do that.",
  invalid_field: "This value is not accepted.",
  duplicate: "That was already sent.",
  already_counted: "Already counted.",
  already_cancelled: "That alert was already cancelled.",
};
const FIELD_OF_REASON = {
  unknown_category: "category", area_outside_hood: "area", area_too_precise: "area",
  bad_cell: "area", lifetime_too_long: "expires_in",
};
const FIELDS = ["category", "event", "headline", "description", "instruction", "severity", "urgency",
  "certainty", "area", "expires_in", "status"];

/** The form field a refusal is about, if any. */
function fieldOf(err) {
  if (FIELD_OF_REASON[err.reason]) return FIELD_OF_REASON[err.reason];
  const m = /^(?:rejected: )?(?:invalid field )?([a-z_]+)[ :]/.exec(err.message || "");
  return m && FIELDS.includes(m[1]) ? m[1] : null;
}

function explain(err) {
  const words = PLAIN[err.reason] || err.message || "Refused.";
  const extra = err.reason === "profiling" || err.reason === "invalid_field" ? ` ${err.message}` : "";
  return [words + extra, " ", h("code", {}, err.reason)];
}

function showError(el, err) {
  el.replaceChildren(...explain(err));
}

// ---------- session, status and live feed ----------

async function loadSession() {
  state.session = await call("GET", "/web/session");
  state.csrf = state.session.csrf || "";
}

async function loadStatus() {
  state.status = await api("/status");
  state.author = state.status.author;
  $("hood-name").textContent = state.status.hood_name || "Stoop";
  document.title = `${state.status.hood_name} · Stoop`;
  $("nav-mod").hidden = !state.status.moderator;
  $("f-hidden-box").hidden = !state.status.moderator;
  for (const id of ["f-category", "p-category", "n-category"]) {
    const sel = $(id);
    const keep = sel.value;
    sel.querySelectorAll("option[data-cat]").forEach((o) => o.remove());
    for (const c of state.status.categories) sel.append(h("option", { value: c.name, "data-cat": "1" }, c.name));
    if (keep) sel.value = keep;
  }
  $("p-area-cells").replaceChildren(...state.status.area.map((c) => h("option", { value: c })));
  if (!$("p-area").value && state.status.area.length) $("p-area").value = state.status.area[0];
}

let refreshTimer = null;
/** Re-renders the current view after live events, but not under the
 * fingers of someone typing in a form on it (tried again shortly). */
function scheduleRefresh(delay = 250) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    const view = location.hash.split("/")[1] || "feed";
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
    if (typing && view !== "feed" && view !== "map") scheduleRefresh(2000);
    else route(false);
  }, delay);
}

function connectLive() {
  const es = new EventSource("/api/v1/events");
  const live = $("live");
  es.addEventListener("open", () => { live.textContent = "live"; });
  es.addEventListener("error", () => { live.textContent = "reconnecting…"; });
  es.addEventListener("message", (ev) => { onFeedEvent(ev); scheduleRefresh(); });
  es.addEventListener("state", () => scheduleRefresh());
  es.addEventListener("lagged", () => scheduleRefresh());
}

// ---------- notifications ----------

const SEVERITY_RANK = { unknown: 0, minor: 1, moderate: 2, severe: 3, extreme: 4 };
function notifyPrefs() {
  try { return JSON.parse(localStorage.getItem("stoop.notify") || "null"); } catch { return null; }
}
async function onFeedEvent(ev) {
  const prefs = notifyPrefs();
  if (!prefs || !("Notification" in window) || Notification.permission !== "granted") return;
  let e;
  try { e = JSON.parse(ev.data); } catch { return; }
  if (e.kind !== "alert" || e.alert) return; // new original alerts only
  try {
    const d = await api(`/alerts/${e.id}`);
    const a = d.alert;
    if (a.author === state.author) return;
    if (prefs.category && a.category !== prefs.category) return;
    if ((SEVERITY_RANK[a.severity] || 0) < (SEVERITY_RANK[prefs.severity] || 0)) return;
    const n = new Notification(a.headline, { body: `${a.category} · ${a.area}`, tag: a.id });
    n.addEventListener("click", () => { window.focus(); location.hash = `#/alert/${a.id}`; });
  } catch { /* the alert may be gone already */ }
}
function setupNotifications() {
  const box = $("notify-settings");
  const status = $("notify-status");
  const show = () => {
    const p = notifyPrefs();
    if (!("Notification" in window)) status.textContent = "This browser has no notifications.";
    else if (Notification.permission === "denied") status.textContent = "Notifications are blocked for this page in the browser settings.";
    else status.textContent = p ? "On." : "Off.";
    if (p) { $("n-category").value = p.category; $("n-severity").value = p.severity; }
  };
  $("notify-button").addEventListener("click", () => { box.hidden = !box.hidden; show(); });
  $("notify-on").addEventListener("click", async () => {
    if (!("Notification" in window)) return show();
    const perm = await Notification.requestPermission();
    if (perm === "granted") {
      localStorage.setItem("stoop.notify", JSON.stringify({ category: $("n-category").value, severity: $("n-severity").value }));
    }
    show();
  });
  $("notify-off").addEventListener("click", () => { localStorage.removeItem("stoop.notify"); show(); });
}

// ---------- feed ----------

function badges(a) {
  return [
    h("span", { class: "badge cat" }, a.category),
    h("span", { class: "badge" }, a.severity),
    a.state !== "visible" ? h("span", { class: `badge state-${a.state}` }, a.state) : null,
    a.updates.length ? h("span", { class: "badge" }, `updated ×${a.updates.length}`) : null,
  ];
}

function counts(a) {
  return h("span", { class: "counts" },
    `${a.seen_too} seen too · ${a.resolved} resolved · ${a.reports} report${a.reports === 1 ? "" : "s"}`);
}

/** The alert as its latest update shows it (history stays on the alert page). */
async function latest(a) {
  if (!a.updates.length) return a;
  try {
    const d = await api(`/alerts/${a.id}`);
    const last = [...d.updates].reverse().find((u) => u.msg_type === "update");
    return last ? { ...a, headline: last.headline, description: last.description, severity: last.severity } : a;
  } catch { return a; }
}

async function renderFeed() {
  const params = new URLSearchParams();
  const cat = $("f-category").value;
  const since = Number($("f-since").value);
  if (cat) params.set("category", cat);
  if (since) params.set("since", String(now() - since));
  if ($("f-hidden").checked && state.status?.moderator) params.set("include_hidden", "true");
  const list = (await api(`/alerts?${params}`)).alerts.filter((a) => !state.cell || a.area.startsWith(state.cell));
  const items = await Promise.all(list.map(latest));
  $("feed").replaceChildren(...items.map((a) => h("li", { class: a.state === "hidden" ? "hidden-alert" : "", "data-id": a.id },
    h("div", {}, ...badges(a)),
    h("a", { class: "headline", href: `#/alert/${a.id}` }, a.headline),
    h("div", { class: "meta" }, `${a.event} · cell `, h("code", {}, a.area), ` · ${age(a.sent)}`),
    counts(a))));
  $("feed-empty").hidden = items.length > 0;
  $("f-cell-box").hidden = !state.cell;
  $("f-cell").textContent = state.cell;
}

// ---------- one alert ----------

const REPORT_REASONS = ["profiling", "harassment", "personal_information", "misinformation", "spam", "media", "off_topic"];

function reasonSelect(id) {
  return h("select", { id }, ...REPORT_REASONS.map((r) => h("option", { value: r }, r.replace("_", " "))));
}

/** A button that runs `action`, shows its refusal in `out`, then refreshes. */
function actionButton(label, out, action, secondary = false) {
  return h("button", {
    type: "button", class: secondary ? "secondary" : "",
    onclick: async (ev) => {
      ev.target.disabled = true;
      out.textContent = "";
      try { await action(); out.textContent = "Done."; await route(false); } catch (err) { showError(out, err); } finally { ev.target.disabled = false; }
    },
  }, label);
}

async function renderAlert(id) {
  const body = $("alert-body");
  let d;
  try { d = await api(`/alerts/${id}`); } catch (err) {
    body.replaceChildren(h("p", { class: "error" }, ...explain(err)));
    return;
  }
  const a = d.alert;
  const shown = await latest(a);
  $("alert-title").textContent = shown.headline;
  const out = h("p", { class: "error", role: "alert", id: "alert-result" });
  const mine = a.author === state.author;
  const parts = [
    h("div", {}, ...badges(a), h("span", { class: "badge" }, a.urgency), h("span", { class: "badge" }, a.certainty)),
    h("p", { class: "meta" }, `${a.event} · cell `, h("code", {}, a.area), ` · posted ${when(a.sent)} · until ${when(a.expires)} · by `, h("code", {}, short(a.author)), mine ? " (you)" : ""),
    h("div", { class: "card" }, h("p", { class: "prewrap" }, shown.description || "(no description)"),
      a.instruction ? h("p", { class: "prewrap" }, h("strong", {}, "What to do: "), a.instruction) : null),
    counts(a),
    h("div", { class: "row" },
      actionButton("Seen it too", out, () => post(`/alerts/${a.id}/reactions`, { kind: "seen_too" })),
      actionButton("Resolved", out, () => post(`/alerts/${a.id}/reactions`, { kind: "resolved" }), true)),
    out,
  ];
  if (d.updates.length) {
    parts.push(h("details", {}, h("summary", {}, `History (${d.updates.length + 1} versions)`),
      h("ol", {}, h("li", {}, `${when(a.sent)}: ${a.headline} — `, h("span", { class: "prewrap" }, a.description)),
        ...d.updates.map((u) => h("li", {}, `${when(u.sent)} (${u.msg_type}): ${u.headline} — `, h("span", { class: "prewrap" }, u.description))))));
  }
  const reportOut = h("p", { class: "error", role: "alert" });
  parts.push(h("details", {}, h("summary", {}, "Report to the moderators"),
    h("label", { for: "r-reason" }, "Reason"), reasonSelect("r-reason"),
    h("label", { for: "r-note" }, "Note (public to moderators)"), h("input", { id: "r-note" }),
    h("div", { class: "row" }, actionButton("Send report", reportOut,
      () => post(`/alerts/${a.id}/reports`, { reason: $("r-reason").value, note: $("r-note").value }))),
    reportOut));
  if (mine && a.state !== "cancelled") parts.push(ownerTools(a, shown));
  if (state.status?.moderator) parts.push(moderatorTools(a, d));
  // Keep open sections open across live re-renders of the same alert.
  const open = body.dataset.id === a.id ? [...body.querySelectorAll("details")].map((x) => x.open) : [];
  body.replaceChildren(...parts);
  body.dataset.id = a.id;
  body.querySelectorAll("details").forEach((x, i) => { if (open[i]) x.open = true; });
}

function ownerTools(a, shown) {
  const out = h("p", { class: "error", role: "alert" });
  return h("details", {}, h("summary", {}, "Update or cancel your alert"),
    h("label", { for: "u-headline" }, "Headline"), h("input", { id: "u-headline", value: shown.headline }),
    h("label", { for: "u-description" }, "What happened now"), h("textarea", { id: "u-description" }, shown.description),
    h("div", { class: "row" },
      actionButton("Post update", out, () => post(`/alerts/${a.id}/update`, {
        category: a.category, event: a.event, headline: $("u-headline").value, description: $("u-description").value,
        instruction: a.instruction, severity: a.severity, urgency: a.urgency, certainty: a.certainty, area: a.area,
      })),
      actionButton("Cancel alert", out, () => post(`/alerts/${a.id}/cancel`, { note: $("u-description").value }), true)),
    out);
}

function moderatorTools(a, d) {
  const out = h("p", { class: "error", role: "alert" });
  const votes = d.votes.map((v) => h("li", {}, `${when(v.sent)} ${v.decision || ""} by `, h("code", {}, short(v.moderator)), ` ${v.reason || ""} ${v.effect || ""}`));
  return h("div", { class: "card" }, h("h3", {}, "Moderation"),
    d.reports.length ? h("p", {}, `Reports: ${d.reports.map((r) => r.reason).join(", ")}`) : h("p", { class: "meta" }, "No reports."),
    votes.length ? h("ul", {}, ...votes) : null,
    voteForm(a.id, out, "a"), out);
}

function voteForm(id, out, prefix) {
  const sel = reasonSelect(`${prefix}-vote-reason-${id.slice(0, 8)}`);
  const note = h("input", { id: `${prefix}-vote-note-${id.slice(0, 8)}` });
  return h("div", {},
    h("label", { for: sel.id }, "Reason"), sel, h("label", { for: note.id }, "Public note"), note,
    h("div", { class: "row" },
      actionButton("Vote to hide", out, () => post("/mod/votes", { alert: id, decision: "hide", reason: sel.value, note: note.value })),
      actionButton("Vote to restore", out, () => post("/mod/votes", { alert: id, decision: "restore", note: note.value }), true)));
}

// ---------- post ----------

function clearErrors() {
  for (const f of [...FIELDS, "form"]) { const el = $(`err-${f}`); if (el) el.replaceChildren(); }
  for (const f of FIELDS) $(`p-${f === "expires_in" ? "expires" : f}`)?.removeAttribute("aria-invalid");
}

function fieldError(field, err) {
  const el = $(`err-${field}`) || $("err-form");
  showError(el, err);
  $(`p-${field === "expires_in" ? "expires" : field}`)?.setAttribute("aria-invalid", "true");
}

async function showQuota() {
  try {
    const q = await call("GET", "/web/quota");
    $("post-quota").textContent = q.remaining > 0
      ? `${q.remaining} more alert${q.remaining === 1 ? "" : "s"} this hour`
      : `Over quota until ${clock(q.frees_at)}`;
    return q;
  } catch { return null; }
}

function setupPost() {
  $("post-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    const v = (id) => $(id).value.trim();
    const body = {
      category: v("p-category"), event: v("p-event"), headline: v("p-headline"), description: $("p-description").value,
      instruction: $("p-instruction").value, severity: v("p-severity"), urgency: v("p-urgency"), certainty: v("p-certainty"),
      status: v("p-status"), area: v("p-area") || undefined,
    };
    if (v("p-expires")) body.expires_in = Number(v("p-expires"));
    // Local rules first: nothing is signed when a required field is blank.
    let blank = false;
    for (const f of ["event", "headline", "description"]) {
      if (!body[f]) { fieldError(f, new ApiError(0, "empty", "")); blank = true; }
    }
    if (blank) return;
    const button = $("post-submit");
    button.disabled = true;
    try {
      const r = await post("/alerts", body);
      $("post-form").reset();
      await loadStatus();
      location.hash = `#/alert/${r.id}`;
    } catch (err) {
      if (err.reason === "over_quota" || err.reason === "probation") {
        const q = await showQuota();
        const until = q ? ` You can post again at ${clock(q.frees_at)}.` : "";
        $("err-form").replaceChildren(PLAIN[err.reason] + until, " ", h("code", {}, err.reason));
      } else {
        const f = fieldOf(err);
        if (f) fieldError(f, err); else showError($("err-form"), err);
      }
    } finally {
      button.disabled = false;
    }
  });
}

// ---------- map ----------

const BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz";
/** A geohash cell's bounds: [minLat, minLon, maxLat, maxLon]. */
function bounds(hash) {
  let lat = [-90, 90], lon = [-180, 180], even = true;
  for (const ch of hash) {
    const n = BASE32.indexOf(ch);
    for (let b = 4; b >= 0; b--) {
      const r = even ? lon : lat;
      const mid = (r[0] + r[1]) / 2;
      if ((n >> b) & 1) r[0] = mid; else r[1] = mid;
      even = !even;
    }
  }
  return [lat[0], lon[0], lat[1], lon[1]];
}

async function renderMap() {
  const cells = state.status.area;
  const alerts = (await api("/alerts?state=visible")).alerts.filter((a) => a.expires > now());
  const children = cells.flatMap((c) => [...BASE32].map((ch) => c + ch));
  const all = children.map(bounds);
  const minLat = Math.min(...all.map((b) => b[0])), minLon = Math.min(...all.map((b) => b[1]));
  const maxLat = Math.max(...all.map((b) => b[2])), maxLon = Math.max(...all.map((b) => b[3]));
  const W = 640, scale = W / (maxLon - minLon), H = (maxLat - minLat) * scale * 1.3;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "group");
  svg.setAttribute("aria-label", "Hood cells");
  const ns = (tag, attrs, text) => {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text !== undefined) el.textContent = text;
    return el;
  };
  for (const cell of children) {
    const [la0, lo0, la1, lo1] = bounds(cell);
    const x = (lo0 - minLon) * scale, w = (lo1 - lo0) * scale;
    const y = (maxLat - la1) * scale * 1.3, hgt = (la1 - la0) * scale * 1.3;
    const n = alerts.filter((a) => a.area.startsWith(cell)).length;
    const rect = ns("rect", { x, y, width: w, height: hgt, tabindex: 0, role: "button",
      class: `cell${n ? " active" : ""}${state.cell === cell ? " selected" : ""}`,
      "aria-label": `Cell ${cell}: ${n} active alert${n === 1 ? "" : "s"}` });
    const pick = () => { state.cell = cell; location.hash = "#/feed"; };
    rect.addEventListener("click", pick);
    rect.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); pick(); } });
    svg.append(rect, ns("text", { x: x + 3, y: y + 11 }, cell.slice(-1)));
    if (n) svg.append(ns("text", { x: x + w / 2 - 4, y: y + hgt / 2 + 4, class: "count" }, String(n)));
  }
  const whole = alerts.filter((a) => cells.includes(a.area)).length;
  $("map").replaceChildren(svg, h("p", { class: "meta" },
    `Cells ${cells.join(", ")}; ${whole} active alert${whole === 1 ? "" : "s"} for a whole cell, not shown on a sub-cell.`));
}

// ---------- moderation ----------

async function renderMod() {
  const [queue, roster, log] = await Promise.all([api("/mod/queue"), api("/mod/roster"), api("/mod/log")]);
  const qOut = $("mod-queue");
  qOut.replaceChildren(...(queue.queue.length ? queue.queue.map((q) => {
    const out = h("p", { class: "error", role: "alert" });
    return h("div", { class: "card", "data-id": q.alert.id },
      h("a", { class: "headline", href: `#/alert/${q.alert.id}` }, q.alert.headline),
      h("p", { class: "meta" }, `Reports: ${q.reasons.join(", ")} · ${q.votes.length} vote${q.votes.length === 1 ? "" : "s"}`),
      voteForm(q.alert.id, out, "q"), out);
  }) : [h("p", { class: "meta" }, "Nothing to review.")]));
  $("mod-roster").replaceChildren(h("p", {}, `Version ${roster.version}, quorum ${roster.quorum}.`),
    h("ul", {}, ...roster.moderators.map((m) => h("li", {}, h("code", {}, m), m === state.author ? " (this node)" : ""))));
  const rows = log.votes.map((v) => h("tr", {}, h("td", {}, when(v.sent)), h("td", {}, h("code", {}, short(v.alert))),
    h("td", {}, v.decision || ""), h("td", {}, v.reason || ""), h("td", {}, h("code", {}, short(v.moderator))),
    h("td", {}, v.note || ""), h("td", {}, typeof v.effect === "string" ? v.effect : JSON.stringify(v.effect ?? ""))));
  $("mod-log").replaceChildren(rows.length
    ? h("table", {}, h("thead", {}, h("tr", {}, ...["Time", "Alert", "Vote", "Reason", "Moderator", "Note", "Effect"].map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, ...rows))
    : h("p", { class: "meta" }, "No votes yet."));
}

// ---------- node ----------

async function renderNode() {
  const s = state.status;
  const peers = await api("/peers").catch(() => ({ peers: [] }));
  const reach = s.reachability === undefined || s.reachability === null
    ? "unknown" : typeof s.reachability === "string" ? s.reachability : JSON.stringify(s.reachability);
  const row = (k, ...v) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, ...v));
  $("node-info").replaceChildren(h("table", {}, h("tbody", {},
    row("Hood", s.hood_name), row("Hood id", h("code", {}, s.hood)), row("Area cells", s.area.join(", ")),
    row("Author key", h("code", {}, s.author)),
    row("Membership", s.member ? "member" : "not a member yet", s.moderator ? " · moderator" : ""),
    row("Peers", String(s.peers)), row("Reachability", reach),
    row("Listening on", s.listen.join(", ") || "—"), row("Messages stored", String(s.store_messages)),
    row("Alerts left this hour", String(s.quota_remaining_this_hour)),
    row("Up for", `${Math.floor(s.uptime_secs / 3600)} h ${Math.floor((s.uptime_secs % 3600) / 60)} min`))));
  $("node-peers").replaceChildren(peers.peers.length
    ? h("ul", {}, ...peers.peers.map((p) => h("li", {}, h("code", {}, p.peer_id || JSON.stringify(p)))))
    : h("p", { class: "meta" }, "No peers connected."));
  const sess = state.session;
  $("node-session").textContent = sess.device
    ? `Paired as "${sess.device.name}" (id ${sess.device.id}). The node's owner can revoke it with stoop web revoke ${sess.device.id}.`
    : "A browser on the node's own machine: trusted like the stoop command line.";
}

function setupInvite() {
  $("invite-button").addEventListener("click", async () => {
    $("err-invite").replaceChildren();
    try {
      const r = await post("/members/invites", {});
      $("invite-ticket").value = r.ticket;
      const svgText = await fetch("/web/qr", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Stoop-Csrf": state.csrf },
        body: JSON.stringify({ text: r.ticket }),
      }).then((x) => (x.ok ? x.text() : ""));
      const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
      const svg = doc.documentElement;
      $("invite-qr").replaceChildren(svg.nodeName === "svg" ? document.importNode(svg, true) : "");
      $("invite-out").hidden = false;
    } catch (err) { showError($("err-invite"), err); }
  });
}

// ---------- routing ----------

const VIEWS = ["feed", "alert", "post", "map", "mod", "node"];
async function route(focus = true) {
  const [, view = "feed", arg] = location.hash.split("/");
  const name = VIEWS.includes(view) ? view : "feed";
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== name;
  document.querySelectorAll("nav a").forEach((a) => {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  try {
    if (name === "feed") await renderFeed();
    else if (name === "alert") await renderAlert(arg);
    else if (name === "post") await showQuota();
    else if (name === "map") await renderMap();
    else if (name === "mod") await renderMod();
    else if (name === "node") { await loadStatus(); await renderNode(); }
  } catch (err) {
    $("live").textContent = `error: ${err.message}`;
  }
  if (focus) $("main").focus({ preventScroll: true });
  document.body.dataset.ready = name;
}

async function main() {
  await loadSession();
  await loadStatus();
  for (const id of ["f-category", "f-since", "f-hidden"]) $(id).addEventListener("change", () => route(false));
  $("f-cell-clear").addEventListener("click", () => { state.cell = ""; route(false); });
  setupPost();
  setupInvite();
  setupNotifications();
  window.addEventListener("hashchange", () => route(true));
  await route(false);
  connectLive();
}

main().catch((err) => { $("live").textContent = `error: ${err.message}`; });
