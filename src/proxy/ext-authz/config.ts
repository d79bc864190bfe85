// The HTTP ext_authz filter's config (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz and the
// per-route ExtAuthzPerRoute), compiled once when the listener arrives: the client (gRPC or HTTP
// service), header matchers, body buffering, failure mode, enablement (runtime fraction default,
// metadata matcher, deny_at_disable). Fields tsmesh cannot honour are refused with their path.
import { durationMs } from "../../envoy/protos.js";
import type { envoy } from "../../envoy/types.js";
import { HeaderMutations } from "../http/headers.js";
import { type FractionalPercent, runtimeDefault } from "../http/route-policies.js";
import { XdsConfigError } from "../xds-error.js";
import { type AuthzClient, grpcClient, httpClient, statusCodeNumber } from "./client.js";
import { anyOf, clientMatch, type HeaderMatch, MATCH_ALL } from "./header-match.js";
import { compileMetadataMatcher, type MetadataMatcher } from "../http/matchers/metadata.js";

type ExtAuthz = envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
type ExtAuthzPerRoute = envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute;
type BufferSettingsMessage = envoy.extensions.filters.http.ext_authz.v3.BufferSettings;

export const EXT_AUTHZ_TYPE = "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz";
export const EXT_AUTHZ_PER_ROUTE_TYPE = "envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute";

export interface BufferSettings {
  maxRequestBytes: number;
  allowPartialMessage: boolean;
  packAsBytes: boolean;
}

export interface ExtAuthzConfig {
  client: AuthzClient;
  /** Which request headers go into the CheckRequest. */
  checkHeaders: HeaderMatch;
  withRequestBody: BufferSettings | undefined;
  failureModeAllow: boolean;
  failureModeAllowHeaderAdd: boolean;
  clearRouteCache: boolean;
  statusOnError: number;
  validateMutations: boolean;
  metadataContextNamespaces: readonly string[];
  routeMetadataContextNamespaces: readonly string[];
  filterEnabled: FractionalPercent | undefined;
  filterEnabledMetadata: MetadataMatcher | undefined;
  denyAtDisable: boolean;
  includePeerCertificate: boolean;
  includeTlsSession: boolean;
  ingestDynamicMetadata: boolean;
  statPrefix: string;
}

export interface ExtAuthzPerRouteConfig {
  disabled: boolean;
  contextExtensions: Readonly<Record<string, string>> | undefined;
  disableRequestBodyBuffering: boolean;
  withRequestBody: BufferSettings | undefined;
}

/** Envoy's defaults for the headers an HTTP check always carries. */
const HTTP_CHECK_HEADERS = ["authorization", ":method", ":path", ":authority"];

function bufferSettings(b: BufferSettingsMessage, path: string): BufferSettings {
  const max = b.maxRequestBytes ?? 0;
  if (max <= 0) throw new XdsConfigError(`${path}.maxRequestBytes`, "max_request_bytes must be greater than 0");
  return { maxRequestBytes: max, allowPartialMessage: b.allowPartialMessage === true, packAsBytes: b.packAsBytes === true };
}

function refuse(path: string, what: string): never {
  throw new XdsConfigError(path, `${what} is not implemented by tsmesh`);
}

/** transport_api_version: V3 (AUTO means V3 in today's Envoy); V2 was removed. */
export function checkApiVersion(v: string | undefined, path: string): void {
  if (v !== undefined && v !== "V3" && v !== "AUTO") throw new XdsConfigError(`${path}.transportApiVersion`, `transport_api_version ${v} is not supported (V3 only)`);
}

export function compileExtAuthz(c: ExtAuthz, path: string): ExtAuthzConfig {
  checkApiVersion(c.transportApiVersion, path);
  if (c.grpcService !== undefined && c.httpService !== undefined) throw new XdsConfigError(path, "only one of grpc_service and http_service may be set");
  if (c.typedMetadataContextNamespaces?.length) refuse(`${path}.typedMetadataContextNamespaces`, "typed metadata context");
  if (c.routeTypedMetadataContextNamespaces?.length) refuse(`${path}.routeTypedMetadataContextNamespaces`, "typed route metadata context");
  if (c.bootstrapMetadataLabelsKey) refuse(`${path}.bootstrapMetadataLabelsKey`, "destination labels from node metadata");
  if (c.encodeRawHeaders === true) refuse(`${path}.encodeRawHeaders`, "encode_raw_headers");
  if (c.decoderHeaderMutationRules !== undefined) refuse(`${path}.decoderHeaderMutationRules`, "decoder_header_mutation_rules");
  const disallowed = c.disallowedHeaders ? anyOf(c.disallowedHeaders, `${path}.disallowedHeaders`) : undefined;
  let client: AuthzClient;
  let allowed: HeaderMatch;
  if (c.httpService !== undefined) {
    const h = c.httpService;
    const hp = `${path}.httpService`;
    const uri = h.serverUri;
    if (uri === undefined) throw new XdsConfigError(`${hp}.serverUri`, "server_uri is required");
    if (!uri.cluster) throw new XdsConfigError(`${hp}.serverUri.cluster`, "cluster is required");
    if (uri.timeout === undefined) throw new XdsConfigError(`${hp}.serverUri.timeout`, "timeout is required");
    const req = h.authorizationRequest;
    const res = h.authorizationResponse;
    // The top-level allowed_headers and authorization_request's (older) list both name headers to send.
    const patterns = [...(c.allowedHeaders?.patterns ?? []), ...(req?.allowedHeaders?.patterns ?? [])];
    allowed = anyOf({ patterns }, c.allowedHeaders ? `${path}.allowedHeaders` : `${hp}.authorizationRequest.allowedHeaders`, HTTP_CHECK_HEADERS);
    const headersToAdd = HeaderMutations.compile(
      (req?.headersToAdd ?? []).map((hv) => ({ header: hv, appendAction: "OVERWRITE_IF_EXISTS_OR_ADD" as const })),
      undefined,
      `${hp}.authorizationRequest.headersToAdd`,
    );
    const rp = `${hp}.authorizationResponse`;
    client = httpClient({
      cluster: uri.cluster,
      timeoutMs: durationMs(uri.timeout) ?? 0,
      pathPrefix: h.pathPrefix ?? "",
      requestHeaders: allowed,
      headersToAdd,
      upstreamHeaders: anyOf(res?.allowedUpstreamHeaders, `${rp}.allowedUpstreamHeaders`),
      upstreamHeadersToAppend: anyOf(res?.allowedUpstreamHeadersToAppend, `${rp}.allowedUpstreamHeadersToAppend`),
      clientHeaders: clientMatch(res?.allowedClientHeaders, `${rp}.allowedClientHeaders`),
      clientHeadersOnSuccess: anyOf(res?.allowedClientHeadersOnSuccess, `${rp}.allowedClientHeadersOnSuccess`),
      dynamicMetadataFromHeaders: anyOf(res?.dynamicMetadataFromHeaders, `${rp}.dynamicMetadataFromHeaders`),
    });
  } else if (c.grpcService !== undefined) {
    client = grpcClient(c.grpcService, `${path}.grpcService`);
    allowed = c.allowedHeaders ? anyOf(c.allowedHeaders, `${path}.allowedHeaders`) : MATCH_ALL;
  } else {
    throw new XdsConfigError(path, "one of grpc_service or http_service is required");
  }
  const checkHeaders: HeaderMatch = disallowed === undefined ? allowed : (n) => allowed(n) && !disallowed(n);
  let statusOnError = 403;
  if (c.statusOnError !== undefined) {
    const n = statusCodeNumber(c.statusOnError.code);
    if (n < 200 || n > 599) throw new XdsConfigError(`${path}.statusOnError.code`, `invalid status ${String(c.statusOnError.code)}`);
    statusOnError = n;
  }
  return {
    client,
    checkHeaders,
    withRequestBody: c.withRequestBody ? bufferSettings(c.withRequestBody, `${path}.withRequestBody`) : undefined,
    failureModeAllow: c.failureModeAllow === true,
    failureModeAllowHeaderAdd: c.failureModeAllowHeaderAdd === true,
    clearRouteCache: c.clearRouteCache === true,
    statusOnError,
    validateMutations: c.validateMutations === true,
    metadataContextNamespaces: c.metadataContextNamespaces ?? [],
    routeMetadataContextNamespaces: c.routeMetadataContextNamespaces ?? [],
    filterEnabled: c.filterEnabled ? runtimeDefault(c.filterEnabled, `${path}.filterEnabled`) : undefined,
    filterEnabledMetadata: c.filterEnabledMetadata ? compileMetadataMatcher(c.filterEnabledMetadata, `${path}.filterEnabledMetadata`) : undefined,
    denyAtDisable: c.denyAtDisable?.defaultValue?.value === true,
    includePeerCertificate: c.includePeerCertificate === true,
    includeTlsSession: c.includeTlsSession === true,
    ingestDynamicMetadata: c.enableDynamicMetadataIngestion?.value !== false,
    statPrefix: c.statPrefix ?? "",
  };
}

export function compileExtAuthzPerRoute(c: ExtAuthzPerRoute, path: string): ExtAuthzPerRouteConfig {
  if (c.disabled !== undefined && c.checkSettings !== undefined) throw new XdsConfigError(path, "only one of disabled and check_settings may be set");
  if (c.disabled === false) throw new XdsConfigError(`${path}.disabled`, "disabled must be true when set");
  if (c.disabled === undefined && c.checkSettings === undefined) throw new XdsConfigError(path, "one of disabled or check_settings is required");
  const s = c.checkSettings;
  if (s?.disableRequestBodyBuffering === true && s.withRequestBody !== undefined) throw new XdsConfigError(`${path}.checkSettings`, "disable_request_body_buffering and with_request_body cannot both be set");
  return {
    disabled: c.disabled === true,
    contextExtensions: s?.contextExtensions,
    disableRequestBodyBuffering: s?.disableRequestBodyBuffering === true,
    withRequestBody: s?.withRequestBody ? bufferSettings(s.withRequestBody, `${path}.checkSettings.withRequestBody`) : undefined,
  };
}
