// ltiscope dashboard: a thin view of the reports API (/api/v1). Every number on a page comes
// from one API response; filters live in the URL hash so links can be shared; every table can
// be downloaded as CSV from the same report.
"use strict";

const KEY_STORE = "ltiscope.key";
const PAGES = [
  ["overview", "Overview"],
  ["tools", "Tools"],
  ["courses", "Courses"],
  ["adoption", "Adoption"],
  ["dormant", "Dormant"],
  ["health", "Health"],
  ["time", "Time in tool"],
  ["quality", "Data quality"],
];
const FILTER_KEYS = ["from", "to", "tenant", "source", "role", "include_test_users"];

let meta = null;
const charts = [];

// ---------- small helpers ----------
const $ = (sel) => document.querySelector(sel);
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const nf = new Intl.NumberFormat();
function fmtCount(v) {
  if (v === null || v === undefined) return "";
  return typeof v === "number" ? nf.format(v) : String(v); // "<k" stays as sent
}
function fmtRatio(v, signed) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "number") return String(v);
  const s = (v * 100).toFixed(Math.abs(v) < 0.1 ? 1 : 0) + "%";
  return signed && v > 0 ? "+" + s : s;
}
function fmtSeconds(v) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "number") return String(v);
  const s = Math.round(v);
  if (s < 60) return s + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + String(s % 60).padStart(2, "0") + " s";
  return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
}
function fmtTime(v) {
  if (!v) return "";
  const d = new Date(v);
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
function fmtCell(col, v) {
  switch (col.kind) {
    case "count": case "int": return fmtCount(v);
    case "ratio": return col.name === "change" ? fmtRatio(v, true) : fmtRatio(v);
    case "float": return col.name.endsWith("_s") ? fmtSeconds(v) : (typeof v === "number" ? v.toFixed(1) : (v ?? ""));
    // A tool with no last launch (the dormant report's licensed tools) never launched.
    case "time": return col.name === "last_launch" && !v ? "never" : fmtTime(v);
    default: return v === null || v === undefined ? "" : String(v);
  }
}
const NUMERIC = new Set(["count", "int", "float", "ratio"]);
const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
function isoDay(d) {
  return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
}

// ---------- routing and filters ----------
function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const [path, query] = h.split("?");
  const parts = (path || "overview").split("/").map(decodeURIComponent);
  return { page: parts[0] || "overview", arg: parts.slice(1).join("/"), params: new URLSearchParams(query || "") };
}
function hashFor(page, arg, params) {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) if (params.get(k)) p.set(k, params.get(k));
  const path = "#/" + page + (arg ? "/" + encodeURIComponent(arg) : "");
  const q = p.toString();
  return q ? path + "?" + q : path;
}
// The default range: the last 90 days up to tomorrow, or up to the latest data when the data
// ends earlier (an imported term), so a first visit never shows an empty page.
function defaultRange() {
  const tomorrow = new Date(); tomorrow.setDate(tomorrow.getDate() + 1);
  let end = tomorrow;
  const last = meta && meta.span && meta.span.last_launch ? new Date(meta.span.last_launch) : null;
  if (last && last < new Date(Date.now() - 90 * 864e5)) { end = new Date(last); end.setDate(end.getDate() + 1); }
  const start = new Date(end); start.setDate(start.getDate() - 90);
  return { from: isoDay(start), to: isoDay(end), anchored: end !== tomorrow };
}
function effectiveParams(params) {
  const p = new URLSearchParams(params);
  if (!p.has("from") && !p.has("to") && p.get("range") !== "all") {
    const d = defaultRange();
    p.set("from", d.from); p.set("to", d.to);
  }
  return p;
}

function fillFilters(params) {
  const form = $("#filters");
  const p = effectiveParams(params);
  $("#f-from").value = p.get("from") || "";
  $("#f-to").value = p.get("to") || "";
  $("#f-tenant").value = p.get("tenant") || "";
  $("#f-source").value = p.get("source") || "";
  $("#f-role").value = p.get("role") || "";
  $("#f-test").checked = p.get("include_test_users") === "true";
  let preset = "custom";
  if (!p.get("from") && !p.get("to")) preset = "all";
  else if (p.get("from") && p.get("to")) {
    const days = Math.round((new Date(p.get("to")) - new Date(p.get("from"))) / 864e5);
    const tomorrow = new Date(); tomorrow.setDate(tomorrow.getDate() + 1);
    if (p.get("to") === isoDay(tomorrow) && ["7", "30", "90", "180", "365"].includes(String(days))) preset = String(days);
  }
  $("#f-preset").value = preset;
  form.hidden = false;
}

function onFilterSubmit(ev) {
  ev.preventDefault();
  const { page, arg } = parseHash();
  const p = new URLSearchParams();
  const preset = $("#f-preset").value;
  if (preset === "all") {
    // An explicit empty range: all time.
  } else if (preset !== "custom") {
    const to = new Date(); to.setDate(to.getDate() + 1);
    const from = new Date(to); from.setDate(from.getDate() - Number(preset));
    p.set("from", isoDay(from)); p.set("to", isoDay(to));
  } else {
    if ($("#f-from").value) p.set("from", $("#f-from").value);
    if ($("#f-to").value) p.set("to", $("#f-to").value);
  }
  for (const [k, id] of [["tenant", "#f-tenant"], ["source", "#f-source"], ["role", "#f-role"]]) if ($(id).value) p.set(k, $(id).value);
  if ($("#f-test").checked) p.set("include_test_users", "true");
  let h = hashFor(page, arg, p);
  if (preset === "all") h += (h.includes("?") ? "&" : "?") + "range=all";
  location.hash = h;
}

// ---------- API ----------
class AuthError extends Error {}
async function api(path, params) {
  const url = path + (params && [...params].length ? "?" + params.toString() : "");
  const r = await fetch(url, { headers: { Authorization: "Bearer " + sessionStorage.getItem(KEY_STORE) } });
  if (r.status === 401) throw new AuthError("the key was not accepted");
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}
function reportParams(params, extra = {}) {
  const p = new URLSearchParams();
  const eff = effectiveParams(params);
  for (const k of FILTER_KEYS) if (eff.get(k)) p.set(k, eff.get(k));
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  return p;
}
async function report(name, params, extra) {
  const p = reportParams(params, extra);
  p.set("limit", "10000");
  return (await api("/api/v1/reports/" + name, p)).json();
}
async function download(name, params, extra, section) {
  const p = reportParams(params, extra);
  p.set("format", "csv");
  p.set("section", section);
  const blob = await (await api("/api/v1/reports/" + name, p)).blob();
  const a = el("a", { href: URL.createObjectURL(blob), download: "ltiscope-" + name + "-" + section + ".csv" });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
async function exportLaunches(params, format) {
  const p = reportParams(params);
  p.set("format", format);
  const blob = await (await api("/api/v1/export/launches", p)).blob();
  const a = el("a", { href: URL.createObjectURL(blob), download: "ltiscope-launches." + format });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---------- building blocks ----------
function kpi(name, label, row) {
  const value = row ? row.value : null;
  const change = row ? row.change : null;
  const cls = typeof change === "number" ? (change >= 0 ? "up" : "down") : "";
  return el("div", { class: "kpi", "data-testid": "kpi-" + name, "data-value": value ?? "" },
    el("div", { class: "label", text: label }),
    el("div", { class: "value", text: fmtCount(value) }),
    el("div", { class: "delta " + cls, text: typeof change === "number" ? fmtRatio(change, true) + " vs previous period" : (row && row.previous !== null ? "previous: " + fmtCount(row.previous) : "") }));
}

function table(rep, section, opts = {}) {
  const s = rep.sections[section];
  const cols = s.columns.filter((c) => !(opts.hide || []).includes(c.name));
  let rows = s.rows.slice();
  const state = { key: null, dir: 1 };
  const tbody = el("tbody");
  const render = () => {
    tbody.replaceChildren(...rows.map((r) => el("tr", {},
      cols.map((c) => {
        const v = r[c.name];
        const link = opts.links && opts.links[c.name] ? opts.links[c.name](r) : null;
        const content = c.name === "status" ? el("span", { class: "badge " + v, text: v }) : fmtCell(c, v);
        return el("td", { class: NUMERIC.has(c.kind) ? "num" : "", "data-col": c.name, "data-value": v ?? "" },
          link ? el("a", { href: link }, content) : content);
      }))));
  };
  const thead = el("thead", {}, el("tr", {}, cols.map((c) => el("th", {
    class: NUMERIC.has(c.kind) ? "num" : "", scope: "col", "aria-sort": "none",
  }, el("button", {
    type: "button", title: "Sort by " + c.name,
    onclick: (ev) => {
      state.dir = state.key === c.name ? -state.dir : (NUMERIC.has(c.kind) ? -1 : 1);
      state.key = c.name;
      rows.sort((a, b) => {
        const x = a[c.name], y = b[c.name];
        if (x === y) return 0;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * state.dir;
      });
      for (const th of thead.querySelectorAll("th")) th.setAttribute("aria-sort", "none");
      ev.target.closest("th").setAttribute("aria-sort", state.dir > 0 ? "ascending" : "descending");
      render();
    },
  }, c.name.replaceAll("_", " "))))));
  render();
  const title = opts.title || section.replaceAll("_", " ");
  const more = s.total > s.rows.length ? el("p", { class: "sub", text: "showing " + s.rows.length + " of " + s.total + " rows; the CSV has them all" }) : null;
  return el("section", { class: "panel", "aria-label": title },
    el("header", {}, el("h2", { text: title + " (" + nf.format(s.total) + ")" }),
      el("button", { type: "button", class: "small", onclick: () => download(rep.report, currentParams(), opts.extra, section).catch(showError) }, "Download CSV")),
    more,
    el("div", { class: "tablewrap" }, el("table", { "data-testid": "table-" + section }, thead, tbody)));
}

function chart(title, option, tall) {
  const div = el("div", { class: "chart" + (tall ? " tall" : ""), role: "img", "aria-label": title });
  const panel = el("section", { class: "panel" }, el("header", {}, el("h2", { text: title })), div);
  requestAnimationFrame(() => {
    if (!window.echarts) return;
    const c = window.echarts.init(div, null, { renderer: "canvas" });
    c.setOption(Object.assign({ animation: false, tooltip: { trigger: "axis" }, grid: { left: 60, right: 20, top: 30, bottom: 40 } }, option));
    charts.push(c);
  });
  return panel;
}
window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

function dailyChart(rep, title) {
  const rows = rep.sections.daily.rows;
  const num = (v) => (typeof v === "number" ? v : null);
  return chart(title, {
    legend: { top: 0 },
    xAxis: { type: "category", data: rows.map((r) => r.day) },
    yAxis: { type: "value" },
    series: [
      { name: "launches", type: "line", data: rows.map((r) => num(r.launches)), showSymbol: false, areaStyle: { opacity: 0.08 } },
      { name: "users", type: "line", data: rows.map((r) => num(r.users)), showSymbol: false },
    ],
  });
}
function barChart(title, labels, values, name) {
  return chart(title, {
    grid: { left: 160, right: 30, top: 10, bottom: 30 },
    xAxis: { type: "value" },
    yAxis: { type: "category", data: labels.slice().reverse(), axisLabel: { width: 140, overflow: "truncate" } },
    series: [{ name, type: "bar", data: values.slice().reverse() }],
  });
}
const toolLink = (r) => hashFor("tool", r.tool_id, currentParams());
const courseLink = (r) => hashFor("course", r.course, currentParams());
function currentParams() { return parseHash().params; }

// Whether a report shows changes against the previous period.
function compares(rep) {
  return Object.values(rep.sections).some((s) => s.columns.some((c) => c.name === "change"));
}
function header(title, sub, rep) {
  const nodes = [el("h1", { text: title })];
  const f = rep && rep.filter;
  let range = "all time";
  const eff = effectiveParams(currentParams());
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/;
  if (dateOnly.test(eff.get("from") || "") && dateOnly.test(eff.get("to") || "")) {
    // Whole days as the user chose them: the end is exclusive, so show the day before it.
    const from = new Date(eff.get("from") + "T00:00:00");
    const last = new Date(eff.get("to") + "T00:00:00"); last.setDate(last.getDate() - 1);
    const days = Math.round((last - from) / 864e5) + 1;
    const d = (x) => x.toLocaleDateString(undefined, { dateStyle: "medium" });
    range = d(from) + " – " + d(last) + " (" + days + " days)";
  } else if (f && (f.from || f.to)) {
    range = (f.from ? fmtTime(f.from) : "…") + " – " + (f.to ? fmtTime(f.to) : "…");
  }
  // Reports that look back from now (health, dormant) are given no report here: no range shown.
  nodes.push(el("p", { class: "sub", text: rep ? sub + " · " + range + (rep.previous && compares(rep) ? " · compared with the previous period of equal length" : "") : sub }));
  const p = currentParams();
  if (!p.has("from") && !p.has("to") && p.get("range") !== "all" && defaultRange().anchored) {
    nodes.push(el("p", { class: "note", text: "No launches in the last 90 days: showing the 90 days up to the latest launch (" + fmtTime(meta.span.last_launch) + ")." }));
  }
  return nodes;
}

// ---------- pages ----------
const pages = {
  async overview(params) {
    const rep = await report("overview", params);
    const sum = Object.fromEntries(rep.sections.summary.rows.map((r) => [r.metric, r]));
    const top = rep.sections.top_tools.rows;
    return [
      ...header("Overview", "LTI launches across every source", rep),
      el("div", { class: "kpis" },
        kpi("launches", "Launches", sum.launches), kpi("visits", "Visits", sum.visits),
        kpi("users", "Users", sum.users), kpi("courses", "Courses", sum.courses), kpi("tools", "Tools", sum.tools)),
      el("div", { class: "grid" },
        dailyChart(rep, "Launches and users per day"),
        barChart("Top tools by launches", top.map((r) => r.tool), top.map((r) => (typeof r.launches === "number" ? r.launches : 0)), "launches")),
      table(rep, "top_tools", { title: "Top tools", links: { tool: toolLink } }),
      table(rep, "freshness", { title: "Freshness per source" }),
    ];
  },
  async tools(params) {
    const rep = await report("tools", params);
    const rows = rep.sections.tools.rows.slice(0, 20);
    return [
      ...header("Tools", "Every tool launched, with its reach and change against the previous period", rep),
      barChart("Launches per tool (top 20)", rows.map((r) => r.tool), rows.map((r) => (typeof r.launches === "number" ? r.launches : 0)), "launches"),
      table(rep, "tools", { links: { tool: toolLink } }),
      el("section", { class: "panel" }, el("header", {}, el("h2", { text: "Export launch records" })),
        el("p", { class: "sub", text: "Every launch, return and use record of the current filter, for your warehouse." }),
        ...["csv", "jsonl", "parquet"].map((f) => el("button", { type: "button", class: "small", onclick: () => exportLaunches(currentParams(), f).catch(showError) }, f.toUpperCase() + " "))),
    ];
  },
  async tool(params, id) {
    const rep = await report("tool", params, { tool: id });
    const s = rep.sections.summary.rows[0] || {};
    const heat = rep.sections.heatmap.rows;
    const maxHeat = Math.max(1, ...heat.map((r) => (typeof r.launches === "number" ? r.launches : 0)));
    const roles = rep.sections.roles.rows;
    const extra = { tool: id };
    return [
      ...header(s.tool || id, "Tool " + id, rep),
      el("div", { class: "kpis" },
        kpi("launches", "Launches", { value: s.launches ?? 0, change: s.change, previous: s.prev_launches ?? null }),
        kpi("users", "Users", { value: s.users ?? 0, previous: null }),
        kpi("courses", "Courses", { value: s.courses ?? 0, previous: null }),
        el("div", { class: "kpi", "data-testid": "kpi-median" }, el("div", { class: "label", text: "Median time in tool" }), el("div", { class: "value", text: fmtSeconds(s.time_p50_s) || "—" }))),
      el("div", { class: "grid" },
        dailyChart(rep, "Launches and users per day"),
        chart("Launches by hour of week (" + meta.timezone + ")", {
          tooltip: { position: "top" },
          grid: { left: 50, right: 20, top: 10, bottom: 60 },
          xAxis: { type: "category", data: [...Array(24).keys()].map(String), splitArea: { show: true } },
          yAxis: { type: "category", data: WEEKDAYS, inverse: true, splitArea: { show: true } },
          visualMap: { min: 0, max: maxHeat, calculable: true, orient: "horizontal", left: "center", bottom: 0, itemHeight: 120 },
          series: [{ name: "launches", type: "heatmap", data: heat.map((r) => [r.hour, r.weekday - 1, typeof r.launches === "number" ? r.launches : 0]) }],
        }),
        barChart("Launches by role", roles.map((r) => r.role), roles.map((r) => (typeof r.launches === "number" ? r.launches : 0)), "launches")),
      table(rep, "courses", { title: "Top courses", extra, links: { course: courseLink } }),
      el("div", { class: "grid" }, table(rep, "roles", { extra }), table(rep, "message_types", { title: "Message types", extra }), table(rep, "lti_versions", { title: "LTI versions", extra })),
      table(rep, "deployments", { extra }),
    ];
  },
  async courses(params) {
    const rep = await report("courses", params);
    return [...header("Courses", "Which courses use LTI tools, how much and by whom", rep), table(rep, "courses", { links: { course: courseLink, top_tool: (r) => hashFor("tool", r.top_tool, currentParams()) } })];
  },
  async course(params, key) {
    const rep = await report("course", params, { course: key });
    const s = rep.sections.summary.rows[0] || {};
    const extra = { course: key };
    return [
      ...header(s.label || key, "Course " + key, rep),
      el("div", { class: "kpis" },
        kpi("launches", "Launches", { value: s.launches ?? 0, previous: null }),
        kpi("tools", "Tools", { value: s.tools ?? 0, previous: null }),
        kpi("users", "Users", { value: s.users ?? 0, previous: null })),
      dailyChart(rep, "Launches and users per day"),
      table(rep, "tools", { extra, links: { tool: toolLink } }),
      table(rep, "roles", { extra }),
    ];
  },
  async adoption(params) {
    const rep = await report("adoption", params);
    const rows = rep.sections.adoption.rows.slice(0, 20);
    return [
      ...header("Adoption", "Share of active courses and users that used each tool", rep),
      barChart("Share of active courses (top 20)", rows.map((r) => r.tool), rows.map((r) => (typeof r.course_share === "number" ? +(r.course_share * 100).toFixed(1) : 0)), "% of courses"),
      table(rep, "adoption", { links: { tool: toolLink } }),
    ];
  },
  async dormant(params) {
    const days = params.get("dormant_days") || meta.dormant_days;
    const rep = await report("dormant", params, { dormant_days: days });
    return [
      ...header("Dormant tools", "No launch in the last " + days + " days: the licence-renewal list", null),
      table(rep, "dormant_tools", { title: "Dormant tools", extra: { dormant_days: days }, links: { tool: toolLink } }),
      table(rep, "dormant_deployments", { title: "Dormant deployments", extra: { dormant_days: days } }),
    ];
  },
  async health(params) {
    const rep = await report("health", params);
    return [
      ...header("Tool health", "Launches in the last 24 hours against the same hours of the previous four weeks", null),
      table(rep, "health", { links: { tool: toolLink } }),
    ];
  },
  async time(params) {
    const rep = await report("time-in-tool", params);
    const rows = rep.sections.time_in_tool.rows.filter((r) => typeof r.paired === "number" && r.paired > 0).slice(0, 15);
    const buckets = [["under_1m", "< 1 min"], ["m1_5", "1–5 min"], ["m5_15", "5–15 min"], ["m15_60", "15–60 min"], ["over_1h", "≥ 1 h"]];
    return [
      ...header("Time in tool", "From launch/return pairs; launches without a return are counted, not timed; pairs over " + meta.time_cap_minutes + " minutes are left out", rep),
      chart("Time in tool per tool (pairs)", {
        legend: { top: 0 },
        grid: { left: 160, right: 30, top: 30, bottom: 30 },
        xAxis: { type: "value" },
        yAxis: { type: "category", data: rows.map((r) => r.tool).reverse() },
        series: buckets.map(([k, label]) => ({ name: label, type: "bar", stack: "t", data: rows.map((r) => (typeof r[k] === "number" ? r[k] : 0)).reverse() })),
      }, true),
      table(rep, "time_in_tool", { title: "Time in tool", links: { tool: toolLink } }),
    ];
  },
  async quality(params) {
    const rep = await report("quality", params);
    const daily = rep.sections.daily.rows;
    const days = [...new Set(daily.map((r) => r.day))];
    const sources = [...new Set(daily.map((r) => r.source))];
    return [
      ...header("Data quality", "What arrived, what was a duplicate, what was quarantined and how late (by receipt time)", rep),
      chart("Launch records stored per day and source", {
        legend: { top: 0 },
        xAxis: { type: "category", data: days },
        yAxis: { type: "value" },
        series: sources.map((s) => ({ name: s, type: "bar", stack: "s", data: days.map((d) => { const r = daily.find((x) => x.day === d && x.source === s); return r && typeof r.launch_records === "number" ? r.launch_records : 0; }) })),
      }),
      table(rep, "sources", { title: "Per source" }),
      el("div", { class: "grid" }, table(rep, "lag", { title: "Receive lag" }), table(rep, "quarantine", { title: "Quarantine by reason (waiting)" })),
      table(rep, "daily", { title: "Per day" }),
    ];
  },
  async user(params) {
    const id = params.get("user") || "";
    const form = el("form", { class: "filters", onsubmit: (ev) => { ev.preventDefault(); const p = new URLSearchParams(currentParams()); p.set("user", ev.target.user.value); location.hash = "#/user?" + p.toString(); } },
      el("label", {}, "User id", el("input", { name: "user", value: id, required: true })), el("button", { type: "submit" }, "Look up"));
    const out = [el("h1", { text: "One user" }), el("p", { class: "sub", text: "For support cases: every launch of one user (admin key only)." }), form];
    if (id) out.push(table(await report("user", params, { user: id }), "launches", { extra: { user: id } }));
    return out;
  },
};

// ---------- shell ----------
function showError(e) {
  if (e instanceof AuthError) { logout("Your key was not accepted; log in again."); return; }
  $("#main").replaceChildren(el("p", { class: "error", role: "alert", text: "Could not load this page: " + e.message }));
  document.body.dataset.ready = "error";
}

function renderNav(page) {
  const items = PAGES.slice();
  if (meta && meta.admin) items.push(["user", "User"]);
  $("#nav").replaceChildren(...items.map(([p, label]) => el("a", {
    href: hashFor(p, "", currentParams()),
    "aria-current": p === page || (page === "tool" && p === "tools") || (page === "course" && p === "courses") ? "page" : false,
  }, label)));
}

async function route() {
  const { page, arg, params } = parseHash();
  delete document.body.dataset.ready;
  renderNav(page);
  fillFilters(params);
  charts.splice(0).forEach((c) => c.dispose());
  const main = $("#main");
  const fn = pages[page];
  if (!fn) { main.replaceChildren(el("p", { class: "error", text: "No page " + page + "." })); return; }
  main.replaceChildren(el("p", { class: "loading", text: "Loading…" }));
  try {
    const nodes = await fn(params, arg);
    main.replaceChildren(...nodes);
    document.title = "ltiscope · " + (PAGES.find((p) => p[0] === page) || [page, page])[1];
    document.body.dataset.ready = page;
  } catch (e) { showError(e); }
}

function fillChoices() {
  const opts = (id, values) => $(id).replaceChildren(el("option", { value: "" }, "All"), ...values.map(([v, label]) => el("option", { value: v }, label)));
  opts("#f-tenant", (meta.tenants || []).map((t) => [t.tenant, t.tenant]));
  opts("#f-source", meta.sources.map((s) => [s, s]));
  opts("#f-role", meta.roles.map((r) => [r, r]));
  $("#foot").textContent = "ltiscope " + meta.version + " · time zone " + meta.timezone + (meta.suppress_below ? " · counts below " + meta.suppress_below + " are suppressed" : "") + (meta.keep_days ? " · keeps the last " + meta.keep_days + " days" : "");
}

async function start() {
  if (!sessionStorage.getItem(KEY_STORE)) { showLogin(); return; }
  try {
    meta = await (await api("/api/v1/meta")).json();
  } catch (e) {
    if (e instanceof AuthError) { logout("Your key was not accepted; log in again."); return; }
    showLogin("Could not reach ltiscope: " + e.message);
    return;
  }
  $("#login").hidden = true;
  $("#logout").hidden = false;
  fillChoices();
  window.addEventListener("hashchange", route);
  route();
}

function showLogin(message) {
  $("#login").hidden = false;
  $("#filters").hidden = true;
  $("#logout").hidden = true;
  $("#main").replaceChildren();
  $("#login-error").textContent = message || "";
  $("#login-key").focus();
  document.body.dataset.ready = "login";
}
function logout(message) {
  sessionStorage.removeItem(KEY_STORE);
  window.removeEventListener("hashchange", route);
  showLogin(message);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#filters").addEventListener("submit", onFilterSubmit);
  $("#f-preset").addEventListener("change", () => { if ($("#f-preset").value !== "custom") $("#filters").requestSubmit(); });
  $("#logout").addEventListener("click", () => logout(""));
  $("#login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("#login-key").value.trim());
    $("#login-key").value = "";
    start();
  });
  start();
});
