// Helpers for the global rate limit's tests: a real redis-server on a loopback port (started and
// killed by the test) and a real gRPC client of envoy.service.ratelimit.v3.RateLimitService.
import * as grpc from "@grpc/grpc-js";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createConnection, createServer } from "node:net";
import { decodeMessage, encodeMessage } from "../../src/envoy/protos.js";
import { SHOULD_RATE_LIMIT_PATH } from "../../src/ratelimit/server.js";
import { eventually } from "./eventually.js";

export const HAVE_REDIS = spawnSync("redis-server", ["--version"]).status === 0;

/** A port free on `host` right now. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** Whether a Redis answers PING on host:port. */
export function ping(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ host, port });
    let data = "";
    c.setTimeout(2000, () => c.destroy());
    c.on("connect", () => c.write("PING\r\n"));
    c.on("data", (b) => {
      data += b.toString();
      if (data.includes("\r\n")) {
        c.destroy();
        resolve(data.startsWith("+PONG"));
      }
    });
    c.on("error", () => resolve(false));
    c.on("close", () => resolve(false));
  });
}

/** redis-server on host:port, nothing saved; resolves once it answers. */
export async function startRedis(host: string, port: number): Promise<ChildProcess> {
  const p = spawn("redis-server", ["--port", String(port), "--bind", host, "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  await eventually(`redis-server on ${host}:${port}`, () => ping(host, port), 20_000, 50);
  return p;
}

/** Kills a redis-server started by startRedis (as a crash would). */
export function stopRedis(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    p.once("exit", () => resolve());
    p.kill("SIGKILL");
  });
}

export type RlsResult = { ok: Record<string, unknown> } | { error: grpc.ServiceError };

/** A real gRPC client of envoy.service.ratelimit.v3.RateLimitService at `address`. */
export function rlsClient(address: string): { call: (req: object) => Promise<RlsResult>; close: () => void } {
  const Client = grpc.makeGenericClientConstructor(
    {
      ShouldRateLimit: {
        path: SHOULD_RATE_LIMIT_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: (o: object) => Buffer.from(encodeMessage("envoy.service.ratelimit.v3.RateLimitRequest", o)),
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => decodeMessage("envoy.service.ratelimit.v3.RateLimitResponse", b),
      },
    },
    "RateLimitService",
  );
  const client = new Client(address, grpc.credentials.createInsecure());
  type Unary = (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: Record<string, unknown>) => void) => void;
  const call = (req: object): Promise<RlsResult> =>
    new Promise((resolve) => {
      (client as unknown as { ShouldRateLimit: Unary }).ShouldRateLimit(req, new grpc.Metadata(), { deadline: Date.now() + 20_000 }, (e, v) => resolve(e ? { error: e } : { ok: v! }));
    });
  return { call, close: () => client.close() };
}
