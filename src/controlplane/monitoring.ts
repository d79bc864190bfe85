// istiod's monitoring port (15014): /ready, /metrics (Prometheus text, istiod's metric names) and
// the debug pages users know: /debug/syncz (per-proxy sent/acked versions and NACKs) and
// /debug/config_dump?proxyID=ID (what that proxy gets, in Envoy's admin ConfigDump layout), and
// /debug/mesh (the mesh config in effect and where it came from), /debug/configz (every effective
// config resource, in Kubernetes form, as istiod's configz lists its store) and /version (istiod's
// VERSION-REVISION-STATUS line). Secrets in a config dump show the
// certificate and "[redacted]" for the private key, as Envoy's admin does.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { encodeResource } from "../envoy/encoded.js";
import { toProtoJson } from "../envoy/proto-json.js";
import type { ProtoObject } from "../envoy/protos.js";
import { anyOf, CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE, SECRET_TYPE, TYPE_SHORT_NAMES } from "../envoy/protos.js";
import type { Cluster, ClusterLoadAssignment, envoy, Listener, RouteConfiguration, Secret, XdsResource } from "../envoy/types.js";
import { tsmeshVersion } from "../core/tsmesh-version.js";
import { parseProxy, ProxyIdError, type Proxy } from "../model/proxy.js";
import type { PushContext } from "../model/push-context.js";
import { redactedSecret } from "../xds/gen/secrets.js";
import type { TypeStatus, WatchedResource } from "../xds/server/types.js";
import type { Discovery } from "./discovery.js";

const MAX_BODY = 64 * 1024;

function send(res: ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON.stringify(value, null, 2) + "\n", "application/json");
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

const WILDCARD = (typeUrl: string): WatchedResource => ({ typeUrl, wildcard: true, names: new Set() });

/** Envoy admin's ConfigDump for what `proxy` would receive from `push`. */
export function configDump(discovery: Discovery, proxy: Proxy, push: PushContext): envoy.admin.v3.ConfigDump {
  const gen = discovery.generator;
  // A connected proxy's own subscriptions (proxyless gRPC asks by name); otherwise everything.
  const status = discovery.server.connection(proxy.id);
  const watched = (typeUrl: string): WatchedResource | undefined => {
    const t = status?.types.find((x) => x.typeUrl === typeUrl);
    return t && { typeUrl, wildcard: t.wildcard, names: new Set(t.names) };
  };
  // Each type URL's generator returns that type's resources.
  const entries = <T extends XdsResource>(typeUrl: string, watch: WatchedResource) =>
    [...(gen.objects(proxy, push, typeUrl, watched(typeUrl) ?? watch)?.entries() ?? [])] as Array<[string, T]>;
  const clusters = entries<Cluster>(CLUSTER_TYPE, WILDCARD(CLUSTER_TYPE));
  const edsNames = clusters.map(([, c]) => c.edsClusterConfig?.serviceName ?? (c.type === "EDS" ? String(c.name) : undefined)).filter((n): n is string => !!n);
  const endpoints = entries<ClusterLoadAssignment>(ENDPOINT_TYPE, { typeUrl: ENDPOINT_TYPE, wildcard: false, names: new Set(edsNames) });
  const listeners = entries<Listener>(LISTENER_TYPE, WILDCARD(LISTENER_TYPE));
  const routeNames = proxy.generator === "grpc" ? new Set(listeners.map(([n]) => n)) : undefined;
  const routes = entries<RouteConfiguration>(ROUTE_TYPE, routeNames ? { typeUrl: ROUTE_TYPE, wildcard: false, names: routeNames } : WILDCARD(ROUTE_TYPE));
  // Only what the connected proxy subscribed to (SDS is by name): a proxy not connected has none.
  const secretWatch = watched(SECRET_TYPE);
  const secrets = secretWatch ? [...gen.secrets(proxy, push, secretWatch)] : [];
  const version = (typeUrl: string, name: string, o: XdsResource) => encodeResource(typeUrl, name, o).version;
  return {
    configs: [
      anyOf("envoy.admin.v3.ClustersConfigDump", {
        versionInfo: push.version,
        dynamicActiveClusters: clusters.map(([n, c]) => ({ versionInfo: version(CLUSTER_TYPE, n, c), cluster: anyOf("envoy.config.cluster.v3.Cluster", c) })),
      }),
      anyOf("envoy.admin.v3.ListenersConfigDump", {
        versionInfo: push.version,
        dynamicListeners: listeners.map(([n, l]) => ({ name: n, activeState: { versionInfo: version(LISTENER_TYPE, n, l), listener: anyOf("envoy.config.listener.v3.Listener", l) } })),
      }),
      anyOf("envoy.admin.v3.RoutesConfigDump", {
        dynamicRouteConfigs: routes.map(([n, r]) => ({ versionInfo: version(ROUTE_TYPE, n, r), routeConfig: anyOf("envoy.config.route.v3.RouteConfiguration", r) })),
      }),
      anyOf("envoy.admin.v3.EndpointsConfigDump", {
        dynamicEndpointConfigs: endpoints.map(([n, e]) => ({ versionInfo: version(ENDPOINT_TYPE, n, e), endpointConfig: anyOf("envoy.config.endpoint.v3.ClusterLoadAssignment", e) })),
      }),
      anyOf("envoy.admin.v3.SecretsConfigDump", {
        dynamicActiveSecrets: secrets.map(([n, s]) => ({
          name: n,
          versionInfo: version(SECRET_TYPE, n, s),
          secret: anyOf("envoy.extensions.transport_sockets.tls.v3.Secret", redactedSecret(s as Secret) as Secret),
        })),
      }),
    ],
  };
}

/**
 * istiod's /version: VERSION-REVISION-STATUS (its BuildInfo.String()); tsmesh has no build-time
 * revision or tree status, so both are "unknown", as in an istiod built without them.
 */
export function controlPlaneVersion(): string {
  return `${tsmeshVersion()}-unknown-unknown`;
}

/** istiod's /debug/configz: every effective resource of every kind, as apiVersion/kind/metadata/spec. */
export function configz(discovery: Discovery): unknown[] {
  return discovery.store.list().map((r) => ({ apiVersion: r.apiVersion, kind: r.kind, metadata: r.metadata, spec: r.spec }));
}

export class MonitoringServer {
  private server: Server | undefined;

  constructor(private readonly discovery: Discovery) {}

  listen(address: string): Promise<number> {
    const i = address.lastIndexOf(":");
    const host = address.slice(0, i) || "127.0.0.1";
    const port = Number(address.slice(i + 1));
    const server = createServer((req, res) => this.handle(req, res));
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        const a = server.address();
        resolve(typeof a === "object" && a ? a.port : port);
      });
    });
  }

  close(): Promise<void> {
    const s = this.server;
    if (!s) return Promise.resolve();
    this.server = undefined;
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) req.destroy();
    });
    const url = new URL(req.url ?? "/", "http://localhost");
    try {
      switch (url.pathname) {
        case "/ready":
          return this.discovery.ready ? send(res, 200, "ready\n") : send(res, 503, "not ready\n");
        case "/metrics":
          return send(res, 200, this.discovery.metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
        case "/debug/syncz":
          return json(res, 200, this.syncz());
        case "/debug/config_dump":
          return this.configDump(url, res);
        case "/version":
          return send(res, 200, controlPlaneVersion());
        case "/debug/configz":
          return json(res, 200, configz(this.discovery));
        case "/debug/mesh":
          return json(res, 200, { ...this.discovery.mesh, source: this.discovery.meshSource });
        case "/debug/connections":
          return json(res, 200, this.discovery.server.connections().map((c) => ({ connectionId: c.connectionId, nodeId: c.nodeId, peer: c.peer, protocol: c.protocol, connectedAt: new Date(c.connectedAt).toISOString() })));
        case "/debug":
        case "/":
          return send(res, 200, ["/ready", "/metrics", "/version", "/debug/syncz", "/debug/configz", "/debug/config_dump?proxyID=NODE_ID", "/debug/connections", "/debug/mesh", ""].join("\n"));
        default:
          return send(res, 404, `unknown path ${url.pathname}; see /debug\n`);
      }
    } catch (e) {
      send(res, 500, `${(e as Error).message}\n`);
    }
  }

  /** One entry per connection, per type: what was sent, what was acked, the last NACK. */
  private syncz(): unknown[] {
    const nacked = (t: TypeStatus) => t.nack !== undefined && (t.ackedAt === undefined || t.nack.at >= t.ackedAt);
    const connected = new Map(this.discovery.generator.proxies().map((p) => [p.proxy.id, p.proxy]));
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
    return this.discovery.server.connections().map((c) => ({
      proxy: c.nodeId,
      connectionId: c.connectionId,
      protocol: c.protocol,
      // The node metadata istioctl's proxy-status shows (CLUSTER, VERSION).
      clusterId: str(connected.get(c.nodeId)?.metadata.CLUSTER_ID),
      istioVersion: connected.get(c.nodeId)?.istioVersion || undefined,
      types: Object.fromEntries(
        c.types.map((t) => [
          TYPE_SHORT_NAMES[t.typeUrl] ?? t.typeUrl,
          {
            typeUrl: t.typeUrl,
            wildcard: t.wildcard,
            resourceNames: t.names.length,
            sent: t.sentVersion,
            sentNonce: t.sentNonce,
            sentAt: iso(t.sentAt),
            acked: t.ackedVersion,
            ackedNonce: t.ackedNonce,
            ackedAt: iso(t.ackedAt),
            status: nacked(t) ? "NACKED" : t.sentNonce && t.sentNonce === t.ackedNonce ? "SYNCED" : t.sentNonce ? "STALE" : "NOT SENT",
            nack: t.nack && { version: t.nack.version, nonce: t.nack.nonce, error: t.nack.message, at: new Date(t.nack.at).toISOString() },
            // istiod's GenericXdsConfig fields (statusgen.go), which istioctl's -o json shows: a NACK not
            // yet followed by an ACK is ERROR, its error_detail kept as errorState.details.
            configStatus: nacked(t) ? "ERROR" : !t.sentNonce ? "NOT_SENT" : t.sentNonce === t.ackedNonce ? "SYNCED" : "STALE",
            errorState: nacked(t) ? { lastUpdateAttempt: iso(t.sentAt), details: t.nack!.message } : undefined,
          },
        ]),
      ),
    }));
  }

  private configDump(url: URL, res: ServerResponse): void {
    const id = url.searchParams.get("proxyID");
    if (!id) return send(res, 400, "proxyID is required, e.g. /debug/config_dump?proxyID=sidecar~127.0.2.1~productpage-v1.default~default.svc.cluster.local\n");
    const push = this.discovery.pushContext;
    const connected = this.discovery.generator.proxies().find((p) => p.proxy.id === id || p.proxy.workloadId === id);
    let proxy: Proxy;
    if (connected) {
      proxy = this.discovery.generator.refreshProxy(connected, push);
    } else {
      try {
        proxy = parseProxy({ id });
      } catch (e) {
        if (e instanceof ProxyIdError) return send(res, 404, `proxy ${id} is not connected and ${e.message}\n`);
        throw e;
      }
      proxy.labels = push.workloadLabels(proxy) ?? {};
    }
    // Proto JSON, as Envoy's admin and the proxy's own /config_dump print it (so the two compare).
    json(res, 200, toProtoJson("envoy.admin.v3.ConfigDump", configDump(this.discovery, proxy, push) as unknown as ProtoObject));
  }
}
