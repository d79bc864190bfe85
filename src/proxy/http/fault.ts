// Envoy's fault filter: a delay and/or an abort, each applied to a percentage of requests, or
// triggered by request headers when the config says so (x-envoy-fault-delay-request,
// x-envoy-fault-abort-request, x-envoy-fault-abort-grpc-request).
import type * as http from "node:http";
import { durationMs, type ProtoObject } from "../../envoy/protos.js";
import { FLAG_BIT } from "../access-log.js";
import { XdsConfigError } from "../xds-error.js";
import { LOCAL_REPLIES, type LocalReply } from "./local-reply.js";

export interface FaultConfig {
  delay?: { ms?: number; fromHeader: boolean; fraction: number };
  abort?: { status?: number; grpcStatus?: number; fromHeader: boolean; fraction: number };
}

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** A FractionalPercent as a probability (absent = 100%, Envoy's default for the fault filter). */
export function fraction(p: unknown): number {
  if (!p || typeof p !== "object") return 1;
  const o = p as ProtoObject;
  const num = typeof o.numerator === "number" ? o.numerator : 0;
  const den = DENOMINATORS[typeof o.denominator === "string" ? o.denominator : "HUNDRED"] ?? 100;
  return Math.min(1, num / den);
}

export function faultConfig(f: ProtoObject, path: string): FaultConfig {
  const out: FaultConfig = {};
  const d = f.delay as ProtoObject | undefined;
  if (d) {
    const ms = durationMs(d.fixedDelay);
    if (ms === undefined && !d.headerDelay) throw new XdsConfigError(`${path}.delay`, "needs fixed_delay or header_delay");
    out.delay = { ms, fromHeader: !!d.headerDelay, fraction: fraction(d.percentage) };
  }
  const a = f.abort as ProtoObject | undefined;
  if (a) {
    const status = typeof a.httpStatus === "number" ? a.httpStatus : undefined;
    if (status !== undefined && (status < 200 || status >= 600)) throw new XdsConfigError(`${path}.abort.httpStatus`, `invalid status ${status}`);
    const grpcStatus = typeof a.grpcStatus === "number" ? a.grpcStatus : undefined;
    if (status === undefined && grpcStatus === undefined && !a.headerAbort) throw new XdsConfigError(`${path}.abort`, "needs http_status, grpc_status or header_abort");
    out.abort = { status, grpcStatus, fromHeader: !!a.headerAbort, fraction: fraction(a.percentage) };
  }
  return out;
}

const header = (h: http.OutgoingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v === undefined ? undefined : String(v);
};

/** Applies the delay (awaited) and decides the abort; returns the local reply to send, if any. DI goes into `stream.flags`. */
export async function applyFault(f: FaultConfig, headers: http.OutgoingHttpHeaders, stream: { flags: number }): Promise<LocalReply | undefined> {
  if (f.delay) {
    const ms = f.delay.fromHeader ? Number(header(headers, "x-envoy-fault-delay-request")) : f.delay.ms;
    if (ms !== undefined && Number.isFinite(ms) && ms > 0 && Math.random() < f.delay.fraction) {
      stream.flags |= FLAG_BIT.DI;
      await new Promise((r) => setTimeout(r, ms));
    }
  }
  if (f.abort && Math.random() < f.abort.fraction) {
    const grpc = f.abort.fromHeader ? header(headers, "x-envoy-fault-abort-grpc-request") : undefined;
    const status = f.abort.fromHeader ? Number(header(headers, "x-envoy-fault-abort-request")) : f.abort.status;
    if (grpc !== undefined || f.abort.grpcStatus !== undefined) {
      // gRPC aborts answer 200 with grpc-status; the router side sends it as a trailers-only reply.
      return { ...LOCAL_REPLIES.faultAbort(200), body: "" };
    }
    if (status !== undefined && Number.isFinite(status) && status >= 200 && status < 600) return LOCAL_REPLIES.faultAbort(status);
  }
  return undefined;
}
