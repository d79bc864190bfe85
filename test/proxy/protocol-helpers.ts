// Helpers for the proxy's protocol tests: static Envoy config builders (decoded form), HTTP/1.1,
// h2c and dual-protocol backends that report what they saw, a gRPC server-streaming service, an
// h2c prior-knowledge client, and a raw-socket HTTP/1.1 exchange.
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { ProtoObject } from "../../src/envoy/protos.js";
import { HCM_TYPE } from "../../src/proxy/http/hcm-config.js";
import { ProxyServer, type ProxyOptions } from "../../src/proxy/proxy.js";

// ---- config builders ----

const FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";
const ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const HPO = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

export function staticCluster(name: string, address: string, port: number, opts: { protocol?: "http1" | "http2" | "downstream"; maxRequestsPerConnection?: number; connectTimeoutMs?: number; maxRequests?: number; metadata?: ProtoObject } = {}): ProtoObject {
  const c: ProtoObject = {
    name,
    type: "STATIC",
    connectTimeout: { nanos: (opts.connectTimeoutMs ?? 1000) * 1_000_000 },
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address, portValue: port } } } }] }] },
  };
  if (opts.connectTimeoutMs === undefined) c.connectTimeout = { seconds: 1 };
  if (opts.metadata) c.metadata = opts.metadata;
  if (opts.maxRequests) c.circuitBreakers = { thresholds: [{ maxRequests: { value: opts.maxRequests } }] };
  const hpo: ProtoObject = { "@type": `type.googleapis.com/${HPO}` };
  if (opts.protocol === "http2") hpo.explicitHttpConfig = { http2ProtocolOptions: {} };
  else if (opts.protocol === "downstream") hpo.useDownstreamProtocolConfig = { httpProtocolOptions: {}, http2ProtocolOptions: {} };
  else hpo.explicitHttpConfig = { httpProtocolOptions: {} };
  if (opts.maxRequestsPerConnection) hpo.commonHttpProtocolOptions = { maxRequestsPerConnection: { value: opts.maxRequestsPerConnection } };
  c.typedExtensionProtocolOptions = { [HPO]: hpo };
  return c;
}

/**
 * A workload's sidecar from static config, started: the node id and metadata (NAME, NAMESPACE,
 * WORKLOAD_NAME, LABELS…) istiod's bootstrap gives it — what metadata exchange sends as the peer.
 */
export async function startStaticSidecar(ip: string, metadata: { NAME: string; NAMESPACE: string } & Record<string, unknown>, staticResources: ProxyOptions["staticResources"]): Promise<ProxyServer> {
  const id = `sidecar~${ip}~${metadata.NAME}.${metadata.NAMESPACE}~${metadata.NAMESPACE}.svc.cluster.local`;
  const proxy = new ProxyServer({ staticResources, node: { id, metadata }, ip, log: () => {} });
  await proxy.start();
  return proxy;
}

export function httpListener(name: string, address: string, port: number, routes: ProtoObject[], hcm: ProtoObject = {}): ProtoObject {
  return {
    name,
    address: { socketAddress: { address, portValue: port } },
    filterChains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typedConfig: {
              "@type": HCM_TYPE,
              statPrefix: name,
              routeConfig: { name, virtualHosts: [{ name: "all", domains: ["*"], routes }] },
              httpFilters: [
                { name: "envoy.filters.http.fault", typedConfig: { "@type": FAULT_TYPE } },
                { name: "envoy.filters.http.router", typedConfig: { "@type": ROUTER_TYPE } },
              ],
              ...hcm,
            },
          },
        ],
      },
    ],
  };
}

export function prefixRoute(prefix: string, cluster: string, extra: ProtoObject = {}, match: ProtoObject = {}): ProtoObject {
  const { typedPerFilterConfig, ...route } = extra;
  const r: ProtoObject = { match: { prefix, ...match }, route: { cluster, ...route } };
  if (typedPerFilterConfig) r.typedPerFilterConfig = typedPerFilterConfig;
  return r;
}

export function grpcFault(grpcStatus: number): ProtoObject {
  return { "envoy.filters.http.fault": { "@type": FAULT_TYPE, abort: { grpcStatus, percentage: { numerator: 100 } } } };
}

// ---- backends ----

export interface SeenRequest {
  protocol: string;
  method: string;
  path: string;
  authority: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** What a backend does with a request (after the body was read, unless `early`). */
export interface Behaviour {
  status?: number;
  /** Write the body in parts with pauses (ms) between. */
  parts?: string[];
  gapMs?: number;
  /** Never answer. */
  hang?: boolean;
  trailers?: Record<string, string>;
}

/** Answers JSON {protocol, method, path, authority, headers, body} unless a behaviour says otherwise. */
export class ProtoBackend {
  readonly seen: SeenRequest[] = [];
  /** Requests whose client went away before the response finished. */
  aborted = 0;
  /** Sessions (HTTP/2) or connections (HTTP/1) accepted. */
  connections = 0;
  /** Body bytes received so far by the request in flight (streaming checks). */
  bytesInFlight = 0;
  behaviour: (path: string, n: number) => Behaviour = () => ({});
  private count = 0;
  private readonly servers: Array<net.Server | http.Server | http2.Http2Server> = [];
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(readonly name: string) {
    this.h1 = http.createServer((req, res) => this.handle("HTTP/1.1", req.method ?? "", req.url ?? "", req.headers.host ?? "", req.headers, req, res));
    this.h1.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      // A WebSocket-ish echo: 101, then every byte comes back upper-cased.
      this.seen.push({ protocol: "HTTP/1.1", method: req.method ?? "", path: req.url ?? "", authority: req.headers.host ?? "", headers: req.headers, body: "" });
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${String(req.headers.upgrade)}\r\nconnection: Upgrade\r\nsec-websocket-accept: ok\r\n\r\n`);
      if (head.length) socket.write(head.toString().toUpperCase());
      socket.on("data", (c: Buffer) => socket.write(c.toString().toUpperCase()));
      socket.on("error", () => {});
    });
    this.h2 = http2.createServer();
    this.h2.on("session", (s: http2.ServerHttp2Session) => {
      this.connections++;
      this.sessions.add(s);
      s.once("close", () => this.sessions.delete(s));
      s.on("error", () => {});
    });
    this.h2.on("request", (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) =>
      this.handle("HTTP/2", req.method, req.url, req.authority, req.headers as http.IncomingHttpHeaders, req, res),
    );
  }

  private handle(
    protocol: string,
    method: string,
    path: string,
    authority: string,
    headers: http.IncomingHttpHeaders,
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ): void {
    const n = ++this.count;
    const b = this.behaviour(path, n);
    const chunks: Buffer[] = [];
    this.bytesInFlight = 0;
    // (HTTP/2 compat responses emit "finish" on reset too: count our own end() instead.)
    let finished = false;
    res.on("close", () => {
      if (!finished) this.aborted++;
    });
    req.on("data", (c: Buffer) => {
      chunks.push(c);
      this.bytesInFlight += c.length;
    });
    req.on("end", () => {
      const clean: http.IncomingHttpHeaders = {};
      for (const [k, v] of Object.entries(headers)) if (!k.startsWith(":")) clean[k] = v;
      const seen = { protocol, method, path, authority, headers: clean, body: Buffer.concat(chunks).toString() };
      this.seen.push(seen);
      if (b.hang) return;
      const r = res as http.ServerResponse;
      if (b.parts) {
        r.writeHead(b.status ?? 200, { "content-type": "text/plain", "x-backend": this.name, ...(b.trailers && protocol !== "HTTP/2" ? { trailer: Object.keys(b.trailers).join(",") } : {}) });
        let i = 0;
        const next = () => {
          if (r.destroyed) return;
          if (i < b.parts!.length) {
            r.write(b.parts![i++]);
            setTimeout(next, b.gapMs ?? 0);
          } else {
            if (b.trailers) r.addTrailers(b.trailers);
            finished = true;
            r.end();
          }
        };
        next();
        return;
      }
      const body = JSON.stringify(seen);
      r.writeHead(b.status ?? 200, { "content-type": "application/json", "x-backend": this.name });
      finished = true;
      r.end(body);
    });
  }

  /** Listens: "h1" (HTTP/1.1 only), "h2" (h2c prior knowledge only), "dual" (sniffs the preface). */
  async listen(kind: "h1" | "h2" | "dual", address: string, port: number): Promise<this> {
    const server =
      kind === "h1"
        ? this.h1
        : kind === "h2"
          ? this.h2
          : net.createServer((socket) => {
              socket.once("data", (first: Buffer) => {
                socket.pause();
                socket.unshift(first);
                if (first.subarray(0, 3).toString() === "PRI") this.h2.emit("connection", socket);
                else {
                  this.connections++;
                  this.h1.emit("connection", socket);
                  socket.resume();
                }
              });
            });
    server.on("connection", (s: net.Socket) => {
      this.sockets.add(s);
      s.once("close", () => this.sockets.delete(s));
      if (kind === "h1") this.connections++;
    });
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, address, () => resolve());
    });
    return this;
  }

  /** Sends GOAWAY on every HTTP/2 session (graceful: in-flight streams finish). */
  goawayAll(): void {
    for (const s of this.sessions) s.close();
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

// ---- gRPC server streaming ----

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString("utf8")) as unknown,
};

export const STREAM_SERVICE: grpc.ServiceDefinition = {
  Count: {
    path: "/stream.Stream/Count",
    requestStream: false,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
  Hang: {
    path: "/stream.Stream/Hang",
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

export interface CountRequest {
  n: number;
  /** End with this status instead of OK (after the messages: real trailers). */
  failWith?: number;
}

export class StreamService {
  cancelled = 0;
  hanging = 0;

  implementation(): grpc.UntypedServiceImplementation {
    return {
      Count: (call: grpc.ServerWritableStream<CountRequest, { i: number }>) => {
        const { n, failWith } = call.request;
        let i = 0;
        const next = () => {
          if (call.cancelled) return;
          if (i < n) {
            call.write({ i: i++ });
            setTimeout(next, 5);
          } else if (failWith) {
            call.emit("error", { code: failWith, details: `stopped after ${n}` });
          } else {
            const md = new grpc.Metadata();
            md.set("x-count", String(n));
            call.end(md);
          }
        };
        next();
      },
      Hang: (call: grpc.ServerUnaryCall<unknown, unknown>) => {
        this.hanging++;
        call.on("cancelled", () => this.cancelled++);
      },
    };
  }
}

export const StreamClient = grpc.makeGenericClientConstructor(STREAM_SERVICE, "Stream");

// ---- clients ----

export interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: string;
}

/** One h2c (prior knowledge) request on a fresh session (or the given one). */
export function h2request(
  origin: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; session?: http2.ClientHttp2Session; timeoutMs?: number } = {},
): Promise<H2Reply> {
  const session = opts.session ?? http2.connect(origin);
  session.on("error", () => {});
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": opts.method ?? "GET", ":path": path, ...opts.headers }, { endStream: opts.body === undefined });
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    const t = setTimeout(() => {
      req.close();
      reject(new Error(`no answer for ${path}`));
    }, opts.timeoutMs ?? 5000);
    req.on("response", (h) => {
      headers = h;
      status = Number(h[":status"]);
    });
    req.on("trailers", (h) => (trailers = h));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      clearTimeout(t);
      if (!opts.session) session.close();
      resolve({ status, headers, trailers, body: Buffer.concat(chunks).toString() });
    });
    req.on("error", (e) => {
      clearTimeout(t);
      if (!opts.session) session.destroy();
      reject(e);
    });
    if (opts.body !== undefined) req.end(opts.body);
  });
}

/** A raw TCP conversation: send, and collect what arrives until `until` matches or the socket closes. */
export class RawConn {
  readonly socket: net.Socket;
  received = "";
  private waiters: Array<() => void> = [];
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (c: Buffer) => {
      this.received += c.toString("latin1");
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("close", () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("error", () => {});
  }

  static open(host: string, port: number): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new RawConn(s)));
      s.once("error", reject);
    });
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Waits until the received text matches (or the connection closed). */
  async until(re: RegExp, ms = 10_000): Promise<string> {
    const end = Date.now() + ms;
    while (!re.test(this.received)) {
      if (this.closed) throw new Error(`closed before ${re}: ${JSON.stringify(this.received)}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${re}: ${JSON.stringify(this.received)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.received;
  }

  close(): void {
    this.socket.destroy();
  }
}
