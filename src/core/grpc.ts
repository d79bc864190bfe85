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
