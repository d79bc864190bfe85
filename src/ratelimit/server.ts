// The rate-limit service's listeners, on envoyproxy/ratelimit's ports: gRPC
// envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit (8081), HTTP (8080: /healthcheck,
// /json — the same call as JSON, 429 when over the limit — and /metrics in Prometheus text), and the
// debug port (6070: / lists the endpoints, /stats, /rlconfig). Requests are decoded strictly and
// bounded (message size, descriptors, entries, lengths); a call the service cannot answer (no
// config, Redis down) fails with an error status so the proxy's failure mode decides.
import * as grpc from "@grpc/grpc-js";
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeMessage, encodeMessage } from "../envoy/protos.js";
import { UNIT_NUMBERS } from "./config.js";
import { StoreError } from "./limiter.js";
import { ServiceError, type RateLimitAnswer, type RateLimitRequestIn, type RateLimitService } from "./service.js";

export const RATE_LIMIT_SERVICE = "envoy.service.ratelimit.v3.RateLimitService";
export const SHOULD_RATE_LIMIT_PATH = `/${RATE_LIMIT_SERVICE}/ShouldRateLimit`;
const REQUEST_TYPE = "envoy.service.ratelimit.v3.RateLimitRequest";
const RESPONSE_TYPE = "envoy.service.ratelimit.v3.RateLimitResponse";

/** The largest request accepted, on gRPC and on /json. */
export const MAX_REQUEST_BYTES = 256 * 1024;

export interface ServerOptions {
  service: RateLimitService;
  /** HOST:PORT for each listener; undefined leaves it closed. Port 0 picks one. */
  grpcAddress: string;
  httpAddress?: string;
  debugAddress?: string;
  /** Whether the counters' store can answer (Redis connected at least once); /healthcheck reflects it. */
  storeHealthy: () => boolean;
  log: (level: "info" | "warning" | "error" | "debug", message: string) => void;
}

/** `HOST:PORT` → [host, port]; brackets around an IPv6 host are removed. */
export function splitHostPort(address: string): [string, number] {
  const m = /^(?:\[([^\]\s]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(address);
  if (!m || Number(m[3]) > 65535) throw new Error(`${JSON.stringify(address)} is not HOST:PORT (an IPv6 host in brackets)`);
  return [m[1] ?? m[2], Number(m[3])];
}

function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The answer as RateLimitResponse's typed object, proto3 defaults left out (protobufjs would write
 * a field set to its default; Go's encoder does not). Units as enum numbers: WEEK is newer than the
 * bundled proto.
 */
function responseObject(a: RateLimitAnswer): Record<string, unknown> {
  return {
    overallCode: a.overallCode,
    statuses: a.statuses.map((s) => ({
      code: s.code,
      ...(s.currentLimit
        ? { currentLimit: { ...(s.currentLimit.name ? { name: s.currentLimit.name } : {}), ...(s.currentLimit.requestsPerUnit ? { requestsPerUnit: s.currentLimit.requestsPerUnit } : {}), unit: UNIT_NUMBERS[s.currentLimit.unit] } }
        : {}),
      ...(s.limitRemaining ? { limitRemaining: s.limitRemaining } : {}),
      ...(s.durationUntilResetSeconds !== undefined ? { durationUntilReset: { seconds: s.durationUntilResetSeconds } } : {}),
    })),
    responseHeadersToAdd: a.responseHeadersToAdd,
  };
}

/** The answer in proto3's JSON mapping (defaults omitted, durations as "Ns"), as the reference's /json writes it. */
export function responseJson(a: RateLimitAnswer): Record<string, unknown> {
  const out: Record<string, unknown> = { overallCode: a.overallCode };
  if (a.statuses.length > 0) {
    out.statuses = a.statuses.map((s) => {
      const o: Record<string, unknown> = { code: s.code };
      if (s.currentLimit) {
        const l: Record<string, unknown> = {};
        if (s.currentLimit.name) l.name = s.currentLimit.name;
        if (s.currentLimit.requestsPerUnit) l.requestsPerUnit = s.currentLimit.requestsPerUnit;
        l.unit = s.currentLimit.unit;
        o.currentLimit = l;
      }
      if (s.limitRemaining) o.limitRemaining = s.limitRemaining;
      if (s.durationUntilResetSeconds !== undefined) o.durationUntilReset = `${s.durationUntilResetSeconds}s`;
      return o;
    });
  }
  if (a.responseHeadersToAdd.length > 0) out.responseHeadersToAdd = a.responseHeadersToAdd;
  return out;
}

/** A /json body (proto3 JSON: camelCase or proto field names) as a request; throws on anything else. */
export function parseJsonRequest(body: string): RateLimitRequestIn {
  const v: unknown = JSON.parse(body);
  const obj = (x: unknown, at: string): Record<string, unknown> => {
    if (typeof x !== "object" || x === null || Array.isArray(x)) throw new Error(`${at}: not an object`);
    return x as Record<string, unknown>;
  };
  const field = (o: Record<string, unknown>, names: readonly string[], at: string) => {
    for (const k of Object.keys(o)) if (!names.includes(k)) throw new Error(`${at}: unknown field ${JSON.stringify(k)}`);
    return (n: string, snake = n) => o[n] ?? o[snake];
  };
  const str = (x: unknown, at: string): string | undefined => {
    if (x === undefined || x === null) return undefined;
    if (typeof x !== "string") throw new Error(`${at}: not a string`);
    return x;
  };
  const uint32 = (x: unknown, at: string): number | undefined => {
    if (x === undefined || x === null) return undefined;
    const n = typeof x === "string" && /^\d+$/.test(x) ? Number(x) : x;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`${at}: not a uint32`);
    return n;
  };
  const arr = (x: unknown, at: string): unknown[] => {
    if (x === undefined || x === null) return [];
    if (!Array.isArray(x)) throw new Error(`${at}: not a list`);
    return x;
  };
  const root = obj(v, "request");
  const get = field(root, ["domain", "descriptors", "hitsAddend", "hits_addend"], "request");
  const descriptors = arr(get("descriptors"), "descriptors").map((d, i) => {
    const dd = obj(d, `descriptors[${i}]`);
    const g = field(dd, ["entries", "limit"], `descriptors[${i}]`);
    const entries = arr(g("entries"), `descriptors[${i}].entries`).map((e, j) => {
      const at = `descriptors[${i}].entries[${j}]`;
      const ee = obj(e, at);
      const ge = field(ee, ["key", "value"], at);
      return { key: str(ge("key"), `${at}.key`), value: str(ge("value"), `${at}.value`) };
    });
    const rawLimit = g("limit");
    if (rawLimit === undefined || rawLimit === null) return { entries };
    const at = `descriptors[${i}].limit`;
    const gl = field(obj(rawLimit, at), ["requestsPerUnit", "requests_per_unit", "unit"], at);
    const unit = gl("unit");
    if (unit !== undefined && typeof unit !== "string" && typeof unit !== "number") throw new Error(`${at}.unit: not an enum name or number`);
    return { entries, limit: { requestsPerUnit: uint32(gl("requestsPerUnit", "requests_per_unit"), `${at}.requestsPerUnit`), unit: unit as string | number | undefined } };
  });
  return { domain: str(get("domain"), "domain"), descriptors, hitsAddend: uint32(get("hitsAddend", "hits_addend"), "hitsAddend") };
}

export class RateLimitServer {
  private grpcServer: grpc.Server | undefined;
  private http: HttpServer | undefined;
  private debug: HttpServer | undefined;
  private terminating = false;
  /** Bound addresses (HOST:PORT), once listening. */
  readonly addresses: { grpc?: string; http?: string; debug?: string } = {};

  constructor(private readonly o: ServerOptions) {}

  get healthy(): boolean {
    return !this.terminating && this.o.storeHealthy();
  }

  /** /healthcheck fails from now on (the reference does so on SIGTERM, before draining). */
  markTerminating(): void {
    this.terminating = true;
  }

  async start(): Promise<void> {
    await this.startGrpc();
    if (this.o.httpAddress !== undefined) {
      this.http = await this.listen(this.o.httpAddress, (req, res) => this.handleHttp(req, res));
      this.addresses.http = addressOf(this.http);
    }
    if (this.o.debugAddress !== undefined) {
      this.debug = await this.listen(this.o.debugAddress, (req, res) => this.handleDebug(req, res));
      this.addresses.debug = addressOf(this.debug);
    }
  }

  private async startGrpc(): Promise<void> {
    const server = new grpc.Server({ "grpc.max_receive_message_length": MAX_REQUEST_BYTES });
    const bytes = (b: Buffer) => b;
    server.addService(
      {
        ShouldRateLimit: { path: SHOULD_RATE_LIMIT_PATH, originalName: "shouldRateLimit", requestStream: false, responseStream: false, requestSerialize: bytes, requestDeserialize: bytes, responseSerialize: bytes, responseDeserialize: bytes },
      },
      {
        ShouldRateLimit: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          let req: RateLimitRequestIn;
          try {
            req = decodeMessage(REQUEST_TYPE, call.request) as RateLimitRequestIn;
          } catch (e) {
            callback({ code: grpc.status.INTERNAL, details: `grpc: error unmarshalling request: ${(e as Error).message}` });
            return;
          }
          this.o.service.shouldRateLimit(req).then(
            (answer) => callback(null, Buffer.from(encodeMessage(RESPONSE_TYPE, responseObject(answer)))),
            (e: unknown) => callback(this.errorStatus(e)),
          );
        },
      },
    );
    const [host, port] = splitHostPort(this.o.grpcAddress);
    const bound = await new Promise<number>((resolve, reject) => server.bindAsync(joinHostPort(host, port), grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    this.grpcServer = server;
    this.addresses.grpc = joinHostPort(host, bound);
  }

  /** The gRPC status for a failed call: the reference answers plain errors (UNKNOWN); oversize or malformed input is INVALID_ARGUMENT. */
  private errorStatus(e: unknown): Partial<grpc.StatusObject> {
    if (e instanceof ServiceError) {
      this.o.log("debug", `ShouldRateLimit: ${e.message}`);
      return { code: e.invalidArgument ? grpc.status.INVALID_ARGUMENT : grpc.status.UNKNOWN, details: e.message };
    }
    if (e instanceof StoreError) {
      this.o.log("warning", `ShouldRateLimit: ${e.message}`);
      return { code: grpc.status.UNKNOWN, details: e.message };
    }
    this.o.log("error", `ShouldRateLimit: ${(e as Error).stack ?? String(e)}`);
    return { code: grpc.status.INTERNAL, details: "internal error" };
  }

  private listen(address: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<HttpServer> {
    const [host, port] = splitHostPort(address);
    const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, handler);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve(server);
      });
    });
  }

  private handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthcheck") {
      if (this.healthy) res.end("OK");
      else {
        res.statusCode = 500;
        res.end();
      }
      return;
    }
    if (path === "/metrics") {
      res.setHeader("content-type", "text/plain; version=0.0.4");
      res.end(this.o.service.stats.renderPrometheus());
      return;
    }
    if (path === "/json") {
      this.handleJson(req, res);
      return;
    }
    text(res, 404, "404 page not found\n");
  }

  private handleJson(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST_BYTES && !refused) {
        refused = true;
        text(res, 413, "Request Entity Too Large\n", true);
        req.destroy();
        return;
      }
      if (!refused) chunks.push(c);
    });
    req.on("end", () => {
      if (refused) return;
      let parsed: RateLimitRequestIn;
      try {
        parsed = parseJsonRequest(Buffer.concat(chunks).toString("utf8"));
      } catch (e) {
        this.o.log("warning", `/json: ${(e as Error).message}`);
        text(res, 400, "Bad Request\n");
        return;
      }
      this.o.service.shouldRateLimit(parsed).then(
        (answer) => {
          res.statusCode = answer.overallCode === "OVER_LIMIT" ? 429 : 200;
          res.setHeader("content-type", "application/json");
          res.end(JSON.stringify(responseJson(answer)));
        },
        (e: unknown) => {
          this.o.log("warning", `/json: ${(e as Error).message}`);
          text(res, 400, "Bad Request\n");
        },
      );
    });
    req.on("error", () => {});
  }

  private handleDebug(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/stats") text(res, 200, this.o.service.stats.renderText());
    else if (path === "/rlconfig") text(res, 200, this.o.service.currentConfig?.dump() ?? "");
    else if (path === "/") text(res, 200, "/rlconfig: print out the currently loaded configuration for debugging\n/stats: print out stats\n");
    else text(res, 404, "404 page not found\n");
  }

  async close(): Promise<void> {
    const g = this.grpcServer;
    if (g) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          g.forceShutdown();
          resolve();
        }, 5000);
        force.unref();
        g.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    }
    for (const s of [this.http, this.debug]) {
      if (!s) continue;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  }
}

function text(res: ServerResponse, status: number, body: string, close = false): void {
  res.statusCode = status;
  res.setHeader("content-type", "text/plain; charset=utf-8");
  if (close) res.setHeader("connection", "close");
  res.end(body);
}

function addressOf(s: HttpServer): string {
  const a = s.address() as AddressInfo;
  return joinHostPort(a.address, a.port);
}
