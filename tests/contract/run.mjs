// The contract check: a real peerd behind Stoplight Prism's proxy
// (`prism proxy openapi/openapi.yaml PEERD --errors`), every operation
// exercised through it, success and error paths, against real erl nodes.
// Prism answers a request or a response that breaks the document with an
// error of its own (sl-violations); any such answer fails the case.
//   node tests/contract/run.mjs BUILD_DIR      ends with "N passed, N failed"
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const build = path.resolve(root, process.argv[2] || "build");
let passed = 0, failed = 0;

function started(child, pattern, what) {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${text}`)), 60000);
    const take = (d) => {
      text += d;
      const m = text.match(pattern);
      if (m) { clearTimeout(timer); resolve(m); }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("exit", (code) => reject(new Error(`${what} exited (${code}): ${text}`)));
  });
}

const peerd = spawn(path.join(build, "peerd"), ["--listen", "127.0.0.1:0", "--quiet", "--max-streams", "4"]);
const [, peerdUrl] = await started(peerd, /peerd listening on (http:\/\/\S+)/, "peerd");
const prismBin = path.join(here, "node_modules/.bin/prism");
const port = 20000 + (process.pid % 20000);
const prism = spawn(prismBin, ["proxy", path.join(root, "openapi/openapi.yaml"), peerdUrl, "--errors", "--host", "127.0.0.1", "--port", String(port)]);
await started(prism, /Prism is listening on/, "prism");
const base = `http://127.0.0.1:${port}`;

async function req(method, p, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) { init.body = typeof body === "string" ? body : JSON.stringify(body); init.headers["content-type"] = "application/json"; }
  const r = await fetch(base + p, init);
  const text = method === "HEAD" ? "" : await r.text();
  return { status: r.status, headers: r.headers, text, json: (() => { try { return JSON.parse(text); } catch { return null; } })() };
}

// A case: the request through Prism, the status expected, no violation.
async function check(name, method, p, body, want, extra) {
  let r;
  try {
    r = await req(method, p, body);
    const violations = r.headers.get("sl-violations");
    const prismError = r.json && typeof r.json.type === "string" && r.json.type.includes("stoplight.io/prism");
    if (violations || prismError) throw new Error(`the document is broken here: ${violations || r.text}`);
    if (r.status !== want) throw new Error(`status ${r.status}, not ${want}: ${r.text.slice(0, 300)}`);
    if (extra) extra(r);
    passed++;
    console.log(`[PASS] ${name}`);
  } catch (e) {
    failed++;
    console.log(`[FAIL] ${name}: ${e.message}`);
  }
  return r;
}

try {
  await check("healthz", "GET", "/healthz", undefined, 200);
  await check("random name", "GET", "/random-name?prefix=c", undefined, 200);
  await check("random name, bad prefix", "GET", "/random-name?prefix=a%20b", undefined, 400);
  await check("metrics", "GET", "/metrics", undefined, 200);
  await check("list", "GET", "/peers", undefined, 200);
  await check("start, bad option", "POST", "/peers", { shutdown: { halt: 999 } }, 400);
  await check("start", "POST", "/peers", { name: "contract1", lease_ms: 600000 }, 201);
  await check("start, name taken", "POST", "/peers", { name: "contract1" }, 409);
  await check("get", "GET", "/peers/contract1", undefined, 200);
  await check("get, no such peer", "GET", "/peers/nosuch", undefined, 404);
  await check("call", "POST", "/peers/contract1/call", { module: "erlang", function: "node", args: [] }, 200);
  await check("call, text args", "POST", "/peers/contract1/call", { module: "lists", function: "seq", args: "[1, 3]" }, 200);
  await check("call, exception", "POST", "/peers/contract1/call", { module: "erlang", function: "error", args: "[badarg]" }, 422);
  await check("call, bad body", "POST", "/peers/contract1/call", { module: 1 }, 400);
  await check("call, timeout", "POST", "/peers/contract1/call", { module: "timer", function: "sleep", args: [2000], timeout_ms: 100 }, 504);
  await check("cast", "POST", "/peers/contract1/cast", { module: "io", function: "format", args: "[\"hi~n\"]" }, 202);
  await check("send", "POST", "/peers/contract1/send", { to: "init", message: { "$atom": "hello" } }, 202);
  await check("console", "GET", "/peers/contract1/console", undefined, 200);
  await check("console, bad since", "GET", "/peers/contract1/console?since=x", undefined, 400);
  await check("messages", "GET", "/peers/contract1/messages", undefined, 200);
  await check("wait running", "GET", "/peers/contract1/wait?state=running", undefined, 200);
  await check("lease", "PUT", "/peers/contract1/lease", { lease_ms: 600000 }, 200);
  await check("events, follow=0", "GET", "/events?follow=0", undefined, 200);
  await check("stop", "DELETE", "/peers/contract1", undefined, 200);
  await check("get, removed", "GET", "/peers/contract1", undefined, 410);
  await check("call, removed", "POST", "/peers/contract1/call", { module: "erlang", function: "node", args: [] }, 410);
  await check("start without a lease", "POST", "/peers", { name: "contract2" }, 201);
  await check("lease, none", "PUT", "/peers/contract2/lease", {}, 400);
  await check("stop 2", "DELETE", "/peers/contract2", undefined, 200);
  await check("start, program missing", "POST", "/peers", { name: "contract3", exec: "/nonexistent/erl" }, 502);
  await check("start, async", "POST", "/peers", { name: "contract4", wait_boot: false }, 202);
  await check("wait down, timeout", "GET", "/peers/contract4/wait?state=down&timeout_ms=100", undefined, 504);
  await check("stop 4", "DELETE", "/peers/contract4", undefined, 200);
} finally {
  prism.kill();
  peerd.kill();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
