// The dashboard in a real browser: headless Chromium (Debian's) driven by
// playwright-core. Starts its own peerd (with a token, to prove the page asks
// for it once), then: start a peer, see it running, call erlang:node/0, see
// console output arrive, stop it. Saves a screenshot. Prints
// "N passed, N failed" like the other suites.
//   node tests/browser/dashboard.mjs PEERD_BIN SCREENSHOT_PATH
import { spawn } from "node:child_process";
import { chromium } from "playwright-core";

const [peerdBin, shot] = process.argv.slice(2);
const token = "browser-test-token";
let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) { passed++; console.log(`[PASS] dashboard: ${what}`); } else { failed++; console.log(`[FAIL] dashboard: ${what}`); } };

function startPeerd(listen) {
  const p = spawn(peerdBin, ["--listen", listen, "--quiet"], { env: { ...process.env, PEERD_TOKEN: token } });
  const up = new Promise((resolve, reject) => {
    p.stdout.on("data", (d) => { const m = /listening on (\S+)/.exec(d.toString()); if (m) resolve(m[1]); });
    p.on("exit", () => reject(new Error("peerd exited")));
  });
  return [p, up];
}
let [peerd, up] = startPeerd("127.0.0.1:0");
const base = await up;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);
  await page.goto(base + "/");
  // The page meets a 401 and asks for the token once.
  await page.waitForSelector("#token-dialog input", { state: "visible" });
  await page.fill("#token-dialog input", token);
  await page.click("#token-dialog button");
  check(true, "asks for the token");

  await page.fill("#start-form input[name=name]", "browser-peer");
  await page.click("#start");
  const row = page.locator('tr[data-id="browser-peer"]');
  await row.locator(".state-running").waitFor();
  check(await row.locator(".state").textContent() === "running", "a started peer shows up running");

  await page.click("#call");
  // Locators, not waitForFunction: the page's CSP forbids eval, rightly.
  await page.locator("#call-result", { hasText: "@" }).waitFor();
  const node = await page.textContent("#call-result");
  check(/^'?browser-peer@/.test(node), `erlang:node/0 answers ${node}`);

  await page.fill("#call-form input[name=module]", "io");
  await page.fill("#call-form input[name=function]", "format");
  await page.fill("#call-form input[name=args]", '[user, "hello from the browser~n", []]');
  await page.click("#call");
  await page.locator("#console", { hasText: "hello from the browser" }).waitFor();
  check(true, "console output arrives over SSE");

  // A bare CR inside SSE data would end the line for EventSource: nothing
  // after it may be lost.
  await page.fill("#call-form input[name=function]", "put_chars");
  await page.fill("#call-form input[name=args]", '[user, "10%\\r50%\\r100% done\\n"]');
  await page.click("#call");
  await page.locator("#console", { hasText: "100% done" }).waitFor({ timeout: 5000 });
  const text = await page.textContent("#console");
  check(text.includes("10%") && text.includes("50%") && text.includes("100% done"), "console text after a CR arrives through EventSource");

  await page.fill("#call-form input[name=function]", "nope");
  await page.click("#call");
  await page.locator("#call-result", { hasText: "error: undef" }).waitFor();
  check(true, "an exception shows its class and reason");

  await page.screenshot({ path: shot, fullPage: true });
  await row.locator(".stop").click();
  await row.waitFor({ state: "detached" });
  check(true, "stop removes the peer from the list");

  // Labels, a group shown by selector and stopped at once, a cluster's mesh.
  page.on("dialog", (d) => d.accept());
  for (const name of ["ui-a", "ui-b"]) {
    await page.fill("#start-form input[name=name]", name);
    await page.fill("#start-form input[name=labels]", "job=ui,role=web");
    await page.click("#start");
    await page.locator(`tr[data-id="${name}"] .state-running`).waitFor();
  }
  await page.fill("#start-form input[name=labels]", "");
  check(await page.textContent('tr[data-id="ui-a"] .labels') === "job=ui,role=web", "a peer's labels show in the list");
  await page.fill("#start-form input[name=name]", "ui-c");
  await page.fill("#start-form input[name=cluster]", "uic");
  await page.click("#start");
  await page.locator('tr[data-id="ui-c"] .state-running').waitFor();
  await page.fill("#start-form input[name=cluster]", "");
  await page.fill("#selector", "job=ui");
  await page.click("#filter");
  await page.locator('tr[data-id="ui-c"]').waitFor({ state: "detached" });
  check(await page.locator("#peers tr").count() === 2, "a selector shows its group only");
  await page.click("#stop-group");
  await page.locator("#group-result", { hasText: "stopped 2 peer(s)" }).waitFor();
  await page.locator('tr[data-id="ui-a"]').waitFor({ state: "detached" });
  check(true, "the group delete stops the selected peers");
  await page.fill("#selector", "");
  await page.click("#filter");
  await page.locator('tr[data-id="ui-c"]').waitFor();
  check(await page.textContent('tr[data-id="ui-c"] .cluster') === "uic", "a member shows its cluster");
  await page.locator("#clusters a", { hasText: "uic: 1/1 running" }).click();
  await page.locator("#cluster-view", { hasText: "full mesh" }).waitFor();
  check(true, "the cluster view shows the mesh");
  await page.screenshot({ path: shot.replace(/\.png$/, "-groups.png"), fullPage: true });
  await page.locator('tr[data-id="ui-c"] .stop').click();
  await page.locator('tr[data-id="ui-c"]').waitFor({ state: "detached" });

  // peerd restarted under the page: EventSource reconnects with an event id
  // of the old instance, gets a reset, and the page shows the new world.
  await page.fill("#start-form input[name=name]", "old-world");
  await page.click("#start");
  await page.locator('tr[data-id="old-world"] .state-running').waitFor();
  const exited = new Promise((resolve) => peerd.on("exit", resolve));
  peerd.kill("SIGTERM");
  await exited;
  [peerd, up] = startPeerd(new URL(base).host);
  await up;
  const started = await fetch(base + "/peers", { method: "POST", body: JSON.stringify({ name: "new-world" }),
                                                headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });
  check(started.status === 201, `a peer started on the new peerd (${started.status})`);
  const t0 = Date.now();
  await page.locator('tr[data-id="new-world"]').waitFor({ timeout: 5000 });
  await page.locator('tr[data-id="old-world"]').waitFor({ state: "detached", timeout: 5000 });
  await page.locator("#status", { hasText: "restarted" }).waitFor({ timeout: 5000 });
  check(true, `after a peerd restart the page shows the new peers (${Date.now() - t0} ms)`);
} catch (e) {
  failed++;
  console.log(`[FAIL] dashboard: ${e.message.split("\n")[0]}`);
} finally {
  await browser.close();
  peerd.kill("SIGTERM");
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
