// Real check servers for the ext_authz tests: an HTTP check server and a gRPC
// envoy.service.auth.v3.Authorization server (@grpc/grpc-js, messages through the proxy's wire
// codec), each answering by a handler the test sets and recording what it received, including
// calls the client abandoned.
import * as grpc from "@grpc/grpc-js";
import * as http from "node:http";
import type { ProtoObject } from "../../src/envoy/protos.js";
import { wireDecode, wireEncode } from "../../src/envoy/wire.js";

export interface SeenHttpCheck {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface HttpCheckReply {
  status: number;
  headers?: http.OutgoingHttpHeaders;
  body?: string;
  /** Never answer (the call must be cancelled or time out). */
  hang?: boolean;
}

export class HttpCheckServer {
  readonly seen: SeenHttpCheck[] = [];
  /** Requests whose client went away before an answer. */
  abandoned = 0;
  handler: (s: SeenHttpCheck) => HttpCheckReply = () => ({ status: 200 });
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const s = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString() };
      this.seen.push(s);
      const r = this.handler(s);
      if (r.hang === true) {
        res.on("close", () => {
          if (!res.writableEnded) this.abandoned++;
        });
        return;
      }
      res.writeHead(r.status, r.headers);
      res.end(r.body);
    });
  });
  port = 0;

  async start(host: string): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, host, () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export interface GrpcCheckReply {
  /** A CheckResponse (typed-object form) … */
  response?: ProtoObject;
  /** … or a gRPC error status. */
  error?: grpc.status;
  /** Answer after this many milliseconds. */
  delayMs?: number;
}

const CHECK_REQUEST = "envoy.service.auth.v3.CheckRequest";
const CHECK_RESPONSE = "envoy.service.auth.v3.CheckResponse";

const SERVICE: grpc.ServiceDefinition = {
  Check: {
    path: "/envoy.service.auth.v3.Authorization/Check",
    requestStream: false,
    responseStream: false,
    requestSerialize: (v: ProtoObject) => wireEncode(CHECK_REQUEST, v),
    requestDeserialize: (b: Buffer) => wireDecode(CHECK_REQUEST, b),
    responseSerialize: (v: ProtoObject) => wireEncode(CHECK_RESPONSE, v),
    responseDeserialize: (b: Buffer) => wireDecode(CHECK_RESPONSE, b),
  },
};

/** The check request's attributes, as the tests read them. */
export interface SeenAttributes {
  source?: { address?: { socketAddress?: { address?: string; portValue?: number } }; principal?: string; certificate?: string; service?: string };
  destination?: { address?: { socketAddress?: { address?: string; portValue?: number } }; principal?: string };
  request?: { http?: { id?: string; method?: string; path?: string; host?: string; scheme?: string; protocol?: string; headers?: Record<string, string>; body?: string; rawBody?: Buffer; size?: number } };
  contextExtensions?: Record<string, string>;
  metadataContext?: unknown;
  tlsSession?: { sni?: string };
}

export class GrpcCheckServer {
  readonly seen: Array<{ attributes: SeenAttributes; metadata: grpc.Metadata }> = [];
  cancelled = 0;
  handler: (a: SeenAttributes) => GrpcCheckReply = () => ({ response: { status: { code: 0 } } });
  private readonly server = new grpc.Server();
  port = 0;

  async start(host: string): Promise<void> {
    this.server.addService(SERVICE, {
      Check: (call: grpc.ServerUnaryCall<ProtoObject, ProtoObject>, cb: grpc.sendUnaryData<ProtoObject>) => {
        const attributes = (call.request.attributes ?? {}) as SeenAttributes;
        this.seen.push({ attributes, metadata: call.metadata });
        const r = this.handler(attributes);
        let done = false;
        call.on("cancelled", () => {
          if (!done) this.cancelled++;
        });
        const answer = () => {
          if (call.cancelled) return;
          done = true;
          if (r.error !== undefined) cb({ code: r.error, details: "check failed" });
          else cb(null, r.response ?? { status: { code: 0 } });
        };
        if (r.delayMs !== undefined) setTimeout(answer, r.delayMs).unref();
        else answer();
      },
    });
    this.port = await new Promise<number>((resolve, reject) => this.server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  }

  async close(): Promise<void> {
    this.server.forceShutdown();
    await Promise.resolve();
  }
}
