// Opens the dashboard in headless Chromium and reports what it shows, as
// JSON on stdout, for cluster-tests/tests/dashboard.rs.
//
//   node dashboard-check.cjs URL SCREENSHOT MODULE
//
// PLAYWRIGHT_CORE names the playwright-core package folder, CHROMIUM the
// browser (default /usr/bin/chromium). MODULE is searched for and must be
// selected (the interaction check).
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");

async function main() {
  const [url, screenshot, module] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    const started = Date.now();
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => window.cpgGraphPainted !== undefined, null, { timeout: 60000 });
    const firstPaintMs = await page.evaluate(() => window.cpgGraphPainted);
    await page.waitForFunction(() => document.querySelector("#nodes tbody tr") !== null
      && document.getElementById("taint").textContent !== "loading", null, { timeout: 60000 });
    const text = (sel) => page.$eval(sel, (e) => e.textContent.trim()).catch(() => null);
    const report = {
      firstPaintMs,
      loadMs: Date.now() - started,
      status: await text("#status"),
      reasons: await page.$$eval("#reasons li", (l) => l.map((x) => x.textContent)),
      leader: await text("#leader"),
      modules: Number(await text("#module-count")),
      edges: Number(await text("#edge-count")),
      cycleModules: Number(await text("#cycle-modules")),
      nodeRows: await page.$$eval("#nodes tbody tr", (rows) => rows.map((r) => r.textContent)),
      partitions: await page.$$eval("#partitions div", (d) => d.length),
      taint: await text("#taint"),
      taintLinks: await page.$$eval("#taint a.loc", (a) => a.map((x) => x.textContent)),
      hotspots: await page.$$eval("#hotspots tbody tr td:first-child", (t) => t.map((x) => x.textContent)),
      cycles: await text("#cycles"),
    };
    // Interaction: find a module, which selects it and lists its neighbours.
    await page.fill("#search", module);
    await page.waitForFunction((m) => document.getElementById("selected").textContent.includes(m), module, { timeout: 10000 });
    report.selected = await text("#selected");
    // Hover and zoom do not throw.
    const box = await page.$eval("#graph", (c) => { const r = c.getBoundingClientRect(); return { x: r.x, y: r.y, w: r.width, h: r.height }; });
    await page.mouse.move(box.x + box.w / 2, box.y + box.h / 2);
    await page.mouse.wheel(0, -200);
    await page.waitForFunction(() => window.cpgLayoutDone !== undefined, null, { timeout: 60000 });
    report.layoutMs = await page.evaluate(() => window.cpgLayoutDone);
    await page.screenshot({ path: screenshot });
    // Loaded again: what a user opening the dashboard later sees (the
    // coordinator's snapshot and answers are warm by then).
    report.warmPaintsMs = [];
    for (let i = 0; i < 3; i++) {
      await page.reload({ waitUntil: "load" });
      await page.waitForFunction(() => window.cpgGraphPainted !== undefined, null, { timeout: 60000 });
      report.warmPaintsMs.push(await page.evaluate(() => window.cpgGraphPainted));
    }
    report.errors = errors;
    process.stdout.write(JSON.stringify(report) + "\n");
  } finally {
    await browser.close();
  }
}

main().catch((e) => { process.stderr.write(String(e && e.stack || e) + "\n"); process.exit(1); });
