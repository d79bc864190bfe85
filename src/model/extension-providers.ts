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

export type ExtensionProvider =
  | { name: string; kind: "envoyExtAuthzHttp"; envoyExtAuthzHttp: ExtAuthzHttpProvider }
  | { name: string; kind: "envoyExtAuthzGrpc"; envoyExtAuthzGrpc: ExtAuthzGrpcProvider }
  | { name: string; kind: Exclude<ExtensionProviderKind, "envoyExtAuthzHttp" | "envoyExtAuthzGrpc"> };
