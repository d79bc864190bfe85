// The admin endpoint of `tsmesh tap`: GET /tsmesh/tap?path=PREFIX&method=M&authority=A&status=5xx
// streams the proxy's finished streams as newline-delimited JSON (chunked) until the client goes
// away or the session's time is up. Not Envoy's /tap: that one is a POST whose body is a TapConfig
// (match predicates over headers and bodies, buffered or streamed trace output) — a different
// contract, so tsmesh's lives under its own path.
//
// Lines: first {"type":"start",…} (the filter in effect and the limits), then one TapEvent per
// stream ({"type":"http"|"tcp",…}), {"type":"dropped","count":N} before the events that follow a
// loss (the ring overflowed while the client was slow to read), and {"type":"end","reason":…} when
// the proxy ends the session.
import type * as http from "node:http";
import { type TapHub, parseTapFilter } from "./tap.js";

export const TAP_ADMIN_PATH = "/tsmesh/tap";

function refuse(res: http.ServerResponse, status: number, message: string): void {
  const body = message + "\n";
  res.writeHead(status, { "content-type": "text/plain; charset=UTF-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Serves one tapper on `res` until it goes away or the hub's session limit ends it. */
export function serveTap(hub: TapHub, url: URL, method: string, res: http.ServerResponse): void {
  if (method !== "GET") return refuse(res, 405, `Method ${method} not allowed, GET required.`);
  const filter = parseTapFilter(url.searchParams);
  if (typeof filter === "string") return refuse(res, 400, `tap: ${filter}`);
  let blocked = false;
  let scheduled = false;
  let ended = false;
  const flush = () => {
    scheduled = false;
    if (blocked || ended) return;
    const { items, dropped } = ring.take();
    let chunk = dropped > 0 ? JSON.stringify({ type: "dropped", count: dropped }) + "\n" : "";
    for (const e of items) chunk += JSON.stringify(e) + "\n";
    // Events wait in the ring (bounded) while the client reads slowly.
    if (chunk !== "" && !res.write(chunk)) blocked = true;
  };
  const wake = () => {
    if (scheduled || blocked) return;
    scheduled = true;
    setImmediate(flush);
  };
  const opened = hub.open(filter, wake);
  if (opened === undefined) return refuse(res, 503, `tap: ${hub.maxTappers} tappers are connected already (the most this proxy serves at once)`);
  const ring = opened.tapper.ring;
  const timer = setTimeout(() => {
    flush();
    ended = true;
    res.end(JSON.stringify({ type: "end", reason: `the session reached its maximum duration (${Math.round(hub.maxSessionMs / 1000)}s)` }) + "\n");
    opened.close();
  }, hub.maxSessionMs);
  timer.unref();
  res.on("drain", () => {
    blocked = false;
    wake();
  });
  // The client went away (or the admin closed): the tapper goes, and with the last one the sink.
  res.on("close", () => {
    ended = true;
    clearTimeout(timer);
    opened.close();
  });
  res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-cache", "x-content-type-options": "nosniff" });
  res.write(JSON.stringify({ type: "start", filter, bufferEvents: hub.bufferEvents, maxSessionMs: hub.maxSessionMs }) + "\n");
}
