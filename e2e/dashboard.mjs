// The dashboard in a real browser. Starts `ltiscope serve --demo` on a fresh database on a
// loopback port, logs in with a read key in headless Chromium (playwright-core), visits every
// page, checks that the numbers shown are the API's numbers, that CSV downloads work, that the
// page can be used by keyboard, and that nothing was written to the console as an error.
//
//   LTISCOPE_BIN=path/to/ltiscope node e2e/dashboard.mjs
//
// Exits non-zero on the first failed check, saying which.
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const BIN = process.env.LTISCOPE_BIN || "target/debug/ltiscope";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const LAUNCHES = process.env.E2E_LAUNCHES || "6000";
const dir = mkdtempSync(join(tmpdir(), "ltiscope-e2e-"));
const db = join(dir, "e2e.duckdb");
// LTISCOPE_DATABASE_URL (set by the test for its PostgreSQL run) wins over the temp file.
const env = process.env.LTISCOPE_DATABASE_URL
  ? { ...process.env, LTISCOPE_LOG: "warn" }
  : { ...process.env, LTISCOPE_DB: db, LTISCOPE_LOG: "warn" };
let server;
let browser;

function log(msg) { process.stderr.write("e2e: " + msg + "\n"); }

async function startServer() {
  const key = execFileSync(BIN, ["keys", "create", "--kind", "read", "--name", "e2e"], { env }).toString().trim();
  server = spawn(BIN, ["serve", "--listen", "127.0.0.1:0", "--demo", LAUNCHES], { env, stdio: ["ignore", "ignore", "pipe"] });
  const addr = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error("serve did not announce its address within 180 s:\n" + buf)), 180000);
    server.stderr.on("data", (d) => {
      buf += d.toString();
      // Only a whole line: stderr may arrive cut mid-address ("http://127" then ".0.0.1:…").
      const m = buf.match(/listening on (http:\/\/[0-9.:]+)\r?\n/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    server.on("exit", (code) => reject(new Error("serve exited with " + code + ":\n" + buf)));
  });
  return { key, base: addr };
}

async function main() {
  const { key, base } = await startServer();
  log("server at " + base);
  const api = async (path) => {
    const r = await fetch(base + path, { headers: { Authorization: "Bearer " + key } });
    if (r.status !== 200) assert.fail(path + " answered " + r.status + ": " + (await r.text()));
    return r.json();
  };
  const meta = await api("/api/v1/meta");
  // A fixed range inside the demo term, so the page and the API answer the same question.
  const last = new Date(meta.span.last_launch);
  const to = new Date(Date.UTC(last.getUTCFullYear(), last.getUTCMonth(), last.getUTCDate() + 1));
  const from = new Date(to.getTime() - 60 * 864e5);
  const day = (d) => d.toISOString().slice(0, 10);
  const range = "from=" + day(from) + "&to=" + day(to);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ acceptDownloads: true, timezoneId: "UTC", viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));

  const ready = async (name) => {
    await page.waitForFunction((n) => document.body.dataset.ready === n || document.body.dataset.ready === "error", name, { timeout: 60000 });
    const state = await page.evaluate(() => document.body.dataset.ready);
    if (state === "error") throw new Error(name + ": " + (await page.textContent("main")));
  };

  // Log in: a wrong key is refused with a message, the right one opens the overview.
  await page.goto(base + "/");
  await ready("login");
  await page.fill("#login-key", "lts_not-a-key");
  await page.press("#login-key", "Enter");
  await page.waitForFunction(() => document.querySelector("#login-error").textContent.length > 0);
  // The browser logs the refused request itself; that one is expected.
  const refused = problems.findIndex((p) => p.includes("401"));
  if (refused >= 0) problems.splice(refused, 1);
  await page.fill("#login-key", key);
  await page.press("#login-key", "Enter");
  await ready("overview");
  log("logged in");

  const go = async (hash, name) => {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await ready(name);
  };
  const values = (testid, col) => page.$$eval(`[data-testid="${testid}"] tbody td[data-col="${col}"]`, (tds) => tds.map((td) => td.dataset.value));
  const num = (v) => (v === "" ? null : /^<\d+$/.test(v) ? v : Number(v));

  // Overview: the KPI tiles are the API's totals.
  await go("#/overview?" + range, "overview");
  const overview = await api("/api/v1/reports/overview?" + range);
  for (const row of overview.sections.summary.rows) {
    const shown = await page.getAttribute(`[data-testid="kpi-${row.metric}"]`, "data-value");
    assert.equal(num(shown), row.value, "overview " + row.metric);
  }
  assert.ok(overview.sections.summary.rows[0].value > 0, "the range holds launches");
  assert.equal(await page.locator("canvas").count() >= 2, true, "overview charts drawn");
  await page.screenshot({ path: join(process.env.E2E_SHOTS || dir, "overview.png"), fullPage: true });
  log("overview ok: " + overview.sections.summary.rows[0].value + " launches");

  // Tools: every row's launches and users, in order.
  await go("#/tools?" + range, "tools");
  const tools = await api("/api/v1/reports/tools?limit=10000&" + range);
  assert.deepEqual((await values("table-tools", "tool_id")), tools.sections.tools.rows.map((r) => r.tool_id), "tools order");
  assert.deepEqual((await values("table-tools", "launches")).map(num), tools.sections.tools.rows.map((r) => r.launches), "tools launches");
  assert.deepEqual((await values("table-tools", "users")).map(num), tools.sections.tools.rows.map((r) => r.users), "tools users");
  // Sorting by keyboard: focus the "users" header button and press Enter.
  await page.focus('[data-testid="table-tools"] th:nth-child(5) button');
  await page.keyboard.press("Enter");
  const sorted = (await values("table-tools", "users")).map(num).filter((v) => typeof v === "number");
  assert.deepEqual(sorted, [...sorted].sort((a, b) => b - a), "sorted by users, descending");
  // CSV download of the table is the API's CSV.
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.locator('section[aria-label="tools"] button', { hasText: "Download CSV" }).click(),
  ]);
  const csv = readFileSync(await download.path()).toString();
  assert.ok(csv.startsWith("tool_id,tool,launches,visits,users,"), "csv header: " + csv.slice(0, 80));
  assert.equal(csv.trim().split("\n").length, tools.sections.tools.total + 1, "csv rows");
  log("tools ok: " + tools.sections.tools.total + " tools, CSV downloaded");

  // One tool: the KPI and the heat map.
  const top = tools.sections.tools.rows[0];
  await page.click(`[data-testid="table-tools"] a[href^="#/tool/${encodeURIComponent(top.tool_id)}"]`);
  await ready("tool");
  const tool = await api("/api/v1/reports/tool?tool=" + encodeURIComponent(top.tool_id) + "&" + range);
  assert.equal(num(await page.getAttribute('[data-testid="kpi-launches"]', "data-value")), tool.sections.summary.rows[0].launches, "tool launches");
  assert.equal(tool.sections.summary.rows[0].launches, top.launches, "tool report agrees with tools report");
  assert.equal(tool.sections.heatmap.rows.length, 168);
  assert.ok((await page.locator("canvas").count()) >= 3, "daily, heat map and roles charts");
  log("tool ok: " + top.tool_id);

  // The other pages: each table shows the API's rows.
  for (const [hash, name, report, section, extra] of [
    ["#/courses", "courses", "courses", "courses", ""],
    ["#/adoption", "adoption", "adoption", "adoption", ""],
    ["#/dormant", "dormant", "dormant", "dormant_tools", "&dormant_days=" + meta.dormant_days],
    ["#/health", "health", "health", "health", ""],
    ["#/time", "time", "time-in-tool", "time_in_tool", ""],
    ["#/quality", "quality", "quality", "sources", ""],
  ]) {
    await go(hash + "?" + range, name);
    const rep = await api("/api/v1/reports/" + report + "?limit=10000&" + range + extra);
    const s = rep.sections[section];
    const shown = await page.locator(`[data-testid="table-${section}"] tbody tr`).count();
    assert.equal(shown, Math.min(s.total, 10000), name + " rows");
    if (s.rows.length > 0 && s.columns.some((c) => c.name === "launches")) {
      assert.deepEqual((await values("table-" + section, "launches")).map(num), s.rows.map((r) => r.launches), name + " launches");
    }
    log(name + " ok: " + s.total + " rows");
  }
  // A course page from the courses table.
  await go("#/courses?" + range, "courses");
  await page.locator('[data-testid="table-courses"] td[data-col="course"] a').first().click();
  await ready("course");

  // Filters live in the URL: choosing a role reloads with it, and the numbers follow.
  await go("#/overview?" + range, "overview");
  await page.selectOption("#f-role", "instructor");
  await page.click('#filters button[type="submit"]');
  await page.waitForFunction(() => location.hash.includes("role=instructor"));
  await ready("overview");
  const instr = await api("/api/v1/reports/overview?role=instructor&" + range);
  assert.equal(num(await page.getAttribute('[data-testid="kpi-launches"]', "data-value")), instr.sections.summary.rows[0].value, "filtered launches");
  assert.ok(instr.sections.summary.rows[0].value < overview.sections.summary.rows[0].value, "instructors are a part");

  // Keyboard: on a fresh load the first Tab reaches the skip link, then the navigation.
  await page.reload();
  await ready("overview");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement.textContent);
  assert.equal(focused, "Skip to content");

  assert.deepEqual(problems, [], "no console errors");
  log("all pages ok, no console errors");
}

main()
  .then(() => { process.exitCode = 0; })
  .catch((e) => { log("FAILED: " + (e.stack || e)); process.exitCode = 1; })
  .finally(async () => {
    if (browser) await browser.close().catch(() => {});
    if (server) server.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    rmSync(dir, { recursive: true, force: true });
  });
