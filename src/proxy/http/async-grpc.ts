// A unary gRPC call from the proxy to one of its clusters (Envoy's AsyncClient for gRPC services:
// ext_authz's Check, the rate-limit service's ShouldRateLimit), over the async HTTP client: the
// request framed as one length-prefixed message, the response read strictly — exactly one
// uncompressed message within the size limit, and grpc-status from the trailers (or the headers of
// a trailers-only response). Anything else is an error status, never a guess.
import { GRPC_STATUS_CODES, httpToGrpcStatus } from "../../core/grpc.js";
import type { UpstreamCluster } from "../upstream/cluster.js";
import { asyncHttpCall, type AsyncCall } from "./async-client.js";
import type { Router } from "./router.js";

export interface GrpcUnaryRequest {
  /** `/package.Service/Method`. */
  path: string;
  /** :authority (the cluster's service name). */
  authority: string;
  /** The serialized request message. */
  message: Uint8Array;
  timeoutMs: number;
  /** The largest response message accepted. */
  maxResponseBytes: number;
  /** Extra metadata (initial_metadata of the GrpcService). */
  metadata?: Readonly<Record<string, string>>;
}

export interface GrpcUnaryResult {
  /** 0 (OK) with a message, or the failure's status. */
  status: number;
  message: string;
  /** The response message (status 0 only). */
  response?: Buffer;
}

export interface GrpcUnaryCall {
  readonly result: Promise<GrpcUnaryResult>;
  cancel(): void;
}

const INTERNAL = GRPC_STATUS_CODES.INTERNAL;
const UNAVAILABLE = GRPC_STATUS_CODES.UNAVAILABLE;

function header(h: Readonly<Record<string, unknown>> | undefined, name: string): string | undefined {
  const v = h?.[name];
  return Array.isArray(v) ? String(v[0]) : v === undefined ? undefined : String(v);
}

function decodeGrpcMessage(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Sends one unary call; never throws, failures resolve with their gRPC status. */
export function grpcUnaryCall(router: Router, cluster: UpstreamCluster, req: GrpcUnaryRequest): GrpcUnaryCall {
  const frame = Buffer.allocUnsafe(5 + req.message.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(req.message.byteLength, 1);
  frame.set(req.message, 5);
  const call: AsyncCall = asyncHttpCall(router, cluster, {
    method: "POST",
    path: req.path,
    authority: req.authority,
    headers: { ...req.metadata, "content-type": "application/grpc", te: "trailers", "grpc-timeout": `${Math.max(1, Math.ceil(req.timeoutMs))}m` },
    body: frame,
    timeoutMs: req.timeoutMs,
    grpc: true,
    maxResponseBytes: req.maxResponseBytes + 5,
  });
  const result = call.response.then(
    (r): GrpcUnaryResult => {
      if (r.status !== 200) return { status: httpToGrpcStatus(r.status), message: `HTTP ${r.status} (${r.details})` };
      // A trailers-only response carries its status in the headers.
      const statusText = header(r.trailers, "grpc-status") ?? header(r.headers, "grpc-status");
      const message = decodeGrpcMessage(header(r.trailers, "grpc-message") ?? header(r.headers, "grpc-message") ?? "");
      if (statusText === undefined || !/^\d{1,2}$/.test(statusText)) return { status: INTERNAL, message: "response without a valid grpc-status" };
      const status = Number(statusText);
      if (status !== 0) return { status, message };
      const b = r.body;
      if (b.length < 5) return { status: INTERNAL, message: "OK status without a complete response message" };
      if (b[0] !== 0) return { status: INTERNAL, message: "compressed response message (no grpc-encoding was offered)" };
      const len = b.readUInt32BE(1);
      if (len > req.maxResponseBytes) return { status: GRPC_STATUS_CODES.RESOURCE_EXHAUSTED, message: `response message over ${req.maxResponseBytes} bytes` };
      if (b.length !== 5 + len) return { status: INTERNAL, message: "a unary response must carry exactly one message" };
      return { status: 0, message, response: b.subarray(5) };
    },
    (e: unknown): GrpcUnaryResult => ({ status: UNAVAILABLE, message: e instanceof Error ? e.message : String(e) }),
  );
  return { result, cancel: () => call.cancel() };
}
