// httpbin, as Istio's samples run it (samples/httpbin/httpbin.yaml: image mccutchen/go-httpbin, port
// 8080): the endpoints Istio's task pages use, with go-httpbin's response shapes — JSON indented by two
// spaces, request headers as arrays under Go's canonical names ("X-B3-Sampled"), query arguments and
// form fields as arrays, errors as {"status_code", "error", "detail"}.
//
// Configuration as go-httpbin's command takes it: flags `-host`, `-port`, `-max-duration`,
// `-max-body-size` (also `--flag` and `-flag=value`), else the env vars HOST, PORT, MAX_DURATION,
// MAX_BODY_SIZE; env vars named HTTPBIN_* are shown by /env. When HTTPBIN_VERSION is set (the example
// sets v1/v2), every response also carries `X-Httpbin-Version`, so a client can tell the versions apart.
//
// This module is the app (flags, server, shutdown); endpoints.ts routes and answers, request.ts
// reads requests and writes responses as go-httpbin does, values.ts parses durations and statuses.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { AppContext, AppMain, RunningApp } from "../types.js";
import { handle, type Pending } from "./endpoints.js";
import { HttpError, pathAndQuery, sorted, writeError, type Options } from "./request.js";
import { parseGoDuration } from "../../core/go-duration.js";

const DEFAULT_PORT = 8080;

const DEFAULT_MAX_BODY = 1024 * 1024;

const DEFAULT_MAX_DURATION_MS = 10_000;

function parseArgs(ctx: AppContext): { host: string; port: number; maxBodySize: number; maxDurationMs: number } {
  const flags = new Map<string, string>();
  const argv = ctx.argv;
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`httpbin: unexpected argument ${JSON.stringify(argv[i])} (flags: -host, -port, -max-duration, -max-body-size)`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`httpbin: flag needs an argument: -${m[1]}`);
    flags.set(m[1], value);
  }
  const env = ctx.env;
  const host = flags.get("host") || env.HOST || "127.0.0.1";
  const rawPort = flags.get("port") ?? (env.PORT || String(DEFAULT_PORT));
  const port = Number(rawPort);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`httpbin: invalid port ${JSON.stringify(rawPort)}`);
  const rawBody = flags.get("max-body-size") ?? env.MAX_BODY_SIZE;
  const maxBodySize = rawBody ? Number(rawBody) : DEFAULT_MAX_BODY;
  if (!Number.isInteger(maxBodySize) || maxBodySize < 0) throw new Error(`httpbin: invalid max body size ${JSON.stringify(rawBody)}`);
  const rawDuration = flags.get("max-duration") ?? env.MAX_DURATION;
  const maxDurationMs = rawDuration ? parseGoDuration(rawDuration) : DEFAULT_MAX_DURATION_MS;
  if (maxDurationMs === undefined || maxDurationMs < 0) throw new Error(`httpbin: invalid max duration ${JSON.stringify(rawDuration)}`);
  for (const k of flags.keys()) if (!["host", "port", "max-body-size", "max-duration"].includes(k)) throw new Error(`httpbin: unknown flag -${k}`);
  return { host, port, maxBodySize, maxDurationMs };
}

export const httpbin: AppMain = async (ctx) => {
  const { host, port, maxBodySize, maxDurationMs } = parseArgs(ctx);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.env)) if (k.startsWith("HTTPBIN_") && v !== undefined) env[k] = v;
  const opts: Options = { maxBodySize, maxDurationMs, env: sorted(env), version: ctx.env.HTTPBIN_VERSION || undefined };
  const pending = new Set<Pending>();

  const server = createServer((req, res) => {
    const started = process.hrtime.bigint();
    const uri = pathAndQuery(req).raw;
    let logged = false;
    const logOnce = (status: number): void => {
      if (logged) return;
      logged = true;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      ctx.log(`${status} ${req.method ?? "?"} ${uri} ${ms.toFixed(1)}ms`);
    };
    res.on("finish", () => logOnce(res.statusCode));
    // A client gone before the answer: go-httpbin records 499 ("Client Closed Request").
    res.on("close", () => logOnce(res.writableFinished ? res.statusCode : 499));
    handle(req, res, opts, pending).catch((err: unknown) => {
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) writeError(res, err.status, err.message || undefined);
      else writeError(res, 500, err instanceof Error ? err.message : String(err));
    });
  });
  // go-httpbin's server closes idle keep-alive connections after 5 s (its ReadTimeout), as Node does.
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (err) => ctx.log(`httpbin: server error: ${err.message}`));
  const addr = server.address() as AddressInfo;
  const address = addr.family === "IPv6" ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  ctx.log(`go-httpbin listening on http://${address}`);

  let closing: Promise<void> | undefined;
  const running: RunningApp = {
    addresses: [address],
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const p of pending) {
          clearTimeout(p.timer);
          p.cancel();
        }
        pending.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
  return running;
};
