// Mesh config `extensionProviders` (Istio's MeshConfig.ExtensionProvider) as tsmesh keeps them after
// parsing: every provider's name and kind (so a CUSTOM AuthorizationPolicy can name any of them and be
// told which kind it got), with the fields of the external authorization kinds, the ones generated.

/** The provider kinds of MeshConfig.ExtensionProvider (its `provider` oneof). */
export const EXTENSION_PROVIDER_KINDS = [
  "envoyExtAuthzHttp",
  "envoyExtAuthzGrpc",
  "zipkin",
  "lightstep",
  "datadog",
  "stackdriver",
  "opencensus",
  "skywalking",
  "opentelemetry",
  "prometheus",
  "envoyFileAccessLog",
  "envoyHttpAls",
  "envoyTcpAls",
  "envoyOtelAls",
  "sds",
] as const;

export type ExtensionProviderKind = (typeof EXTENSION_PROVIDER_KINDS)[number];

/** includeRequestBodyInCheck (Envoy's BufferSettings). */
export interface ExtAuthzRequestBody {
  maxRequestBytes: number;
  allowPartialMessage: boolean;
  packAsBytes: boolean;
}

/** Fields both ext_authz kinds have. */
export interface ExtAuthzCommon {
  /** `HOST` or `NAMESPACE/HOST` of a service in the registry. */
  service: string;
  port: number;
  timeoutMs?: number;
  failOpen: boolean;
  /** An HTTP status code as text, as in the mesh config ("" when unset). */
  statusOnError: string;
  includeRequestBodyInCheck?: ExtAuthzRequestBody;
}

export interface ExtAuthzHttpProvider extends ExtAuthzCommon {
  pathPrefix: string;
  includeRequestHeadersInCheck: readonly string[];
  /** Deprecated in Istio; used only when includeRequestHeadersInCheck is empty. */
  includeHeadersInCheck: readonly string[];
  includeAdditionalHeadersInCheck: Readonly<Record<string, string>>;
  headersToUpstreamOnAllow: readonly string[];
  headersToDownstreamOnAllow: readonly string[];
  headersToDownstreamOnDeny: readonly string[];
}

export type ExtAuthzGrpcProvider = ExtAuthzCommon;

/** envoyFileAccessLog: a file (default /dev/stdout) with a text format or JSON labels. */
export interface FileAccessLogProvider {
  path: string;
  /** logFormat.text; undefined for Istio's default text format. */
  text?: string;
  /** logFormat.labels (JSON); an empty object means Istio's default JSON fields. */
  labels?: Readonly<Record<string, unknown>>;
  omitEmptyValues: boolean;
}

/** zipkin: a collector reached through the mesh's outbound cluster of `service`. */
export interface ZipkinProvider {
  service: string;
  port: number;
  maxTagLength: number;
  enable64bitTraceId: boolean;
  /** `path` (default /api/v2/spans). */
  path: string;
}

/** opentelemetry: OTLP over gRPC (default) or HTTP (`http`). */
export interface OpenTelemetryProvider {
  service: string;
  port: number;
  maxTagLength: number;
  http?: { path: string; timeoutMs?: number; headers: ReadonlyArray<{ name: string; value: string }> };
  grpc?: { timeoutMs?: number; initialMetadata: ReadonlyArray<{ name: string; value: string }> };
}

/** The provider kinds tsmesh generates config for; the others are kept by name and kind and reported. */
export type ImplementedKind = "envoyExtAuthzHttp" | "envoyExtAuthzGrpc" | "envoyFileAccessLog" | "zipkin" | "opentelemetry" | "prometheus";

export type ExtensionProvider =
  | { name: string; kind: "envoyExtAuthzHttp"; envoyExtAuthzHttp: ExtAuthzHttpProvider }
  | { name: string; kind: "envoyExtAuthzGrpc"; envoyExtAuthzGrpc: ExtAuthzGrpcProvider }
  | { name: string; kind: "envoyFileAccessLog"; envoyFileAccessLog: FileAccessLogProvider }
  | { name: string; kind: "zipkin"; zipkin: ZipkinProvider }
  | { name: string; kind: "opentelemetry"; opentelemetry: OpenTelemetryProvider }
  | { name: string; kind: "prometheus" }
  | { name: string; kind: Exclude<ExtensionProviderKind, ImplementedKind> };

/**
 * The providers every Istio mesh config starts with (pkg/config/mesh DefaultMeshConfig): a mesh
 * config's own providers replace one of the same name or are appended.
 */
export const DEFAULT_EXTENSION_PROVIDERS: readonly ExtensionProvider[] = [
  { name: "prometheus", kind: "prometheus" },
  { name: "stackdriver", kind: "stackdriver" },
  { name: "envoy", kind: "envoyFileAccessLog", envoyFileAccessLog: { path: "/dev/stdout", omitEmptyValues: false } },
];

/** Istio's ApplyMeshConfig merge of extensionProviders: by name, later replacing, new ones appended. */
export function mergeExtensionProviders(base: readonly ExtensionProvider[], overlay: readonly ExtensionProvider[]): ExtensionProvider[] {
  const out = [...base];
  for (const p of overlay) {
    const i = out.findIndex((e) => e.name === p.name);
    if (i >= 0) out[i] = p;
    else out.push(p);
  }
  return out;
}
