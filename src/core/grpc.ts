// gRPC's status codes, shared by validation (Istio's abort.grpcStatus), the generators, the
// proxy's local replies and its ADS client.

/** google.rpc.Code names, indexed by code. */
export const GRPC_STATUS_NAMES: readonly string[] = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** Code by name (`UNAVAILABLE` → 14). */
export const GRPC_STATUS_CODES: Readonly<Record<string, number>> = Object.fromEntries(GRPC_STATUS_NAMES.map((n, i) => [n, i]));

/** gRPC's HTTP → gRPC status mapping (doc/http-grpc-status-mapping.md), as Envoy and grpc-js apply it. */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/** Envoy's grpcToHttpStatus: the HTTP status a gRPC response stands for (the router reports it to outlier detection). */
export function grpcToHttpStatus(grpcStatus: number): number {
  switch (grpcStatus) {
    case 0:
      return 200; // OK
    case 1:
      return 499; // Canceled
    case 3:
    case 9:
    case 11:
      return 400; // InvalidArgument, FailedPrecondition, OutOfRange
    case 4:
      return 504; // DeadlineExceeded
    case 5:
      return 404; // NotFound
    case 6:
    case 10:
      return 409; // AlreadyExists, Aborted
    case 7:
      return 403; // PermissionDenied
    case 8:
      return 429; // ResourceExhausted
    case 12:
      return 501; // Unimplemented
    case 14:
      return 503; // Unavailable
    case 16:
      return 401; // Unauthenticated
    default:
      return 500; // Unknown, Internal, DataLoss, anything else
  }
}

/** gRPC's grpc-timeout header (e.g. "100m", "5S") in ms, or undefined when absent or malformed. */
export function parseGrpcTimeout(v: string | string[] | number | undefined): number | undefined {
  if (typeof v !== "string") return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
  return Math.ceil(n * unit[m[2]]);
}

/** Envoy's toGrpcTimeout: ms in the largest unit of m, S, M, H whose value fits in 8 digits. */
export function formatGrpcTimeout(ms: number): string {
  let t = Math.max(0, Math.round(ms));
  const units = "mSMH";
  let u = 0;
  while (t > 99_999_999 && u < 3) {
    t = u === 0 ? Math.ceil(t / 1000) : Math.ceil(t / 60);
    u++;
  }
  return String(Math.min(t, 99_999_999)) + units[u];
}
