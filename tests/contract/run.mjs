// The contract check: a real peerd behind Stoplight Prism's proxy
// (`prism proxy openapi/openapi.yaml PEERD --errors`), every operation
// exercised through it, success and error paths, against real erl nodes.
// Prism answers a request or a response that breaks the document with an
// error of its own (sl-violations); any such answer fails the case.
//   node tests/contract/run.mjs BUILD_DIR      ends with "N passed, N failed"
import { spawn, spawnSync } from "node:child_process";
import { startPeerd } from "../lib/peerd.mjs";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { fileURLToPath } from "node:url";
import os from "node:os";
import path from "node:path";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import yaml from "js-yaml";

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

// NDJSON bodies, which Prism reads as one string, are checked a line at a
// time against the schema the document gives each line (the items of the
// string's contentSchema).
const doc = yaml.load(readFileSync(path.join(root, "openapi/openapi.yaml"), "utf8"));
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: "openapi", components: doc.components });
const lineSchema = (name) => ajv.compile({ $ref: `openapi#/components/schemas/${name}` });
function ndjsonLines(name) {
  const validate = lineSchema(name);
  return (r) => {
    for (const line of r.text.split("\n").filter((l) => l.length)) {
      if (!validate(JSON.parse(line))) throw new Error(`a line is not a ${name}: ${line} ${ajv.errorsText(validate.errors)}`);
    }
  };
}

// SSE bodies (Prism cannot hold a stream open: read from peerd itself): each
// event's id is TOKEN-N, its data the document's schema for its type.
function sseEvents(dataSchema) {
  const validate = lineSchema(dataSchema);
  return (r) => {
    const events = r.text.split("\n\n").filter((e) => e.trim().length);
    if (!events.length) throw new Error("no event");
    for (const e of events) {
      const f = {};
      for (const line of e.split("\n")) {
        const i = line.indexOf(": ");
        const k = i < 0 ? line : line.slice(0, i), v = i < 0 ? "" : line.slice(i + 2);
        f[k] = f[k] === undefined ? v : `${f[k]}\n${v}`;
      }
      if (!/^[0-9a-f]{16}-[0-9]+$/.test(f.id || "")) throw new Error(`an id that is not TOKEN-N: ${e}`);
      const data = JSON.parse(f.data);
      const ok = f.event === "missed" ? Number.isInteger(data) && data > 0
               : f.event === "reset" ? lineSchema("ResetMarker")({ reset: data })
               : validate(data);
      if (!ok) throw new Error(`event ${f.event}: ${f.data} ${ajv.errorsText(validate.errors)}`);
    }
  };
}

async function direct(name, url, accept, extra, method = "GET", want = 200) {
  try {
    const r = await fetch(url, { method, headers: { accept } });
    const text = await r.text();
    if (r.status !== want) throw new Error(`status ${r.status}: ${text.slice(0, 300)}`);
    extra({ status: r.status, text });
    passed++;
    console.log(`[PASS] ${name}`);
  } catch (e) {
    failed++;
    console.log(`[FAIL] ${name}: ${e.message}`);
  }
}

// Binary request bodies go around Prism too (its proxy forwards a body as
// text, which mends a .beam's bytes into badfile): the answer is checked
// against the document's schema for it here.
async function directPut(name, url, body, want, schema) {
  try {
    const r = await fetch(url, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body });
    const text = await r.text();
    if (r.status !== want) throw new Error(`status ${r.status}, not ${want}: ${text.slice(0, 300)}`);
    const validate = lineSchema(schema);
    if (!validate(JSON.parse(text))) throw new Error(`not a ${schema}: ${text} ${ajv.errorsText(validate.errors)}`);
    passed++;
    console.log(`[PASS] ${name}`);
  } catch (e) {
    failed++;
    console.log(`[FAIL] ${name}: ${e.message}`);
  }
}

// A peer daemon's base URL, for what goes around Prism.
let peerdBase = null;

// A peerd behind a Prism proxy; extra: peerd's arguments.
async function start(extra) {
  const { proc: peerd, base: peerdUrl } = await startPeerd(path.join(build, "peerd"), { args: ["--quiet", "--max-streams", "4", ...extra] });
  const port = 20000 + ((process.pid + extra.length) % 20000);
  const prism = spawn(path.join(here, "node_modules/.bin/prism"),
    ["proxy", path.join(root, "openapi/openapi.yaml"), peerdUrl, "--errors", "--host", "127.0.0.1", "--port", String(port)]);
  await started(prism, /Prism is listening on/, "prism");
  peerdBase = peerdUrl;
  return { peerd, prism, base: `http://127.0.0.1:${port}` };
}

let { peerd, prism, base } = await start([]);

// The document feeds the generators people feed it to: a client typed by
// openapi-typescript must type-check (tsc --strict), then run against peerd.
function typedClient() {
  const bin = (n) => path.join(here, "node_modules/.bin", n);
  for (const [cmd, args] of [[bin("openapi-typescript"), [path.join(root, "openapi/openapi.yaml"), "-o", path.join(here, "peerd-api.d.ts"), "--default-non-nullable=false"]],
                             [bin("tsc"), ["-p", path.join(here, "tsconfig.json")]]]) {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${path.basename(cmd)}: ${r.stdout}${r.stderr}`);
  }
}

let authorization = null;

async function req(method, p, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (authorization) init.headers.authorization = authorization;
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    init.headers["content-type"] = headers["content-type"] || "application/json";
  }
  const r = await fetch(base + p, init);
  const text = method === "HEAD" ? "" : await r.text();
  return { status: r.status, headers: r.headers, text, json: (() => { try { return JSON.parse(text); } catch { return null; } })() };
}

// A case: the request through Prism, the status expected, no violation.
// want "invalid request": a request the document itself refuses (Prism
// answers 422 naming the query or body), as peerd refuses it with a 400 —
// that the document says so is what is checked (peerd's own 400s are the
// e2e suite's).
async function check(name, method, p, body, want, extra, type) {
  let r;
  try {
    r = await req(method, p, body, type ? { "content-type": type } : {});
    const violations = r.headers.get("sl-violations");
    const prismError = r.json && typeof r.json.type === "string" && r.json.type.includes("stoplight.io/prism");
    if (want === "invalid request") {
      const onRequest = prismError && r.status === 422 && (r.json.validation || []).length > 0 &&
        r.json.validation.every((v) => ["query", "body", "path"].includes(v.location[0]));
      if (!onRequest) throw new Error(`the document lets this request through: ${r.status} ${r.text.slice(0, 300)}`);
    } else {
      if (violations || prismError) throw new Error(`the document is broken here: ${violations || r.text}`);
      if (r.status !== want) throw new Error(`status ${r.status}, not ${want}: ${r.text.slice(0, 300)}`);
    }
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
  try {
    typedClient();
    const { main } = await import(path.join(here, "build/client.js"));
    const node = await main(base);
    if (!node.startsWith("typed_client@")) throw new Error(`the typed client called a node named ${node}`);
    passed++;
    console.log("[PASS] a client typed from the document: type-checks and runs");
  } catch (e) {
    failed++;
    console.log(`[FAIL] a client typed from the document: ${e.message}`);
  }
  await check("healthz", "GET", "/healthz", undefined, 200);
  await check("the document", "GET", "/openapi.yaml", undefined, 200);
  await check("the dashboard", "GET", "/", undefined, 200);
  await check("its icon", "GET", "/favicon.ico", undefined, 200);
  await check("random name", "GET", "/random-name?prefix=c", undefined, 200);
  await check("random name, bad prefix", "GET", "/random-name?prefix=a%20b", undefined, "invalid request");
  await check("metrics", "GET", "/metrics", undefined, 200);
  await check("scope, no token", "GET", "/scope", undefined, 200, (r) => { if (r.json.scope !== "open") throw new Error(r.text); });
  await check("list", "GET", "/peers", undefined, 200);
  await check("start, bad option", "POST", "/peers", { shutdown: { halt: 999 } }, "invalid request");
  await check("start", "POST", "/peers", { name: "contract1", lease_ms: 600000 }, 201);
  await check("start, name taken", "POST", "/peers", { name: "contract1" }, 409);
  await check("get", "GET", "/peers/contract1", undefined, 200);
  await check("get, no such peer", "GET", "/peers/nosuch", undefined, 404);
  await check("get, with vitals", "GET", "/peers/contract1?vitals=1", undefined, 200,
              (r) => { if (!(r.json.vitals && r.json.vitals.memory.total > 0 && r.json.vitals.os)) throw new Error(r.text); });
  await check("get, bad vitals", "GET", "/peers/contract1?vitals=2", undefined, "invalid request");
  await check("list, with vitals", "GET", "/peers?vitals=1", undefined, 200);
  await check("metrics, with vitals", "GET", "/metrics?vitals=*", undefined, 200,
              (r) => { if (!r.text.includes('peerd_node_up{peer="contract1"} 1')) throw new Error(r.text.slice(-600)); });
  await check("metrics, empty vitals selector (Prism takes an empty value as none; peerd refuses it)", "GET", "/metrics?vitals=", undefined, 400);
  await check("call", "POST", "/peers/contract1/call", { module: "erlang", function: "node", args: [] }, 200);
  await check("call, text args", "POST", "/peers/contract1/call", { module: "lists", function: "seq", args: "[1, 3]" }, 200);
  await check("call, exception", "POST", "/peers/contract1/call", { module: "erlang", function: "error", args: "[badarg]" }, 422);
  await check("call, bad body", "POST", "/peers/contract1/call", { module: 1 }, "invalid request");
  await check("call, bad term text", "POST", "/peers/contract1/call", { module: "erlang", function: "node", args: "[foo(" }, 400);
  await check("call, a node's pid text", "POST", "/peers/contract1/call", { module: "erlang", function: "is_pid", args: "[<5.6.7>]" }, 400);
  await check("call, timeout", "POST", "/peers/contract1/call", { module: "timer", function: "sleep", args: [2000], timeout_ms: 100 }, 504);
  await check("cast", "POST", "/peers/contract1/cast", { module: "io", function: "format", args: "[\"hi~n\"]" }, 202);
  await check("send", "POST", "/peers/contract1/send", { to: "init", message: { "$atom": "hello" } }, 202);
  await check("console", "GET", "/peers/contract1/console", undefined, 200);
  await check("console, bad since", "GET", "/peers/contract1/console?since=x", undefined, "invalid request");
  await check("console, since out of range", "GET", "/peers/contract1/console?since=99999999999999999999", undefined, "invalid request");
  await direct("console, since out of range, at peerd", `${peerdBase}/peers/contract1/console?since=99999999999999999999`, "text/plain", () => {}, "GET", 400);
  await check("console, bad follow flag", "GET", "/peers/contract1/console?follow=maybe", undefined, "invalid request");
  await check("messages", "GET", "/peers/contract1/messages", undefined, 200);
  await check("wait running", "GET", "/peers/contract1/wait?state=running", undefined, 200);
  await check("lease", "PUT", "/peers/contract1/lease", { lease_ms: 600000 }, 200);
  await check("events, follow=0", "GET", "/events?follow=0", undefined, 200, ndjsonLines("EventLine"));
  await check("events, reset", "GET", "/events?follow=0&since=0000000000000001-5", undefined, 200, ndjsonLines("EventLine"));
  await check("call, an expression as args", "POST", "/peers/contract1/call", { module: "erlang", function: "send", args: "[group_leader(), {hello, 1}]" }, 400);
  await check("messages, reset", "GET", "/peers/contract1/messages?since=0000000000000001-5", undefined, 200, ndjsonLines("MessageLine"));
  await direct("events as SSE", `${peerdBase}/events?follow=0`, "text/event-stream", sseEvents("Event"));
  await direct("events as SSE, after a reset", `${peerdBase}/events?follow=0&since=0000000000000001-3`, "text/event-stream", sseEvents("Event"));
  await check("events, since past 2^64-1", "GET", "/events?follow=0&since=18446744073709551616", undefined, "invalid request");
  await check("events, since 2^64-1", "GET", "/events?follow=0&since=18446744073709551615", undefined, 200);
  await direct("console snapshot as SSE", `${peerdBase}/peers/contract1/console`, "text/event-stream", (r) => {
    if (!/^id: [0-9a-f]{16}-[0-9]+\ndata: /.test(r.text)) throw new Error(r.text);
  });
  await direct("messages snapshot as SSE, after a reset", `${peerdBase}/peers/contract1/messages?since=0000000000000001-5`, "text/event-stream",
               sseEvents("Message"));
  await check("crash dump of a running node", "GET", "/peers/contract1/crash_dump", undefined, 404);
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
  await check("start 5", "POST", "/peers", { name: "contract5", peer_down: "continue" }, 201);
  await check("halt 5", "POST", "/peers/contract5/cast", { module: "erlang", function: "halt", args: "[\"contract\"]" }, 202);
  await check("wait down 5", "GET", "/peers/contract5/wait?state=down&timeout_ms=10000", undefined, 200,
              (r) => { if (!(r.json.crash_dump_bytes > 0)) throw new Error(r.text); });
  await check("crash dump", "GET", "/peers/contract5/crash_dump", undefined, 200,
              (r) => { if (!r.text.includes("Slogan: contract")) throw new Error(r.text.slice(0, 200)); });
  await check("stop 5", "DELETE", "/peers/contract5", undefined, 200);

  // Many nodes at once (groups, multicall, clusters, batches, modules, eval).
  const erl = mkdtempSync(path.join(os.tmpdir(), "peerd-contract-erlc-"));
  writeFileSync(path.join(erl, "contract_mod.erl"), "-module(contract_mod).\n-export([v/0]).\nv() -> 1.\n");
  const erlc = spawnSync("erlc", ["-o", erl, path.join(erl, "contract_mod.erl")], { encoding: "utf8" });
  if (erlc.status !== 0) throw new Error(`erlc: ${erlc.stderr}`);
  const beam = readFileSync(path.join(erl, "contract_mod.beam"));
  writeFileSync(path.join(erl, "contract_onload.erl"), "-module(contract_onload).\n-on_load(init/0).\ninit() -> nope.\n");
  if (spawnSync("erlc", ["-o", erl, path.join(erl, "contract_onload.erl")]).status !== 0) throw new Error("erlc contract_onload");
  const onLoad = readFileSync(path.join(erl, "contract_onload.beam"));
  await check("start, labels and cluster", "POST", "/peers", { name: "contractg1", labels: { job: "c" }, cluster: "cc" }, 201);
  await check("start, bad labels", "POST", "/peers", { labels: { job: "a b" } }, "invalid request");
  await check("start, another cookie for the cluster", "POST", "/peers", { cluster: "cc", cookie: "other" }, 409);
  await check("list by selector", "GET", "/peers?selector=job%3Dc", undefined, 200,
              (r) => { if (r.json.peers.length !== 1) throw new Error(r.text); });
  await check("list, bad selector", "GET", "/peers?selector=a%20b", undefined, 400);
  await check("list, empty selector", "GET", "/peers?selector=", undefined, 400);
  await check("list by a set", "GET", "/peers?selector=job%20in%20(c,d)", undefined, 200,
              (r) => { if (r.json.peers.length !== 1) throw new Error(r.text); });
  await check("multicall", "POST", "/calls", { selector: "job=c", module: "erlang", function: "node" }, 200);
  await check("multicall by ids", "POST", "/calls", { peers: ["contractg1", "nosuch"], module: "erlang", function: "error", args: ["x"] }, 200);
  await check("multicall, bad body", "POST", "/calls", { selector: "job=c", module: 1, function: "node" }, "invalid request");
  await check("multicall, both peers and selector", "POST", "/calls", { selector: "job=c", peers: ["contractg1"], module: "erlang", function: "node" }, "invalid request");
  await check("multicall, a selector that picks none", "POST", "/calls", { selector: "job=none", module: "erlang", function: "node" }, 404);
  await check("multicast, a selector that picks none", "POST", "/casts", { selector: "job=none", module: "erlang", function: "node" }, 404);
  await check("multicast", "POST", "/casts", { peers: ["contractg1"], module: "erlang", function: "node" }, 200);
  await check("eval", "POST", "/peers/contractg1/eval", { expr: "X = 20, X + 1." }, 200);
  await check("eval, syntax error", "POST", "/peers/contractg1/eval", { expr: "X = ." }, 400);
  await check("eval, exception", "POST", "/peers/contractg1/eval", { expr: "1/0." }, 422);
  await check("eval, bad body", "POST", "/peers/contractg1/eval", { expr: 1 }, "invalid request");
  await check("batch", "POST", "/peers/contractg1/calls", '{"module":"erlang","function":"node"}\nnot a call\n{"module":"erlang","function":"error","args":[1]}\n', 200,
              ndjsonLines("BatchAnswer"), "application/x-ndjson");
  await check("batch, no such peer", "POST", "/peers/nosuch/calls", '{"module":"erlang","function":"node"}\n', 404, undefined, "application/x-ndjson");
  await directPut("module", `${peerdBase}/peers/contractg1/modules/contract_mod`, beam, 200, "ModuleLoaded");
  await directPut("module, another module's code", `${peerdBase}/peers/contractg1/modules/other_mod`, beam, 400, "Problem");
  await directPut("module, cut short", `${peerdBase}/peers/contractg1/modules/contract_mod`, beam.subarray(0, beam.length - 4), 400, "Problem");
  await directPut("module, refused by the node", `${peerdBase}/peers/contractg1/modules/contract_onload`, onLoad, 422, "Problem");
  await directPut("module on a group, none picked", `${peerdBase}/modules/contract_mod?selector=job%3Dnone`, beam, 404, "Problem");
  await directPut("module on a group", `${peerdBase}/modules/contract_mod?selector=job%3Dc`, beam, 200, "GroupResults");
  await check("call the module", "POST", "/peers/contractg1/call", { module: "contract_mod", function: "v" }, 200,
              (r) => { if (r.json.result !== "1") throw new Error(r.text); });
  await check("module, not code, through the proxy", "PUT", "/peers/contractg1/modules/contract_mod", "not a beam", 400, undefined, "application/octet-stream");
  await check("clusters", "GET", "/clusters", undefined, 200);
  await check("cluster", "GET", "/clusters/cc", undefined, 200);
  await check("cluster, none", "GET", "/clusters/nosuch", undefined, 404);
  await check("stop a group, no selector", "DELETE", "/peers", undefined, "invalid request");
  await check("stop a group, empty selector", "DELETE", "/peers?selector=", undefined, "invalid request");
  await direct("stop a group, empty selector, at peerd", `${peerdBase}/peers?selector=`, "application/json", () => {}, "DELETE", 400);
  await check("stop a group, none picked", "DELETE", "/peers?selector=job%3Dnone", undefined, 404);
  await check("stop a group", "DELETE", "/peers?selector=job%3Dc", undefined, 200,
              (r) => { if (r.json.peers.length !== 1 || r.json.peers[0].state !== "down") throw new Error(r.text); });
} finally {
  prism.kill();
  peerd.kill();
}

// With a token, a read-only token and --allow-exec: 401, 403, and what needs no token.
const dir = mkdtempSync(path.join(os.tmpdir(), "peerd-contract-"));
writeFileSync(path.join(dir, "token"), "contract-token\n");
writeFileSync(path.join(dir, "read-token"), "contract-read-token\n");
({ peerd, prism, base } = await start(["--token-file", path.join(dir, "token"), "--read-token-file", path.join(dir, "read-token"),
                                       "--allow-exec", "erl"]));
try {
  await check("healthz without the token", "GET", "/healthz", undefined, 200);
  await check("list without the token", "GET", "/peers", undefined, 401);
  await check("start without the token", "POST", "/peers", {}, 401);
  authorization = "Bearer contract-token";
  await check("list with the token", "GET", "/peers", undefined, 200);
  await check("start a program not allowed", "POST", "/peers", { exec: "/bin/ls" }, 403);
  await check("scope, the control token", "GET", "/scope", undefined, 200, (r) => { if (r.json.scope !== "control") throw new Error(r.text); });
  authorization = "Bearer contract-read-token";
  await check("list with the read-only token", "GET", "/peers", undefined, 200);
  await check("scope, the read-only token", "GET", "/scope", undefined, 200, (r) => { if (r.json.scope !== "read") throw new Error(r.text); });
  await check("start with the read-only token", "POST", "/peers", {}, 403);
  await check("stop with the read-only token", "DELETE", "/peers/nosuch", undefined, 403);
} finally {
  prism.kill();
  peerd.kill();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
