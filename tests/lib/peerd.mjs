// peerd.mjs — how the JavaScript suites (tests/contract, tests/browser)
// start a peerd, by the same rules as the C suites' peerd_start
// (tests/e2e/harness.c): the binary with "--listen ADDR" (127.0.0.1:0 unless
// given: the kernel picks a free port) and the suite's own arguments, its
// address read from the first line it prints ("peerd listening on URL"),
// and no peerd left behind when the suite exits, however it exits.
import { spawn } from "node:child_process";

const running = new Set();
process.on("exit", () => { for (const p of running) p.kill("SIGKILL"); });

// Resolves to { proc, base } once peerd listens; rejects, with what it
// printed, if it exits first or says nothing within 60 s.
export function startPeerd(bin, { listen = "127.0.0.1:0", args = [], env = {} } = {}) {
  const proc = spawn(bin, ["--listen", listen, ...args], { env: { ...process.env, ...env } });
  running.add(proc);
  proc.on("exit", () => running.delete(proc));
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`peerd did not start: ${text}`)), 60000);
    const take = (d) => {
      text += d;
      const m = /^peerd listening on (https?:\/\/\S+)/m.exec(text);
      if (m) { clearTimeout(timer); resolve({ proc, base: m[1] }); }
    };
    proc.stdout.on("data", take);
    proc.stderr.on("data", take);
    proc.on("exit", (code) => { clearTimeout(timer); reject(new Error(`peerd exited (${code}): ${text}`)); });
  });
}
