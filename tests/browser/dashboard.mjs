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

const peerd = spawn(peerdBin, ["--listen", "127.0.0.1:0", "--quiet"], { env: { ...process.env, PEERD_TOKEN: token } });
const base = await new Promise((resolve, reject) => {
  peerd.stdout.on("data", (d) => { const m = /listening on (\S+)/.exec(d.toString()); if (m) resolve(m[1]); });
  peerd.on("exit", () => reject(new Error("peerd exited")));
});

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

  await page.fill("#call-form input[name=function]", "nope");
  await page.click("#call");
  await page.locator("#call-result", { hasText: "error: undef" }).waitFor();
  check(true, "an exception shows its class and reason");

  await page.screenshot({ path: shot, fullPage: true });
  await row.locator(".stop").click();
  await row.waitFor({ state: "detached" });
  check(true, "stop removes the peer from the list");
} catch (e) {
  failed++;
  console.log(`[FAIL] dashboard: ${e.message.split("\n")[0]}`);
} finally {
  await browser.close();
  peerd.kill("SIGTERM");
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
