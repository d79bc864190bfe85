// `tsmesh tap WORKLOAD`: Linkerd's tap for a workload of a `tsmesh up` mesh — the requests and
// connections its proxy finishes, live, from the proxy's admin /tsmesh/tap stream (filters applied
// in the proxy). Text output is Linkerd's: a `req` and an `rsp` line per HTTP request, a `tcp` line
// per connection; `-o wide` adds identities, cluster and route; `-o json` prints the proxy's JSON
// lines as they come. Ends on Ctrl-C (exit 0), when the proxy ends the session (exit 0) or goes
// away (exit 1, with a message).
import * as http from "node:http";
import type { TapEvent, TapRecord } from "../proxy/observability/tap.js";
import { TAP_ADMIN_PATH } from "../proxy/observability/tap-stream.js";
import { workloadAdminUrl, type WorkloadSource } from "./exec.js";

export interface TapOptions extends WorkloadSource {
  workload: string;
  /** The proxy's admin URL, instead of finding the workload in the config. */
  admin?: string;
  path?: string;
  method?: string;
  authority?: string;
  /** A status class (5xx) or a code. */
  status?: string;
  output: "text" | "wide" | "json";
}

/** Longest line the CLI accepts from the proxy (events keep their strings far shorter). */
const MAX_LINE = 1 << 20;

const dash = (s: string | number | null | undefined): string => (s === "" || s === null || s === undefined ? "-" : String(s));

/** Linkerd's proxy= column: in / out. */
function proxyDirection(d: string): string {
  return d === "inbound" ? "in" : d === "outbound" ? "out" : "-";
}

/** The lines `tsmesh tap` prints for one event (text or wide). */
export function formatTapEvent(e: TapEvent, wide: boolean): string[] {
  const head = `id=${e.id} proxy=${proxyDirection(e.direction)} src=${dash(e.src.address)} dst=${dash(e.dst.address)} tls=${e.tls}`;
  const srcId = wide ? ` src_id=${dash(e.src.principal)} src_workload=${e.src.workload ? `${dash(e.src.namespace)}/${e.src.workload}` : "-"}` : "";
  const dstId = wide ? ` dst_id=${dash(e.dst.principal)} dst_workload=${e.dst.workload ? `${dash(e.dst.namespace)}/${e.dst.workload}` : "-"} cluster=${dash(e.dst.cluster)}` : "";
  if (e.type === "tcp") {
    return [`tcp ${head}${srcId}${dstId} sni=${dash(e.dst.authority)} duration=${e.latencyMs}ms bytes=${e.bytesReceived}/${e.bytesSent} flags=${e.flags}${wide ? ` details=${dash(e.details)}` : ""}`];
  }
  const grpc = e.grpcStatus === null ? "" : ` grpc-status=${e.grpcStatus}`;
  return [
    `req ${head}${srcId} :method=${e.method} :authority=${dash(e.dst.authority)} :path=${e.path}`,
    `rsp ${head}${dstId} :status=${e.status}${grpc} latency=${e.latencyMs}ms bytes=${e.bytesReceived}/${e.bytesSent} flags=${e.flags}${wide ? ` route=${dash(e.route)} details=${dash(e.details)}` : ""}`,
  ];
}

/** The tap URL of a proxy's admin, with the filters as query parameters. */
export function tapUrl(admin: string, o: Pick<TapOptions, "path" | "method" | "authority" | "status">): string {
  const u = new URL(TAP_ADMIN_PATH, admin.endsWith("/") ? admin : admin + "/");
  for (const [k, v] of [["path", o.path], ["method", o.method], ["authority", o.authority], ["status", o.status]] as const) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

type TapLine = { type: "start" } | { type: "end"; reason: string } | { type: "dropped"; count: number } | TapEvent;

function isEvent(v: TapLine): v is TapEvent {
  return v.type === "http" || v.type === "tcp";
}

/** A line from the proxy, checked enough to print it; undefined when it is not one of tap's. */
function parseLine(line: string): TapLine | undefined {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== "object") return undefined;
  const t = (v as { type?: unknown }).type;
  if (t === "start") return v as TapLine;
  if (t === "end") return typeof (v as { reason?: unknown }).reason === "string" ? (v as TapLine) : undefined;
  if (t === "dropped") return typeof (v as { count?: unknown }).count === "number" ? (v as TapLine) : undefined;
  if (t === "http" || t === "tcp") {
    const e = v as Partial<TapRecord>;
    return typeof e.src === "object" && e.src !== null && typeof e.dst === "object" && e.dst !== null ? (v as TapLine) : undefined;
  }
  return undefined;
}

export async function runTap(o: TapOptions, out: (s: string) => void, err: (s: string) => void, signal?: AbortSignal): Promise<number> {
  let admin = o.admin;
  if (admin === undefined) {
    const found = workloadAdminUrl(o, o.workload, "tap");
    if ("error" in found) {
      err(found.error);
      return 2;
    }
    admin = found.url;
  }
  const url = tapUrl(admin, o);
  return new Promise<number>((resolve) => {
    let settled = false;
    const finish = (code: number, message?: string) => {
      if (settled) return;
      settled = true;
      process.off("SIGINT", onInt);
      signal?.removeEventListener("abort", onInt);
      if (message) err(message);
      req.destroy();
      resolve(code);
    };
    // Ctrl-C ends the tap, not the process with a stack: the stream closes and the proxy forgets the tapper.
    const onInt = () => finish(0);
    process.once("SIGINT", onInt);
    signal?.addEventListener("abort", onInt);
    const req = http.get(url, (res) => {
      if (res.statusCode !== 200) {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body = (body + c).slice(0, 4096)));
        res.on("end", () => finish(1, `tsmesh tap: ${o.workload}'s proxy refused the tap (HTTP ${res.statusCode}): ${body.trim()}`));
        res.on("error", () => finish(1, `tsmesh tap: ${o.workload}'s proxy refused the tap (HTTP ${res.statusCode})`));
        return;
      }
      res.setEncoding("utf8");
      let pending = "";
      let ended = false;
      res.on("data", (chunk: string) => {
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line === "") continue;
          const v = parseLine(line);
          if (v === undefined) return finish(1, `tsmesh tap: ${admin} sent a line that is not a tap event: ${JSON.stringify(line.slice(0, 120))}`);
          if (v.type === "end") ended = true;
          if (o.output === "json") {
            if (v.type !== "start") out(line);
          } else if (isEvent(v)) for (const l of formatTapEvent(v, o.output === "wide")) out(l);
          else if (v.type === "dropped") err(`tsmesh tap: ${v.count} event(s) dropped (the proxy's tap buffer overflowed while this terminal was reading)`);
          else if (v.type === "end") err(`tsmesh tap: the proxy ended the session: ${v.reason}`);
        }
        if (pending.length > MAX_LINE) finish(1, `tsmesh tap: ${admin} sent a line longer than ${MAX_LINE} bytes`);
      });
      res.on("end", () => finish(ended ? 0 : 1, ended ? undefined : `tsmesh tap: ${o.workload}'s proxy (${admin}) closed the stream`));
      const gone = () => finish(ended ? 0 : 1, ended ? undefined : `tsmesh tap: ${o.workload}'s proxy (${admin}) went away`);
      res.on("error", gone);
      res.on("close", gone);
    });
    req.on("error", (e) => finish(1, `tsmesh tap: ${o.workload}'s proxy admin ${admin} did not answer (${e.message}); is the mesh running?`));
  });
}
