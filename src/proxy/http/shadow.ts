// Envoy's request mirroring: a copy of the request goes to the mirror cluster, fire and forget —
// its response is discarded and never delays or changes the real one. The Host gets Envoy's
// `-shadow` suffix (before any port), so the shadow service can tell mirrored traffic apart.
import type * as http from "node:http";
import { request as httpRequest } from "node:http";
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
  cluster.stats.rqTotal.inc();
  const headers: http.OutgoingHttpHeaders = { ...r.headers, host: shadowHost(r.authority), "content-length": String(r.body.length) };
  delete headers["transfer-encoding"];
  const req = httpRequest({ host: host.address, port: host.port, method: r.method, path: r.path, headers, agent: cluster.agent }, (res) => {
    cluster.stats.response(res.statusCode ?? 0);
    res.resume();
  });
  req.setTimeout(r.timeoutMs > 0 ? r.timeoutMs : 15_000, () => req.destroy());
  req.on("error", () => {});
  req.end(r.body);
}
