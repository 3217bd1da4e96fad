// A small client typed from openapi/openapi.yaml by openapi-typescript: what
// a dashboard or a test harness written against the document looks like.
// tests/contract/run.mjs generates peerd-api.d.ts, type-checks this file
// (tsc --strict), and runs it against the peerd under test.
import type { components, paths } from "./peerd-api.js";

type Peer = components["schemas"]["Peer"];
type Problem = components["schemas"]["Problem"];
type StartBody = NonNullable<paths["/peers"]["post"]["requestBody"]>["content"]["application/json"];
type CallBody = NonNullable<paths["/peers/{id}/call"]["post"]["requestBody"]>["content"]["application/json"];
type CallOk = paths["/peers/{id}/call"]["post"]["responses"][200]["content"]["application/json"];

async function json<T>(r: Response): Promise<T> {
  return (await r.json()) as T;
}

export async function start(base: string, body: StartBody): Promise<Peer | Problem> {
  const r = await fetch(`${base}/peers`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return json<Peer | Problem>(r);
}

export async function call(base: string, id: string, body: CallBody): Promise<CallOk | Problem> {
  const r = await fetch(`${base}/peers/${encodeURIComponent(id)}/call`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  return json<CallOk | Problem>(r);
}

export async function stop(base: string, id: string): Promise<Peer | Problem> {
  return json<Peer | Problem>(await fetch(`${base}/peers/${encodeURIComponent(id)}`, { method: "DELETE" }));
}

// Start, call erlang:node/0, stop: prints the node's name.
export async function main(base: string): Promise<string> {
  const peer = await start(base, { name: "typed_client", lease_ms: 60000, connection: "standard_io" });
  if (!("id" in peer)) throw new Error(`start: ${peer.detail}`);
  const r = await call(base, peer.id, { module: "erlang", function: "node", args: [] });
  if (!("result" in r)) throw new Error(`call: ${r.detail}`);
  await stop(base, peer.id);
  return r.result;
}
