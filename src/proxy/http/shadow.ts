// Envoy's request mirroring: a copy of the request goes to the mirror cluster, fire and forget —
// its response is discarded and never delays or changes the real one. The Host gets Envoy's
// `-shadow` suffix (before any port), so the shadow service can tell mirrored traffic apart.
// A mirror cluster with an UpstreamTlsContext gets TLS (through the cluster's agent; with auto_sni
// the SNI is the shadow Host, as Envoy's); one whose secrets come over SDS gets nothing.
import type * as http from "node:http";
import { request as httpRequest } from "node:http";
import { sniFor } from "../tls-context.js";
import type { UpstreamCluster } from "../upstream/cluster.js";

/** `reviews:9080` → `reviews-shadow:9080`; `[::1]:80` keeps its brackets. */
export function shadowHost(authority: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(:\d+)?$/.exec(authority);
  if (!m) return `${authority}-shadow`;
  return `${m[1]}-shadow${m[2] ?? ""}`;
}

export interface ShadowRequest {
  method: string;
  path: string;
  authority: string;
  headers: http.OutgoingHttpHeaders;
  body: Buffer;
  timeoutMs: number;
}

/** Sends the copy; never throws, never waits for the caller. */
export function sendShadow(cluster: UpstreamCluster, r: ShadowRequest): void {
  const host = cluster.pick();
  if (!host) {
    cluster.stats.cxNoneHealthy.inc();
    return;
  }
  const t = cluster.tls;
  if (t?.kind === "sds") {
    cluster.tlsUnavailable();
    cluster.stats.cxConnectFail.inc();
    return;
  }
  cluster.stats.rqTotal.inc();
  const shadowAuthority = shadowHost(r.authority);
  const headers: http.OutgoingHttpHeaders = { ...r.headers, host: shadowAuthority, "content-length": String(r.body.length) };
  delete headers["transfer-encoding"];
  const opts: http.RequestOptions & { servername?: string } = { host: host.address, port: host.port, method: r.method, path: r.path, headers, agent: cluster.agent };
  if (t !== undefined) opts.servername = sniFor(t, shadowAuthority) ?? "";
  const req = httpRequest(opts, (res) => {
    cluster.stats.response(res.statusCode ?? 0);
    res.resume();
  });
  req.setTimeout(r.timeoutMs > 0 ? r.timeoutMs : 15_000, () => req.destroy());
  req.on("error", () => {});
  req.end(r.body);
}
