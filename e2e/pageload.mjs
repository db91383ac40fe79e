// Dashboard page load, for BENCHMARKS.md: starts `ltiscope serve` on an existing database and
// measures, in headless Chromium, the time from navigation until each page has rendered its
// data (body[data-ready]), three loads per page.
//
//   node e2e/pageload.mjs BIN DB FROM TO
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";

const [bin, db, from, to] = process.argv.slice(2);
const env = { ...process.env, LTISCOPE_DB: db };
const key = execFileSync(bin, ["keys", "create", "--kind", "read", "--name", "pageload"], { env }).toString().trim();
const server = spawn(bin, ["serve", "--listen", "127.0.0.1:0"], { env, stdio: ["ignore", "ignore", "pipe"] });
const base = await new Promise((resolve, reject) => {
  let buf = "";
  server.stderr.on("data", (d) => { buf += d; const m = buf.match(/listening on (http:\/\/[0-9.:]+)\r?\n/); if (m) resolve(m[1]); });
  server.on("exit", (c) => reject(new Error("serve exited " + c + ": " + buf)));
});
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(base + "/");
  await page.fill("#login-key", key);
  await page.press("#login-key", "Enter");
  await page.waitForFunction(() => document.body.dataset.ready === "overview", null, { timeout: 120000 });
  for (const p of ["overview", "tools", "adoption", "courses", "time", "quality"]) {
    const times = [];
    for (let i = 0; i < 3; i++) {
      await page.goto("about:blank");
      const t0 = Date.now();
      await page.goto(base + "/#/" + p + "?from=" + from + "&to=" + to);
      await page.waitForFunction((n) => document.body.dataset.ready === n, p, { timeout: 120000 });
      times.push(Date.now() - t0);
    }
    times.sort((a, b) => a - b);
    console.log(`dashboard ${p} page load (navigation to data shown): median ${times[1]} ms (${times.join(", ")})`);
  }
} finally {
  await browser.close();
  server.kill("SIGTERM");
}
