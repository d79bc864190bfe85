// pilot-agent's merged metrics (IP:15020/stats/prometheus): the proxy's Prometheus text followed
// by the application's own metrics when the workload asks for it (Istio's `prometheus.io/scrape`,
// `prometheus.io/port`, `prometheus.io/path` annotations). The app is fetched with a time and size
// bound; its failure never costs the proxy's part — the agent then only counts the failure.
import * as http from "node:http";

export interface AppMetricsTarget {
  readonly host: string;
  readonly port: number;
  /** prometheus.io/path, default /metrics. */
  readonly path: string;
}

/** Bounds of one app scrape. */
export const APP_SCRAPE_TIMEOUT_MS = 5000;
export const APP_SCRAPE_MAX_BYTES = 10 * 1024 * 1024;

/** The target the prometheus.io annotations describe, or undefined (not annotated, or scrape off). */
export function appMetricsTarget(annotations: Readonly<Record<string, string>>, appHost: string): AppMetricsTarget | undefined {
  if (annotations["prometheus.io/scrape"] !== "true") return undefined;
  const port = Number(annotations["prometheus.io/port"] ?? "");
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  const path = annotations["prometheus.io/path"] || "/metrics";
  return { host: appHost, port, path: path.startsWith("/") ? path : `/${path}` };
}

/** The app's metrics text, or an Error (refused, timed out, non-200, too large). */
export function scrapeApp(t: AppMetricsTarget, timeoutMs = APP_SCRAPE_TIMEOUT_MS, maxBytes = APP_SCRAPE_MAX_BYTES): Promise<string | Error> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: string | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(v);
    };
    const req = http.get({ host: t.host, port: t.port, path: t.path, headers: { accept: "text/plain" }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return finish(new Error(`app metrics: status ${res.statusCode}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) {
          req.destroy();
          return finish(new Error(`app metrics: over ${maxBytes} bytes`));
        }
        chunks.push(c);
      });
      res.on("end", () => finish(Buffer.concat(chunks).toString("utf8")));
      res.on("error", (e) => finish(e));
    });
    req.on("error", (e) => finish(e));
    const timer = setTimeout(() => {
      req.destroy();
      finish(new Error(`app metrics: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
  });
}

/** The merged text: the proxy's part, then the app's (each ending in a newline). */
export function mergeMetricsText(proxy: string, app: string | undefined): string {
  const p = proxy.endsWith("\n") || proxy === "" ? proxy : proxy + "\n";
  if (!app) return p;
  return p + (app.endsWith("\n") ? app : app + "\n");
}

/** `PORT[/PATH]` (the proxy's --app-metrics flag) as a target on `host`; an Error says what is wrong. */
export function parseAppMetrics(v: string, host: string): AppMetricsTarget | Error {
  const slash = v.indexOf("/");
  const port = Number(slash < 0 ? v : v.slice(0, slash));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return new Error(`--app-metrics must be PORT[/PATH], got ${JSON.stringify(v)}`);
  return { host, port, path: slash < 0 || slash === v.length - 1 ? "/metrics" : v.slice(slash) };
}
