// Istio's sample external authorizer (samples/extauthz/cmd/extauthz/main.go) as `tsmesh app
// ext-authz`: an HTTP check server (default port 8000) and a gRPC envoy.service.auth.v3
// Authorization server (default 9000). A request is allowed when it carries `x-ext-authz: allow`;
// without that header the gRPC check allows a source principal of service account
// `-allow_service_account` (default "a"). Answers and logs are the sample's: the
// x-ext-authz-check-result header (allowed|denied), x-ext-authz-check-received (what the check
// saw), x-ext-authz-additional-header-override (the request's value over HTTP, a fixed value over
// gRPC), 403 with the sample's body when denied. Flags as the original (-http, -grpc,
// -allow_service_account); listens on HOST (default 127.0.0.1).
import * as grpc from "@grpc/grpc-js";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { decodeMessage, encodeMessage, type ProtoObject } from "../../envoy/protos.js";
import type { AppContext, AppMain } from "../types.js";
import { attributesText, goHeaderMap, goLogTime } from "./text.js";

const CHECK_HEADER = "x-ext-authz";
const ALLOWED_VALUE = "allow";
const RESULT_HEADER = "x-ext-authz-check-result";
const RECEIVED_HEADER = "x-ext-authz-check-received";
const OVERRIDE_HEADER = "x-ext-authz-additional-header-override";
const OVERRIDE_GRPC_VALUE = "grpc-additional-header-override-value";
export const DENY_BODY = `denied by ext_authz for not found header \`${CHECK_HEADER}: ${ALLOWED_VALUE}\` in the request`;
/** The largest HTTP check body read (the sample reads it whole; a bound here). */
const MAX_BODY = 1 << 20;

/** Envoy accepts headers up to 60 KiB: longer values are replaced, as the sample does. */
function notTooLong(s: string): string {
  return s.length > 60000 ? "<too-long>" : s;
}

interface Options {
  host: string;
  httpPort: number;
  grpcPort: number;
  allowServiceAccount: string;
}

function parseArgs(ctx: AppContext): Options {
  const flags = new Map<string, string>();
  const argv = ctx.argv;
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([a-z_]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`ext-authz: unexpected argument ${JSON.stringify(argv[i])} (flags: -http, -grpc, -allow_service_account)`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`ext-authz: flag needs an argument: -${m[1]}`);
    if (!["http", "grpc", "allow_service_account"].includes(m[1])) throw new Error(`ext-authz: unknown flag -${m[1]}`);
    flags.set(m[1], value);
  }
  const port = (name: string, dflt: string): number => {
    const raw = flags.get(name) ?? dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`ext-authz: invalid -${name} port ${JSON.stringify(raw)}`);
    return n;
  };
  return { host: ctx.env.HOST || "127.0.0.1", httpPort: port("http", "8000"), grpcPort: port("grpc", "9000"), allowServiceAccount: flags.get("allow_service_account") ?? "a" };
}

function headerOf(req: IncomingMessage, name: string): string {
  const v = req.headers[name];
  return Array.isArray(v) ? (v[0] ?? "") : (v ?? "");
}

function httpCheck(ctx: AppContext, req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size <= MAX_BODY) chunks.push(c);
  });
  req.on("error", (e) => ctx.log(`${goLogTime()} [HTTP] read body failed: ${e.message}`));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const line = `${req.method ?? ""} ${headerOf(req, "host")}${req.url ?? ""}, headers: ${goHeaderMap(req.rawHeaders)}, body: [${notTooLong(body)}]`;
    const allowed = headerOf(req, CHECK_HEADER) === ALLOWED_VALUE;
    ctx.log(`${goLogTime()} [HTTP][${allowed ? "allowed" : "denied"}]: ${line}`);
    // Go's Header.Set with a value ending in "\n" sends it without the newline.
    const headers = { [RESULT_HEADER]: allowed ? "allowed" : "denied", [OVERRIDE_HEADER]: headerOf(req, OVERRIDE_HEADER), [RECEIVED_HEADER]: line.replace(/[\r\n]/g, " ") };
    if (allowed) {
      res.writeHead(200, headers);
      res.end();
    } else {
      res.writeHead(403, { ...headers, "content-type": "text/plain; charset=utf-8" });
      res.end(DENY_BODY);
    }
  });
}

const CHECK_REQUEST = "envoy.service.auth.v3.CheckRequest";
const CHECK_RESPONSE = "envoy.service.auth.v3.CheckResponse";

const AUTHORIZATION_SERVICE: grpc.ServiceDefinition = {
  Check: {
    path: "/envoy.service.auth.v3.Authorization/Check",
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: ProtoObject) => Buffer.from(encodeMessage(CHECK_REQUEST, v)),
    requestDeserialize: (b: Buffer) => decodeMessage(CHECK_REQUEST, b),
    responseSerialize: (v: ProtoObject) => Buffer.from(encodeMessage(CHECK_RESPONSE, v)),
    responseDeserialize: (b: Buffer) => decodeMessage(CHECK_RESPONSE, b),
  },
};

interface CheckAttributes {
  source?: { principal?: string };
  request?: { http?: { host?: string; path?: string; headers?: Record<string, string> } };
}

/** The sample's v3 Check: the header decides when present, else the source's service account. */
export function checkResponse(request: ProtoObject, allowServiceAccount: string): { allowed: boolean; response: ProtoObject; attributes: string } {
  const attrs = (request.attributes ?? {}) as CheckAttributes & ProtoObject;
  const headers = attrs.request?.http?.headers ?? {};
  const allowed = Object.prototype.hasOwnProperty.call(headers, CHECK_HEADER)
    ? headers[CHECK_HEADER] === ALLOWED_VALUE
    : attrs.source !== undefined && (attrs.source.principal ?? "").endsWith(`/sa/${allowServiceAccount}`);
  const attributes = attributesText(attrs);
  const headerList = [
    { header: { key: RESULT_HEADER, value: allowed ? "allowed" : "denied" } },
    { header: { key: RECEIVED_HEADER, value: notTooLong(attributes) } },
    { header: { key: OVERRIDE_HEADER, value: OVERRIDE_GRPC_VALUE } },
  ];
  const response: ProtoObject = allowed
    ? { status: { code: 0 }, okResponse: { headers: headerList } }
    : { status: { code: grpc.status.PERMISSION_DENIED }, deniedResponse: { status: { code: "Forbidden" }, body: DENY_BODY, headers: headerList } };
  return { allowed, response, attributes };
}

function listenHttp(server: ReturnType<typeof createServer>, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function hostPort(a: { address: string; port: number }): string {
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export const extAuthz: AppMain = async (ctx) => {
  const o = parseArgs(ctx);
  const http = createServer((req, res) => httpCheck(ctx, req, res));
  const httpAddr = await listenHttp(http, o.host, o.httpPort);
  ctx.log(`${goLogTime()} Starting HTTP server at ${hostPort(httpAddr)}`);
  const server = new grpc.Server();
  server.addService(AUTHORIZATION_SERVICE, {
    Check: (call: grpc.ServerUnaryCall<ProtoObject, ProtoObject>, callback: grpc.sendUnaryData<ProtoObject>) => {
      const r = checkResponse(call.request, o.allowServiceAccount);
      const http = (call.request.attributes as CheckAttributes | undefined)?.request?.http;
      ctx.log(`${goLogTime()} [gRPCv3][${r.allowed ? "allowed" : "denied"}]: ${http?.host ?? ""}${http?.path ?? ""}, attributes: ${r.attributes}`);
      callback(null, r.response);
    },
  });
  let grpcPort: number;
  try {
    grpcPort = await new Promise<number>((resolve, reject) => server.bindAsync(`${o.host.includes(":") ? `[${o.host}]` : o.host}:${o.grpcPort}`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
  } catch (e) {
    http.close();
    throw e;
  }
  const grpcAddr = hostPort({ address: o.host, port: grpcPort });
  ctx.log(`${goLogTime()} Starting gRPC server at ${grpcAddr}`);
  return {
    addresses: [hostPort(httpAddr), grpcAddr],
    async close() {
      http.closeAllConnections();
      await Promise.all([new Promise<void>((r) => http.close(() => r())), new Promise<void>((r) => server.tryShutdown(() => r()))]);
      server.forceShutdown();
      ctx.log(`${goLogTime()} GRPC server stopped`);
    },
  };
};
