// The dashboard in a real browser: headless Chromium (Debian's) driven by
// playwright-core, against a peerd it starts itself (with a token, to prove
// the page asks for it once) and real erl nodes. An operator's day: start
// peers (quoted args, env, labels, cluster), call, eval, console with CR
// progress lines, a node printing 3 MB while followed (the page stays
// responsive, the last line shows within 2 s), several consoles at once,
// messages, events, a boot failure with its console tail, a down peer
// removed, groups stopped by selector, the cluster view, the chart drawn
// from /metrics, the read-only page, axe-core over the main states, a page
// driven by the keyboard alone, the phone layout, and peerd restarted under
// the page. Saves a screenshot of each state. Prints "N passed, N failed"
// like the other suites.
//   node tests/browser/dashboard.mjs PEERD_BIN SCREENSHOT_PATH
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { startPeerd } from "../lib/peerd.mjs";

const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

const [peerdBin, shot] = process.argv.slice(2);
const shotOf = (name) => shot.replace(/\.png$/, `-${name}.png`);
const token = "browser-test-token";
let passed = 0, failed = 0;
const check = (ok, what) => { if (ok) { passed++; console.log(`[PASS] dashboard: ${what}`); } else { failed++; console.log(`[FAIL] dashboard: ${what}`); } };

const launch = (listen) => startPeerd(peerdBin, { listen, args: ["--quiet"], env: { PEERD_TOKEN: token } });
let { proc: peerd, base } = await launch("127.0.0.1:0");
const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
const post = (path, body) => fetch(base + path, { method: "POST", headers: auth, body: JSON.stringify(body) });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
// axe-core over the page as it is: every WCAG 2.x A/AA rule and axe's best
// practices; a violation is named with the elements it found.
async function axe(page, state) {
  if (!await page.evaluate(() => "axe" in window)) await page.addScriptTag({ path: axePath });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
  check(found.length === 0, `axe-core finds nothing in the ${state} page${found.length ? ": " + found.join("; ") : ""}`);
}
// One step: a failure is counted and the next step runs.
async function step(what, fn) {
  try { await fn(); } catch (e) { failed++; console.log(`[FAIL] dashboard: ${what}: ${e.message.split("\n")[0]}`); }
}
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(20000);
  page.on("dialog", (d) => d.accept());
  await page.goto(base + "/");
  // The page meets a 401 and asks for the token once.
  await page.waitForSelector("#token-dialog input", { state: "visible" });
  await page.fill("#token-dialog input", token);
  await page.click("#token-dialog button");
  check(true, "asks for the token");
  await page.locator("#peer-count", { hasText: "(0)" }).waitFor();
  const widths = () => page.evaluate(() => [document.querySelector("#peer-list").clientWidth, document.querySelector("main").clientWidth]);
  await step("empty page", async () => {
    await axe(page, "empty");
    const [list, main] = await widths();
    check(list > 0.9 * main, `no peer open: the list has the page's width (${list} of ${main} px)`);
    await page.screenshot({ path: shotOf("empty") });
  });
  const panel = (id) => page.locator(`.panel[data-id="${id}"]`);
  const row = (id) => page.locator(`.prow[data-id="${id}"]`);

  await step("start, call, console", async () => {
    await page.fill("#start-form input[name=name]", "browser-peer");
    // The node runs under nice: on these two CPUs the node printing 3 MB,
    // peerd and Chromium share them, and what the flood test measures is
    // the page, not how the kernel divides the CPUs (a trace showed the
    // page's long tasks of 50-110 ms taking 5-9 ms of its thread's CPU).
    await page.fill("#start-form input[name=exec]", "nice -n 19 erl");
    await page.fill("#start-form input[name=args]", `-eval 'io:format("hi there~n")'`);
    await page.fill("#start-form textarea[name=env]", "PEERD_UI=yes");
    await page.click("#start");
    await page.fill("#start-form input[name=exec]", "");
    await row("browser-peer").locator(".state-running").waitFor();
    check(await row("browser-peer").locator(".state").textContent() === "running", "a started peer shows up running, and opens");
    await panel("browser-peer").locator(".console", { hasText: "hi there" }).waitFor();
    check(true, "args in quotes reach the node whole (-eval 'io:format(\"hi there~n\")')");
    await page.fill(".panel.active input[name=function]", "getenv");
    await page.fill(".panel.active input[name=module]", "os");
    await page.fill(".panel.active input[name=args]", '["PEERD_UI"]');
    await page.click(".panel.active .call");
    await panel("browser-peer").locator(".call-result", { hasText: '"yes"' }).waitFor();
    check(true, "env reaches the node");
    await page.fill(".panel.active input[name=module]", "erlang");
    await page.fill(".panel.active input[name=function]", "node");
    await page.fill(".panel.active input[name=args]", "[]");
    await page.click(".panel.active .call");
    await panel("browser-peer").locator(".call-result", { hasText: "@" }).waitFor();
    const node = await panel("browser-peer").locator(".call-result").textContent();
    check(/^'?browser-peer@/.test(node), `erlang:node/0 answers ${node}`);
    await page.fill(".panel.active input[name=expr]", "X = lists:seq(1,3), lists:sum(X).");
    await page.click(".panel.active .eval");
    await panel("browser-peer").locator(".call-result", { hasText: "X = [1,2,3]" }).waitFor();
    check(true, "eval shows the value and the bindings");
  });

  await step("listed, console open", async () => {
    await axe(page, "listed, with a console open,");
    const [list, main] = await widths();
    check(list < 0.5 * main && await page.locator(".panel.active").isVisible(), `a peer open: it takes the right-hand side (the list ${list} of ${main} px)`);
    await page.screenshot({ path: shotOf("console") });
  });

  await step("vitals", async () => {
    // The list's "uses" column and the open peer's vitals line: asked of
    // the node for the rows in view and the open peers, every 5 s.
    await row("browser-peer").locator(".uses", { hasText: "procs" }).waitFor({ timeout: 12000 });
    const uses = await row("browser-peer").locator(".uses").textContent();
    check(/^[0-9.]+ MiB, \d+ procs$/.test(uses), `the list says what a node uses (${uses})`);
    await panel("browser-peer").locator(".vitals-line", { hasText: "run queue" }).waitFor({ timeout: 12000 });
    const line = await panel("browser-peer").locator(".vitals-line").textContent();
    check(/memory [0-9.]+ MiB .*processes, run queue \d+; up .*OS: [0-9.]+ MiB resident/.test(line), `the peer view has its vitals (${line})`);
  });

  await step("dark scheme", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const state = await row("browser-peer").locator(".state").evaluate((e) => getComputedStyle(e).color);
    check(bg === "rgb(22, 26, 33)" && state === "rgb(98, 211, 148)", `prefers-color-scheme: dark gives the dark page (${bg}, running in ${state})`);
    await axe(page, "dark");
    await page.screenshot({ path: shotOf("dark") });
    await page.emulateMedia({ colorScheme: "light" });
    const width = await row("browser-peer").locator(".state").evaluate((e) => [e.scrollWidth, e.clientWidth]);
    check(width[0] <= width[1], `the state column is not cut (${width[0]} of ${width[1]} px)`);
  });

  await step("CR progress", async () => {
    // A progress counter: CR rewrites its line; nothing after a CR is lost.
    await page.fill(".panel.active input[name=module]", "io");
    await page.fill(".panel.active input[name=function]", "put_chars");
    await page.fill(".panel.active input[name=args]", '[user, "10%\\r50%\\r100% done\\nnext line\\r\\n"]');
    await page.click(".panel.active .call");
    await panel("browser-peer").locator(".console", { hasText: "next line" }).waitFor({ timeout: 5000 });
    const lines = (await panel("browser-peer").locator(".console").innerText()).split("\n");
    check(lines.includes("100% done") && !lines.some((l) => l.includes("10%") && !l.includes("100%")) && lines.includes("next line"),
          `a line with CR progress shows its last state (${JSON.stringify(lines.slice(-3))})`);
  });

  await step("exception", async () => {
    await page.fill(".panel.active input[name=module]", "erlang");
    await page.fill(".panel.active input[name=function]", "nope");
    await page.fill(".panel.active input[name=args]", "[]");
    await page.click(".panel.active .call");
    await panel("browser-peer").locator(".call-result", { hasText: "error: undef" }).waitFor();
    check(true, "an exception shows its class and reason");
  });

  await step("messages and events", async () => {
    await post("/peers/browser-peer/cast", { module: "erlang", function: "send", args: "[user, {message, inbox, hello_ui}]" });
    await panel("browser-peer").locator(".messages li", { hasText: "to inbox: hello_ui" }).waitFor({ timeout: 8000 });
    check(true, "a message the node sent to peerd shows in its pane");
    await page.locator("#events li", { hasText: "booted browser-peer" }).waitFor();
    check(true, "the events pane fills");
  });

  await step("flood", async () => {
    // 3 MB printed while followed: the page answers typing within 200 ms,
    // and the last line shows within 2 s of being printed.
    const expr = '[io:format("~6..0w ~s~n", [I, lists:duplicate(93, $x)]) || I <- lists:seq(1, 30000)], io:format("LAST-LINE~n").';
    const printed = post("/peers/browser-peer/eval", { expr, timeout_ms: 120000 }).then(() => Date.now());
    const linesNow = async () => Number(await page.locator(".panel.active .console").getAttribute("data-lines"));
    for (let i = 0; i < 100 && await linesNow() < 500; i++) await new Promise((r) => setTimeout(r, 100));
    const seen = [];
    await page.evaluate(() => { delete document.body.dataset.longestTask; });   // axe's run, earlier, is not the flood's
    await page.focus("#selector");
    for (let i = 0; i < 8; i++) {
      const t0 = Date.now();
      await page.keyboard.type("x");
      await page.locator("#selector").inputValue();
      seen.push(Date.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
    await page.fill("#selector", "");
    // The page's own figure is its longest task while the flood came in; the
    // keystrokes' round trips (through playwright, two processes and two
    // CPUs shared with the node, peerd and Chromium's other processes) are
    // judged by their median, as one of them can wait for a CPU.
    const longest = Number(await page.locator("body").getAttribute("data-longest-task") || 0);
    const median = [...seen].sort((a, b) => a - b)[seen.length >> 1];
    check(longest < 100 && median < 100,
          `typing during a 3 MB flood: the page's longest task ${longest || "< 50"} ms (< 100), keystrokes answered in ${median} ms median (< 100; ${seen.join(" ")})`);
    const doneAt = await printed;
    await page.locator(".panel.active .console", { hasText: "LAST-LINE" }).waitFor({ timeout: 10000 });
    const late = Date.now() - doneAt;
    check(late < 2000, `the last line shows ${late} ms after it was printed`);
    const kept = await linesNow();
    check(kept <= 10001 && kept >= 9000 && await page.locator(".panel.active .dropped", { hasText: "earlier lines are not kept" }).isVisible(),
          `scrollback is bounded (${kept} lines kept) and says what it dropped`);
    await page.screenshot({ path: shotOf("flood") });
    // A line of 5000 characters without a space wraps inside the pane.
    await post("/peers/browser-peer/call", { module: "io", function: "put_chars", args: `[user, "${"y".repeat(5000)}END\\n"]` });
    await page.locator(".panel.active .console", { hasText: "yyyyEND" }).waitFor();
    const pane = await page.locator(".panel.active .console").boundingBox();
    const form = await page.locator(".panel.active .call-form").boundingBox();
    const width = page.viewportSize().width;
    check(pane.x + pane.width <= width && form.x + form.width <= width,
          `a long console line stays inside its pane (pane ends at ${Math.round(pane.x + pane.width)}, the form at ${Math.round(form.x + form.width)}, of ${width})`);
  });

  await step("two consoles", async () => {
    await page.fill("#start-form input[name=name]", "second-peer");
    await page.fill("#start-form input[name=args]", "");
    await page.fill("#start-form textarea[name=env]", "");
    await page.click("#start");
    await panel("second-peer").waitFor();
    await post("/peers/second-peer/call", { module: "io", function: "format", args: '[user, "from the second~n", []]' });
    await post("/peers/browser-peer/call", { module: "io", function: "format", args: '[user, "from the first~n", []]' });
    await panel("second-peer").locator(".console", { hasText: "from the second" }).waitFor();
    await page.click('#tabs [role=tab][data-id="browser-peer"]');
    await panel("browser-peer").locator(".console", { hasText: "from the first" }).waitFor();
    check(!(await panel("second-peer").locator(".console").innerText()).includes("from the first"),
          "two consoles open at once, each with its own node's output");
  });

  await step("boot failure", async () => {
    await page.fill("#start-form input[name=name]", "");
    await page.fill("#start-form input[name=exec]", `sh -c 'echo boom-tail; exit 3'`);
    await page.click("#start");
    await page.locator("#start-result", { hasText: "boom-tail" }).waitFor();
    const text = await page.textContent("#start-result");
    check(text.includes("boot_failed") && text.includes("exit status 3"), "a boot failure shows its exit status and console tail");
    await axe(page, "start form's failure");
    await page.fill("#start-form input[name=exec]", "");
    await page.screenshot({ path: shotOf("boot-failure") });
  });

  await step("down peer", async () => {
    await page.fill("#start-form input[name=name]", "downer");
    await page.selectOption("#start-form select[name=peer_down]", "continue");
    await page.click("#start");
    await row("downer").locator(".state-running").waitFor();
    await page.selectOption("#start-form select[name=peer_down]", "stop");
    await post("/peers/downer/cast", { module: "erlang", function: "halt", args: "[7]" });
    await row("downer").locator(".state-down").waitFor();
    const state = await row("downer").locator(".state").textContent();
    check(state.includes("{exit_status,7}") && await row("downer").locator(".remove").count() === 1,
          `a down peer shows its reason and offers Remove, not Stop (${state})`);
    await panel("downer").locator(".console", { hasText: "[down:" }).waitFor();
    check(true, "its console says it is down and stops following");
    await row("downer").locator(".remove").click();
    await row("downer").waitFor({ state: "detached" });
    check(true, "Remove takes it away");
  });

  await step("groups and clusters", async () => {
    for (const name of ["ui-a", "ui-b"]) {
      await page.fill("#start-form input[name=name]", name);
      await page.fill("#start-form input[name=labels]", "job=ui,role=web");
      await page.click("#start");
      await row(name).locator(".state-running").waitFor();
    }
    await page.fill("#start-form input[name=labels]", "");
    check(await row("ui-a").locator(".labels").textContent() === "job=ui,role=web", "a peer's labels show in the list");
    await page.fill("#start-form input[name=name]", "ui-c");
    await page.fill("#start-form input[name=cluster]", "uic");
    await page.click("#start");
    await row("ui-c").locator(".state-running").waitFor();
    await page.fill("#start-form input[name=cluster]", "");
    await page.fill("#selector", "job=ui");
    await page.click("#filter");
    await row("ui-c").waitFor({ state: "detached" });
    check(await page.locator("#peer-spacer .prow").count() === 2, "a selector shows its group only");
    await page.click("#stop-group");
    await page.locator("#group-result", { hasText: "stopped 2 peer(s)" }).waitFor();
    await row("ui-a").waitFor({ state: "detached" });
    check(true, "the group delete stops the selected peers");
    await page.fill("#selector", "");
    await page.click("#filter");
    await row("ui-c").waitFor();
    check(await row("ui-c").locator(".cluster").textContent() === "uic", "a member shows its cluster");
    await page.locator("#clusters a", { hasText: "uic: 1/1 running" }).click();
    await page.locator("#cluster-view", { hasText: "full mesh" }).waitFor();
    check(true, "the cluster view shows the mesh");
    await page.screenshot({ path: shotOf("groups"), fullPage: true });
  });

  await step("many peers", async () => {
    // 60 peers: the list holds the rows in view, not 60. Sixty real nodes
    // booting at once take both cores for many seconds on a slow machine,
    // so they run under nice: the page and peerd keep the CPU they need, and
    // the 60 are stopped whatever happens here, before the next step.
    const t0 = Date.now();
    try {
      const starts = await Promise.all(Array.from({ length: 60 }, () =>
        post("/peers", { labels: { job: "many" }, wait_boot: false, exec: ["nice", "-n", "19", "erl"] })));
      check(starts.every((r) => r.status === 202), `60 starts answered 202 (${Date.now() - t0} ms)`);
      await page.locator("#peer-count", { hasText: "(6" }).waitFor({ timeout: 30000 });
      const rows = await page.locator("#peer-spacer .prow").count();
      check(rows < 30, `60 peers listed (${Date.now() - t0} ms), ${rows} rows in the page`);
      // Scrolled to the end, the last rows are there.
      await page.locator("#peer-list").hover();
      await page.mouse.wheel(0, 5000);
      await page.waitForTimeout(300);
      const last = await page.locator("#peer-spacer .prow").last().getAttribute("aria-rowindex");
      check(Number(last) >= 60, `scrolled to the end, the last row is there (row ${last})`);
    } finally {
      const r = await fetch(base + "/peers?selector=job%3Dmany", { method: "DELETE", headers: auth });
      check(r.status === 200, `the 60 stopped by selector (${r.status})`);
    }
    await page.locator("#peer-count", { hasText: /^\(\d\)$/ }).waitFor({ timeout: 20000 });
  });

  await step("chart", async () => {
    for (let i = 0; i < 20; i++) await post("/peers/browser-peer/call", { module: "erlang", function: "node" });
    await page.locator("#glance-text", { hasText: "running" }).waitFor({ timeout: 10000 });
    await page.waitForSelector("#chart[data-draws]");
    const draws = Number(await page.getAttribute("#chart", "data-draws"));
    const text = await page.textContent("#glance-text");
    check(draws >= 1 && /calls\/s [0-9.]+ · peers [0-9]+ running/.test(text), `the chart draws from /metrics (${text})`);
    const icon = await fetch(base + "/favicon.ico");
    check(icon.status === 200 && icon.headers.get("content-type") === "image/svg+xml", "the page has its icon (/favicon.ico)");
    await page.screenshot({ path: shot, fullPage: true });
  });

  await step("read-only", async () => {
    // A second peerd with a read-only token beside the control one: the
    // page given the read-only token says so and offers nothing it cannot do.
    const ro = await startPeerd(peerdBin, { args: ["--quiet"], env: { PEERD_TOKEN: token, PEERD_READ_TOKEN: "browser-read-token" } });
    try {
      await fetch(ro.base + "/peers", { method: "POST", headers: auth, body: JSON.stringify({ name: "watched" }) });
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const p2 = await ctx.newPage();
      await p2.goto(ro.base + "/");
      await p2.waitForSelector("#token-dialog input", { state: "visible" });
      await p2.fill("#token-dialog input", "browser-read-token");
      await p2.click("#token-dialog button");
      await p2.locator(".prow[data-id=\"watched\"]").waitFor();
      await p2.locator("#scope").waitFor({ state: "visible" });
      const hidden = await p2.evaluate(() => [...document.querySelectorAll("#start-form, #stop-group, .prow .stop, .prow .remove")]
        .every((e) => !e.offsetParent));
      check(hidden, "a read-only token: the page says so and hides start, stop and group stop");
      await p2.click(".prow[data-id=\"watched\"] .pick");
      await p2.locator(".panel.active .console").waitFor();
      const panelHidden = await p2.evaluate(() => [...document.querySelectorAll(".panel.active .call-form, .panel.active .send-form, .panel.active .eval-form")]
        .every((e) => !e.offsetParent));
      check(panelHidden, "a read-only token: a peer's console shows, its call, send and eval forms do not");
      await axe(p2, "read-only");
      await p2.screenshot({ path: shotOf("read-only"), fullPage: true });
      await ctx.close();
    } finally {
      ro.proc.kill("SIGTERM");
    }
  });

  await step("keyboard only", async () => {
    // Everything an operator does, with the keyboard alone: the token, a
    // start, opening the peer from the list, a call, tabs by arrow keys,
    // Delete to close one, Stop. No mouse event reaches this page.
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const kb = await ctx.newPage();
    kb.setDefaultTimeout(20000);
    await kb.addInitScript(() => {
      for (const t of ["mousedown", "mouseup", "click"])
        window.addEventListener(t, (e) => { if (e.isTrusted && e.detail > 0) document.body.dataset.mouse = "yes"; }, true);
    });
    const wait = (loc, opts) => loc.waitFor(opts).catch((e) => { throw new Error(`${loc}: ${e.message}`); });
    const tabTo = async (sel) => {
      for (let i = 0; i < 120; i++) {
        await kb.keyboard.press("Tab");
        const [hit, outline] = await kb.evaluate((s) => [document.activeElement.matches(s), getComputedStyle(document.activeElement).outlineStyle], sel);
        if (hit) { if (outline === "none") throw new Error(`${sel} has focus but no outline`); return i + 1; }
      }
      throw new Error(`Tab never reaches ${sel}`);
    };
    await kb.goto(base + "/");
    await kb.waitForSelector("#token-dialog input:focus");
    await kb.keyboard.type(token);
    await kb.keyboard.press("Enter");
    await wait(kb.locator(".prow[data-id=\"browser-peer\"]"));
    await tabTo("#start-form input[name=name]");
    await kb.keyboard.type("kbd-peer");
    await kb.keyboard.press("Enter");
    await wait(kb.locator('.prow[data-id="kbd-peer"] .state-running'));
    await wait(kb.locator('.panel.active[data-id="kbd-peer"]'));
    check(true, "keyboard: the token, then a peer started from the form with Enter");
    await tabTo('#tabs [role=tab][data-id="kbd-peer"]');
    await kb.keyboard.press("Delete");
    await wait(kb.locator('.panel[data-id="kbd-peer"]'), { state: "detached" });
    const [list, main] = await kb.evaluate(() => [document.querySelector("#peer-list").clientWidth, document.querySelector("main").clientWidth]);
    check(list > 0.9 * main, `keyboard: Delete on the tab closes it, and the list takes the width again (${list} of ${main} px)`);
    await kb.focus("#selector");
    await tabTo('.prow[data-id="browser-peer"] .pick');
    await kb.keyboard.press("Enter");
    await tabTo('.prow[data-id="kbd-peer"] .pick');
    await kb.keyboard.press("Enter");
    await tabTo('#tabs [role=tab][data-id="kbd-peer"]');
    await kb.keyboard.press("ArrowLeft");
    const left = await kb.evaluate(() => [document.activeElement.dataset.id, document.querySelector(".panel.active").dataset.id]);
    await kb.keyboard.press("ArrowRight");
    check(left[0] === "browser-peer" && left[1] === "browser-peer", `keyboard: the list opens peers, arrow keys move between their tabs (${left})`);
    await tabTo(".panel.active input[name=function]");
    await kb.keyboard.press("Control+A");
    await kb.keyboard.type("system_info");
    await kb.keyboard.press("Tab");
    await kb.keyboard.press("Control+A");
    await kb.keyboard.type("[otp_release]");
    await kb.keyboard.press("Enter");
    await wait(kb.locator('.panel[data-id="kbd-peer"] .call-result', { hasText: /"\d+"/ }));
    check(true, "keyboard: a call typed and sent with Enter answers");
    await tabTo(".panel.active .close");
    await kb.keyboard.press("Enter");
    await wait(kb.locator('.panel[data-id="kbd-peer"]'), { state: "detached" });
    await kb.focus("#selector");
    await tabTo('.prow[data-id="kbd-peer"] .stop');
    await kb.keyboard.press("Space");
    await wait(kb.locator('.prow[data-id="kbd-peer"] .state-running'), { state: "detached" });
    const after = (await fetch(base + "/peers/kbd-peer", { headers: auth })).status;
    check(after === 410 && await kb.evaluate(() => !document.body.dataset.mouse),
          `keyboard: Close and Stop by keyboard (the peer stopped and gone: ${after}); no mouse event reached the page`);
    await kb.screenshot({ path: shotOf("keyboard") });
    await ctx.close();
  });

  await step("phone", async () => {
    // 390 px wide: nothing off the screen or cut; the list scrolls sideways
    // with its columns whole; a peer opened from it is scrolled to.
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    const ph = await ctx.newPage();
    ph.setDefaultTimeout(20000);
    await ph.goto(base + "/");
    await ph.fill("#token-dialog input", token);
    await ph.click("#token-dialog button");
    await ph.locator('.prow[data-id="browser-peer"] .uses', { hasText: "procs" }).waitFor({ timeout: 12000 });
    await ph.locator("#glance-text", { hasText: "running" }).waitFor({ timeout: 10000 });
    const off = await ph.evaluate(() => {
      const bad = [];
      if (document.documentElement.scrollWidth > innerWidth) bad.push(`the page is ${document.documentElement.scrollWidth} px wide`);
      for (const e of document.querySelectorAll("header *, #start-form *, #group-form *, section h2"))
        if (e.offsetParent && e.getBoundingClientRect().right > innerWidth) bad.push(`${e.id || e.tagName} ends at ${Math.round(e.getBoundingClientRect().right)}`);
      for (const e of document.querySelectorAll("#glance-text, .prow .state, .prow .uses, .prow.head > *"))
        if (e.scrollWidth > e.clientWidth) bad.push(`${e.className || e.textContent} cut (${e.scrollWidth} of ${e.clientWidth})`);
      return bad;
    });
    check(off.length === 0, `phone (390 px): nothing off the screen or cut${off.length ? ": " + off.join("; ") : ""}`);
    await axe(ph, "phone");
    await ph.screenshot({ path: shotOf("phone") });
    await ph.locator('.prow[data-id="browser-peer"] .pick').tap();
    await ph.locator(".panel.active .console").waitFor();
    const top = await ph.locator(".panel.active").evaluate((e) => e.getBoundingClientRect().top);
    check(top >= -1 && top < 844, `phone: a peer opened from the list is scrolled to (its top at ${Math.round(top)} px)`);
    await ph.screenshot({ path: shotOf("phone-peer") });
    await ctx.close();
  });

  await step("restart", async () => {
    // peerd restarted under the page: EventSource reconnects with an event id
    // of the old instance, gets a reset, and the page shows the new world.
    await page.fill("#start-form input[name=name]", "old-world");
    await page.click("#start");
    await row("old-world").locator(".state-running").waitFor();
    const exited = new Promise((resolve) => peerd.on("exit", resolve));
    peerd.kill("SIGTERM");
    await exited;
    await page.locator("#status", { hasText: "not answering" }).waitFor({ timeout: 5000 });
    check(true, "the page says when peerd is not answering");
    ({ proc: peerd } = await launch(new URL(base).host));
    const started = await post("/peers", { name: "new-world" });
    check(started.status === 201, `a peer started on the new peerd (${started.status})`);
    const t0 = Date.now();
    await row("new-world").waitFor({ timeout: 5000 });
    await row("old-world").waitFor({ state: "detached", timeout: 5000 });
    await page.locator("#status", { hasText: "restarted" }).waitFor({ timeout: 5000 });
    check(true, `after a peerd restart the page shows the new peers (${Date.now() - t0} ms)`);
  });
} catch (e) {
  failed++;
  console.log(`[FAIL] dashboard: ${e.message.split("\n")[0]}`);
} finally {
  await browser.close();
  peerd.kill("SIGTERM");
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
