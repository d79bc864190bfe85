// A real gRPC echo service for end-to-end tests: servers on 127.0.x.y addresses that answer with
// their own name (and the request metadata), and clients that reach them through xds:/// targets
// resolved by @grpc/grpc-js-xds against a tsmesh discovery server (grpc-python.ts drives gRPC C-core
// through the same interface).
import * as grpc from "@grpc/grpc-js";
import * as grpcXds from "@grpc/grpc-js-xds";
import { loadXxhashApi } from "@grpc/grpc-js-xds/build/src/xxhash.js";

grpcXds.register();
// grpc-js-xds (1.14) loads its xxhash wasm in every resolver update until one load has finished, and
// does not share the pending load: a channel's first two updates (config before and after an edit)
// then race, and the older one, applied last, stays in force (the edit lost until the next push).
// Loaded once here, before any channel resolves, updates apply in the order they arrive.
await loadXxhashApi();

export interface EchoRequest {
  message?: string;
}

export interface EchoReply {
  server: string;
  message?: string;
  metadata: Record<string, string>;
}

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString("utf8")) as unknown,
};

/** /echo.Echo/Echo with JSON bodies (no .proto needed: the mesh does not look inside messages). */
export const ECHO_SERVICE: grpc.ServiceDefinition = {
  Echo: {
    path: "/echo.Echo/Echo",
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

export interface EchoServerOptions {
  name: string;
  address: string;
  port: number;
  /** Fail calls with this status (until changed) — for retry and outlier tests. */
  failWith?: grpc.status;
}

const attemptsByKey = new Map<string, number>();

/** Request metadata asking the server to wait this many milliseconds before answering (timeout tests). */
export const DELAY_HEADER = "x-echo-delay-ms";

export class EchoServer {
  readonly server = new grpc.Server();
  calls = 0;
  failWith: grpc.status | undefined;
  /** Fail the first N attempts of each `x-attempt-key` value, counted over all servers (retry tests). */
  failFirstPerKey = 0;

  constructor(readonly opts: EchoServerOptions) {
    this.failWith = opts.failWith;
    this.server.addService(ECHO_SERVICE, {
      Echo: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
        this.calls++;
        const md: Record<string, string> = {};
        for (const [k, v] of Object.entries(call.metadata.getMap())) md[k] = String(v);
        const key = md["x-attempt-key"];
        if (key && this.failFirstPerKey > 0) {
          // Counted across all servers of the process: retries may land on another backend.
          const n = (attemptsByKey.get(key) ?? 0) + 1;
          attemptsByKey.set(key, n);
          if (n <= this.failFirstPerKey) return cb({ code: grpc.status.UNAVAILABLE, details: `${opts.name}: failing attempt ${n}` });
        }
        if (this.failWith !== undefined) return cb({ code: this.failWith, details: `${opts.name} fails on purpose` });
        const reply = { server: opts.name, message: call.request.message, metadata: md };
        const delay = Math.min(Number(md[DELAY_HEADER]) || 0, 30_000);
        if (delay > 0) setTimeout(() => cb(null, reply), delay);
        else cb(null, reply);
      },
    });
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`${this.opts.address}:${this.opts.port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 500);
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

const EchoClientCtor = grpc.makeGenericClientConstructor(ECHO_SERVICE, "Echo");

export interface XdsClientNode {
  id: string;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  metadata?: Record<string, unknown>;
}

/** A bootstrap as Istio's agent writes it for proxyless gRPC (GENERATOR=grpc). */
export function grpcBootstrap(xdsAddress: string, node: XdsClientNode): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    node: { id: node.id, locality: node.locality ?? {}, metadata: { GENERATOR: "grpc", ...node.metadata } },
  });
}

/** What the e2e tests ask of a proxyless client, whichever gRPC implementation is under it. */
export interface ProxylessEchoClient {
  /** The implementation's name, for test titles and messages. */
  readonly impl: string;
  /** One call; rejects with an error carrying the gRPC status `code`. */
  echo(metadata?: Record<string, string>, deadlineMs?: number): Promise<EchoReply>;
  /**
   * `n` calls one after another on channel `channel` (each index is a channel of its own, so its own
   * `io.grpc.channel_id`), counted per answering server; errors count under "error:CODE".
   */
  tally(n: number, metadata?: Record<string, string>, channel?: number): Promise<Record<string, number>>;
  close(): void;
}

export class EchoClient implements ProxylessEchoClient {
  readonly impl = "grpc-js-xds";
  private readonly clients: grpc.Client[] = [];

  /** target: `xds:///HOST:PORT` with a bootstrap (per channel: grpc-js-xds' test option), or `HOST:PORT` without. */
  constructor(
    private readonly target: string,
    private readonly bootstrap?: string,
  ) {
    this.channel(0);
  }

  private channel(i: number): grpc.Client {
    while (this.clients.length <= i) {
      this.clients.push(
        new EchoClientCtor(this.target, grpc.credentials.createInsecure(), this.bootstrap === undefined ? {} : { "grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config": this.bootstrap }),
      );
    }
    return this.clients[i];
  }

  echo(metadata: Record<string, string> = {}, deadlineMs = 3000, channel = 0): Promise<EchoReply> {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    return new Promise((resolve, reject) => {
      (this.channel(channel) as unknown as Record<string, (req: EchoRequest, md: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: EchoReply) => void) => void>).Echo(
        { message: "hi" },
        md,
        { deadline: Date.now() + deadlineMs },
        (e, r) => (e ? reject(e) : resolve(r!)),
      );
    });
  }

  /** Sends `n` calls (sequentially) and counts replies per server name; errors count under "error:CODE". */
  async tally(n: number, metadata: Record<string, string> = {}, channel = 0): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      try {
        const r = await this.echo(metadata, 3000, channel);
        counts[r.server] = (counts[r.server] ?? 0) + 1;
      } catch (e) {
        const k = `error:${(e as grpc.ServiceError).code}`;
        counts[k] = (counts[k] ?? 0) + 1;
      }
    }
    return counts;
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
