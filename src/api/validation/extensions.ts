// Istio's semantic validation for EnvoyFilter, WasmPlugin, ProxyConfig and TrafficExtension
// (istio/istio pkg/config/validation/envoyfilter, ValidateWasmPlugin, ValidateProxyConfig, plus the
// EnvoyFilter checks of `istioctl analyze` as warnings). The CRD schema already enforces enums, the
// match oneOf, waypoint-only-with-WAYPOINT, URL schemes, sha256 format, lengths and env rules.
import type { SpecByKind } from "../resource.js";
import { checkRegex } from "./common.js";
import type { SemanticValidator, ValidationContext } from "./context.js";
import { checkDryRunAnnotation, checkPolicyAttachment } from "./security.js";

// ---------------------------------------------------------------------------------------------
// EnvoyFilter

type ConfigPatch = NonNullable<SpecByKind["EnvoyFilter"]["configPatches"]>[number];
type ApplyTo = NonNullable<ConfigPatch["applyTo"]>;
type Operation = NonNullable<NonNullable<ConfigPatch["patch"]>["operation"]>;

const HCM = "envoy.filters.network.http_connection_manager";
const LISTENER_CLASS = new Set<ApplyTo>(["LISTENER", "FILTER_CHAIN", "NETWORK_FILTER", "HTTP_FILTER"]);
const ROUTE_CLASS = new Set<ApplyTo>(["ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE"]);
const FILTER_CLASS = new Set<ApplyTo>(["NETWORK_FILTER", "HTTP_FILTER", "LISTENER_FILTER"]);
const ORDERED = new Set<ApplyTo>(["NETWORK_FILTER", "HTTP_FILTER", "HTTP_ROUTE", "LISTENER_FILTER"]);
const INSERTS = new Set<Operation>(["INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST"]);

/** Deprecated Envoy filter names (istio pkg/config/xds DeprecatedFilterNames, reversed). */
const DEPRECATED_FILTER_NAMES: Record<string, string> = {
  "envoy.buffer": "envoy.filters.http.buffer",
  "envoy.cors": "envoy.filters.http.cors",
  "envoy.csrf": "envoy.filters.http.csrf",
  "envoy.http_dynamo_filter": "envoy.filters.http.dynamo",
  "envoy.ext_authz": "envoy.filters.http.ext_authz (or envoy.filters.network.ext_authz)",
  "envoy.fault": "envoy.filters.http.fault",
  "envoy.grpc_http1_bridge": "envoy.filters.http.grpc_http1_bridge",
  "envoy.grpc_json_transcoder": "envoy.filters.http.grpc_json_transcoder",
  "envoy.grpc_web": "envoy.filters.http.grpc_web",
  "envoy.gzip": "envoy.filters.http.gzip",
  "envoy.health_check": "envoy.filters.http.health_check",
  "envoy.ip_tagging": "envoy.filters.http.ip_tagging",
  "envoy.lua": "envoy.filters.http.lua",
  "envoy.rate_limit": "envoy.filters.http.ratelimit",
  "envoy.router": "envoy.filters.http.router",
  "envoy.squash": "envoy.filters.http.squash",
  "envoy.listener.http_inspector": "envoy.filters.listener.http_inspector",
  "envoy.listener.original_dst": "envoy.filters.listener.original_dst",
  "envoy.listener.original_src": "envoy.filters.listener.original_src",
  "envoy.listener.proxy_protocol": "envoy.filters.listener.proxy_protocol",
  "envoy.listener.tls_inspector": "envoy.filters.listener.tls_inspector",
  "envoy.client_ssl_auth": "envoy.filters.network.client_ssl_auth",
  "envoy.http_connection_manager": HCM,
  "envoy.mongo_proxy": "envoy.filters.network.mongo_proxy",
  "envoy.ratelimit": "envoy.filters.network.ratelimit",
  "envoy.redis_proxy": "envoy.filters.network.redis_proxy",
  "envoy.tcp_proxy": "envoy.filters.network.tcp_proxy",
};

function warnDeprecatedName(name: string | undefined, path: string, ctx: ValidationContext): void {
  if (name && Object.hasOwn(DEPRECATED_FILTER_NAMES, name))
    ctx.warn("TSMESH_DEPRECATED", path, `filter name ${JSON.stringify(name)} is deprecated; use ${DEPRECATED_FILTER_NAMES[name]}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Walks a patch value and checks every protobuf Any `@type` (Istio resolves them against the v3 xDS API). */
function checkTypeUrls(value: unknown, path: string, ctx: ValidationContext): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkTypeUrls(v, `${path}[${i}]`, ctx));
    return;
  }
  if (!isRecord(value)) return;
  for (const [k, v] of Object.entries(value)) {
    const p = `${path}.${k}`;
    if (k === "@type") {
      if (typeof v !== "string" || v === "")
        ctx.error("TSMESH_INVALID_VALUE", p, `"@type" must be a type URL such as "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", found ${JSON.stringify(v)}`);
      else if (/\.v2(alpha\d*)?\./.test(v))
        ctx.error("TSMESH_INVALID_VALUE", p, `referenced type ${JSON.stringify(v)} is unknown (hint: use the v3 xDS API; v2 types are no longer supported)`);
      else if (!v.includes("/"))
        ctx.warn("TSMESH_SUSPICIOUS", p, `"@type" ${JSON.stringify(v)} has no "type.googleapis.com/" prefix; Envoy expects a full type URL`);
    } else checkTypeUrls(v, p, ctx);
  }
}

function contextWarnings(cp: ConfigPatch, path: string, ctx: ValidationContext): void {
  const context = cp.match?.context ?? "ANY";
  const sidecar = context === "SIDECAR_INBOUND" || context === "SIDECAR_OUTBOUND";
  const rc = cp.match?.routeConfiguration;
  if (sidecar && rc?.gateway)
    ctx.warn("TSMESH_SUSPICIOUS", `${path}.match.routeConfiguration.gateway`, `routeConfiguration.gateway only matches in the GATEWAY context, not ${context}`);
  if (sidecar && rc?.portName)
    ctx.warn("TSMESH_SUSPICIOUS", `${path}.match.routeConfiguration.portName`, `routeConfiguration.portName only matches in the GATEWAY context, not ${context}`);
  const listener = cp.match?.listener;
  if (sidecar && listener?.portName)
    ctx.warn("TSMESH_SUSPICIOUS", `${path}.match.listener.portName`, `listener.portName only matches in the GATEWAY context, not ${context}`);
  if (listener?.filterChain?.transportProtocol && context !== "ANY" && context !== "SIDECAR_INBOUND")
    ctx.warn("TSMESH_SUSPICIOUS", `${path}.match.listener.filterChain.transportProtocol`, `transportProtocol only matches in the SIDECAR_INBOUND context, not ${context}`);
  const ports: [number | undefined, string][] = [
    [listener?.portNumber, "match.listener.portNumber"],
    [listener?.filterChain?.destinationPort, "match.listener.filterChain.destinationPort"],
    [rc?.portNumber, "match.routeConfiguration.portNumber"],
    [cp.match?.cluster?.portNumber, "match.cluster.portNumber"],
  ];
  for (const [port, p] of ports)
    if (port !== undefined && port > 65535) ctx.warn("TSMESH_SUSPICIOUS", `${path}.${p}`, `port ${port} is above 65535, so this match never applies`);
}

function operationWarnings(applyTo: ApplyTo, op: Operation, path: string, ctx: ValidationContext): void {
  const p = `${path}.patch.operation`;
  const ignored = (why: string) => ctx.warn("TSMESH_SUSPICIOUS", p, `operation ${op} is ignored for applyTo ${applyTo}: ${why}`);
  if (applyTo === "BOOTSTRAP" && op !== "MERGE") ignored("BOOTSTRAP only supports MERGE");
  else if (applyTo === "EXTENSION_CONFIG" && op !== "ADD") ignored("EXTENSION_CONFIG only supports ADD");
  else if (applyTo === "ROUTE_CONFIGURATION" && op !== "MERGE" && op !== "MERGE_AND_REPLACE_LIST") ignored("ROUTE_CONFIGURATION only supports MERGE");
  else if (applyTo === "HTTP_ROUTE" && (op === "ADD" || op === "REMOVE")) ignored("use INSERT_BEFORE/INSERT_AFTER/INSERT_FIRST or MERGE for routes");
  else if (op === "REPLACE" && applyTo !== "HTTP_FILTER" && applyTo !== "NETWORK_FILTER") ignored("REPLACE only applies to HTTP_FILTER and NETWORK_FILTER");
  else if (INSERTS.has(op) && !ORDERED.has(applyTo)) ignored("ordered inserts only apply to NETWORK_FILTER, HTTP_FILTER, HTTP_ROUTE and LISTENER_FILTER; use ADD");
}

/** applyTo, match and patch must line up (Istio's validateEnvoyFilter). Returns false to stop checking the patch. */
function checkMatchClass(cp: ConfigPatch, applyTo: ApplyTo, path: string, ctx: ValidationContext): boolean {
  const match = cp.match;
  if (!match || match.waypoint) return true;
  const hasObject = !!(match.listener || match.routeConfiguration || match.cluster);
  if (LISTENER_CLASS.has(applyTo) && hasObject) {
    if (!match.listener) {
      ctx.error("TSMESH_INVALID_VALUE", `${path}.match`, `applyTo ${applyTo} needs a listener match, not ${match.routeConfiguration ? "routeConfiguration" : "cluster"}`);
      return false;
    }
    const filter = match.listener.filterChain?.filter;
    if (filter) {
      const fp = `${path}.match.listener.filterChain.filter`;
      if (applyTo === "LISTENER" || applyTo === "FILTER_CHAIN")
        ctx.warn("TSMESH_SUSPICIOUS", fp, `a filter match has no effect with applyTo ${applyTo}`);
      if (!filter.name) {
        ctx.error("TSMESH_INVALID_VALUE", `${fp}.name`, "filter match needs a name to match on");
        return false;
      }
      if (filter.subFilter) {
        if (applyTo !== "HTTP_FILTER") {
          ctx.error("TSMESH_INVALID_VALUE", `${fp}.subFilter`, `subFilter match can only be used with applyTo HTTP_FILTER, not ${applyTo}`);
          return false;
        }
        if (filter.name !== HCM && filter.name !== "envoy.http_connection_manager") {
          ctx.error("TSMESH_INVALID_VALUE", `${fp}.name`, `subFilter match requires the filter match to be ${HCM}, found ${JSON.stringify(filter.name)}`);
          return false;
        }
        if (!filter.subFilter.name) {
          ctx.error("TSMESH_INVALID_VALUE", `${fp}.subFilter.name`, "subFilter match needs a name to match on");
          return false;
        }
      }
      warnDeprecatedName(filter.name, `${fp}.name`, ctx);
      warnDeprecatedName(filter.subFilter?.name, `${fp}.subFilter.name`, ctx);
    }
  } else if (ROUTE_CLASS.has(applyTo) && hasObject && !match.routeConfiguration) {
    ctx.error("TSMESH_INVALID_VALUE", `${path}.match`, `applyTo ${applyTo} needs a routeConfiguration match, not ${match.listener ? "listener" : "cluster"}`);
  } else if (applyTo === "CLUSTER" && hasObject && !match.cluster) {
    ctx.error("TSMESH_INVALID_VALUE", `${path}.match`, `applyTo CLUSTER needs a cluster match, not ${match.listener ? "listener" : "routeConfiguration"}`);
  }
  return true;
}

function checkConfigPatch(cp: ConfigPatch, path: string, ctx: ValidationContext): void {
  const applyTo = cp.applyTo;
  if (!applyTo || applyTo === "INVALID") {
    ctx.error("TSMESH_INVALID_VALUE", `${path}.applyTo`, "applyTo is required (e.g. HTTP_FILTER, CLUSTER, LISTENER)");
    return;
  }
  if (!cp.patch) {
    ctx.error("TSMESH_INVALID_VALUE", `${path}.patch`, "patch is required");
    return;
  }
  const op = cp.patch.operation;
  if (!op || op === "INVALID") {
    ctx.error("TSMESH_INVALID_VALUE", `${path}.patch.operation`, "patch operation is required (e.g. MERGE, ADD, REMOVE, INSERT_BEFORE)");
    return;
  }
  if (op !== "REMOVE" && cp.patch.value === undefined) {
    ctx.error("TSMESH_INVALID_VALUE", `${path}.patch.value`, `patch value is required for operation ${op} (only REMOVE works without one)`);
    return;
  }
  const proxyVersion = cp.match?.proxy?.proxyVersion;
  if (proxyVersion) {
    const e = checkRegex(proxyVersion);
    if (e) {
      ctx.error("TSMESH_INVALID_REGEX", `${path}.match.proxy.proxyVersion`, e);
      return;
    }
  }
  if (!checkMatchClass(cp, applyTo, path, ctx)) return;
  operationWarnings(applyTo, op, path, ctx);
  contextWarnings(cp, path, ctx);
  const value = cp.patch.value;
  if (value !== undefined && op !== "REMOVE") {
    checkTypeUrls(value, `${path}.patch.value`, ctx);
    const adds = op === "ADD" || op === "REPLACE" || INSERTS.has(op);
    if (FILTER_CLASS.has(applyTo) && adds && !("typed_config" in value) && !("typedConfig" in value) && !("config_discovery" in value) && !("configDiscovery" in value))
      ctx.warn(
        "TSMESH_DEPRECATED",
        `${path}.patch.value`,
        "filter has no typed_config: referring to an extension by name alone is deprecated in Envoy; add typed_config with an \"@type\"",
      );
  }
}

export const validateEnvoyFilter: SemanticValidator<"EnvoyFilter"> = (resource, ctx) => {
  const spec = resource.spec;
  checkDryRunAnnotation(resource, ctx);
  ctx.warn(
    "TSMESH_SUSPICIOUS",
    "spec",
    "EnvoyFilter exposes internal implementation details that may change at any time; prefer other APIs if possible, and take extreme care around upgrades",
  );
  if (spec.workloadSelector && Object.keys(spec.workloadSelector.labels ?? {}).length === 0)
    ctx.warn("TSMESH_SUSPICIOUS", "spec.workloadSelector", "workloadSelector has no labels: the filter applies to every workload in the namespace");
  spec.configPatches?.forEach((cp, i) => {
    const path = `spec.configPatches[${i}]`;
    if (!cp) ctx.error("TSMESH_INVALID_VALUE", path, "config patch must not be null");
    else checkConfigPatch(cp, path, ctx);
  });
};

// ---------------------------------------------------------------------------------------------
// WasmPlugin / TrafficExtension

/** The URL scheme as Istio reads it: no `scheme://` prefix means an OCI image. */
function wasmScheme(url: string): string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(url);
  return m ? m[1].toLowerCase() : "oci";
}

function checkWasmModule(w: { url: string; imagePullSecret?: string; imagePullPolicy?: string }, base: string, ctx: ValidationContext): void {
  const scheme = wasmScheme(w.url);
  if (w.imagePullSecret && scheme !== "oci")
    ctx.warn("TSMESH_SUSPICIOUS", `${base}imagePullSecret`, `imagePullSecret is only used to pull OCI images; it is ignored for a ${scheme}:// url`);
  if (w.imagePullPolicy && w.imagePullPolicy !== "UNSPECIFIED_POLICY" && scheme === "file")
    ctx.warn("TSMESH_SUSPICIOUS", `${base}imagePullPolicy`, "imagePullPolicy has no effect for a file:// url");
}

export const validateWasmPlugin: SemanticValidator<"WasmPlugin"> = (resource, ctx) => {
  const spec = resource.spec;
  checkPolicyAttachment(spec, ctx);
  checkDryRunAnnotation(resource, ctx);
  checkWasmModule(spec, "spec.", ctx);
};

const LUA_ENTRY_POINT = /\bfunction\s+envoy_on_(request|response)\b/;

export const validateTrafficExtension: SemanticValidator<"TrafficExtension"> = (resource, ctx) => {
  const spec = resource.spec;
  checkPolicyAttachment(spec, ctx);
  checkDryRunAnnotation(resource, ctx);
  if (spec.wasm) checkWasmModule(spec.wasm, "spec.wasm.", ctx);
  if (spec.lua && !LUA_ENTRY_POINT.test(spec.lua.inlineCode))
    ctx.warn("TSMESH_SUSPICIOUS", "spec.lua.inlineCode", "Lua code defines neither envoy_on_request nor envoy_on_response, so the filter does nothing");
};

// ---------------------------------------------------------------------------------------------
// ProxyConfig

const IMAGE_TYPE = /^[A-Za-z0-9_.-]+$/;

export const validateProxyConfig: SemanticValidator<"ProxyConfig"> = (resource, ctx) => {
  const spec = resource.spec;
  checkPolicyAttachment(spec, ctx, { checkKinds: false });
  checkDryRunAnnotation(resource, ctx);
  for (const name of Object.keys(spec.environmentVariables ?? {})) {
    const path = `spec.environmentVariables[${name}]`;
    if (name === "") ctx.error("TSMESH_INVALID_VALUE", path, "environment variable name must not be empty");
    else if (name.includes("=")) ctx.error("TSMESH_INVALID_VALUE", path, `environment variable name ${JSON.stringify(name)} must not contain "="`);
  }
  const imageType = spec.image?.imageType;
  if (imageType !== undefined && !IMAGE_TYPE.test(imageType))
    ctx.warn(
      "TSMESH_SUSPICIOUS",
      "spec.image.imageType",
      `imageType ${JSON.stringify(imageType)} is appended to the image tag, so it should use only letters, digits, "_", "." and "-" (Istio publishes default, debug and distroless)`,
    );
};
