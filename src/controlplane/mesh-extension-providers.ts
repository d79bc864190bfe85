// Mesh config `extensionProviders` parsed and validated as istiod's mesh validation does
// (pkg/config/validation/agent/extensionprovider.go): each needs a unique, non-empty name and
// exactly one provider kind; the ext_authz kinds (the ones tsmesh generates) are read field by
// field (port, service, statusOnError, pathPrefix…), unknown fields refused; so are the telemetry
// kinds tsmesh generates (envoyFileAccessLog, zipkin, opentelemetry, prometheus). The other kinds
// are kept by name and kind only (reported as not enforced by src/api/enforcement.ts).
import { isIPv4, isIPv6 } from "node:net";
import { envoyRoot } from "../envoy/protos.js";
import {
  EXTENSION_PROVIDER_KINDS,
  type ExtAuthzCommon,
  type ExtAuthzHttpProvider,
  type ExtAuthzRequestBody,
  type ExtensionProvider,
  type ExtensionProviderKind,
  type FileAccessLogProvider,
  type OpenTelemetryProvider,
  type ZipkinProvider,
} from "../model/extension-providers.js";
import { field, isObject, parseProtoDuration } from "./mesh-fields.js";

const COMMON_FIELDS = ["service", "port", "timeout", "failOpen", "statusOnError", "includeRequestBodyInCheck"];
const HTTP_FIELDS = [
  ...COMMON_FIELDS,
  "pathPrefix",
  "includeRequestHeadersInCheck",
  "includeHeadersInCheck",
  "includeAdditionalHeadersInCheck",
  "headersToUpstreamOnAllow",
  "headersToDownstreamOnAllow",
  "headersToDownstreamOnDeny",
];
const BODY_FIELDS = ["maxRequestBytes", "allowPartialMessage", "packAsBytes"];

const snake = (camel: string): string => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const FQDN_LABEL = /^[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$/;

function validFqdn(h: string): boolean {
  const labels = (h.endsWith(".") ? h.slice(0, -1) : h).split(".");
  return h.length <= 255 && labels.length > 0 && labels.every((l) => FQDN_LABEL.test(l));
}

/** Istio's validateExtensionProviderService: `HOST` (an FQDN or IP) or `NAMESPACE/HOST`. */
function serviceProblem(service: string): string | undefined {
  if (service === "") return "service must not be empty";
  const parts = service.split("/");
  if (parts.length === 1) return validFqdn(service) || isIPv4(service) || isIPv6(service) ? undefined : `invalid service ${JSON.stringify(service)}: not a hostname or IP address`;
  if (parts.length !== 2 || !/^([a-z0-9]([-a-z0-9]*[a-z0-9])?|\*|\.)$/.test(parts[0]) || !(validFqdn(parts[1].replace(/^\*\./, "x.")) || parts[1] === "*")) {
    return `invalid service ${JSON.stringify(service)}: must be HOST or NAMESPACE/HOST`;
  }
  return undefined;
}

/** Istio's validateExtensionProviderEnvoyExtAuthzStatusOnError: a code of Envoy's StatusCode enum. */
export function statusOnErrorProblem(status: string): string | undefined {
  if (status === "") return undefined;
  if (!/^-?\d+$/.test(status)) return `invalid statusOnError value ${JSON.stringify(status)}: not an integer`;
  const known = envoyRoot().lookupEnum("envoy.type.v3.StatusCode").valuesById;
  if (known[Number(status)] === undefined || Number(status) === 0) return `unsupported statusOnError value ${status}: not an HTTP status code Envoy knows`;
  return undefined;
}

class Reader {
  constructor(
    readonly obj: Record<string, unknown>,
    readonly path: string,
    readonly problems: string[],
  ) {}

  unknown(allowed: readonly string[]): void {
    const names = new Set([...allowed, ...allowed.map(snake)]);
    for (const k of Object.keys(this.obj)) if (!names.has(k)) this.problems.push(`${this.path}.${k}: unknown field (known: ${allowed.join(", ")})`);
  }

  string(name: string): string {
    const v = field(this.obj, name);
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") this.problems.push(`${this.path}.${name}: must be a string, not ${JSON.stringify(v)}`);
    return typeof v === "string" ? v : "";
  }

  bool(name: string): boolean {
    const v = field(this.obj, name);
    if (v === undefined || v === null) return false;
    if (typeof v !== "boolean") this.problems.push(`${this.path}.${name}: must be true or false, not ${JSON.stringify(v)}`);
    return v === true;
  }

  uint32(name: string): number {
    const v = field(this.obj, name);
    if (v === undefined || v === null) return 0;
    // protojson accepts integers as numbers or strings.
    const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      this.problems.push(`${this.path}.${name}: must be a non-negative integer, not ${JSON.stringify(v)}`);
      return 0;
    }
    return n;
  }

  strings(name: string): string[] {
    const v = field(this.obj, name);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
      this.problems.push(`${this.path}.${name}: must be a list of strings`);
      return [];
    }
    return v as string[];
  }

  stringMap(name: string): Record<string, string> {
    const v = field(this.obj, name);
    if (v === undefined || v === null) return {};
    if (!isObject(v) || Object.values(v).some((x) => typeof x !== "string")) {
      this.problems.push(`${this.path}.${name}: must be a map of header names to string values`);
      return {};
    }
    return { ...(v as Record<string, string>) };
  }

  durationMs(name: string): number | undefined {
    const v = field(this.obj, name);
    if (v === undefined || v === null) return undefined;
    const ms = parseProtoDuration(v);
    if (typeof ms === "string") {
      this.problems.push(`${this.path}.${name}: ${ms}`);
      return undefined;
    }
    if (ms < 0) this.problems.push(`${this.path}.${name}: must not be negative`);
    return ms;
  }
}

function readCommon(r: Reader): ExtAuthzCommon {
  const service = r.string("service");
  const sp = serviceProblem(service);
  if (sp) r.problems.push(`${r.path}.service: ${sp}`);
  const port = r.uint32("port");
  if (port < 1 || port > 65535) r.problems.push(`${r.path}.port: port number ${port} must be in the range 1..65535`);
  const statusOnError = r.string("statusOnError");
  const so = statusOnErrorProblem(statusOnError);
  if (so) r.problems.push(`${r.path}.statusOnError: ${so}`);
  const out: ExtAuthzCommon = { service, port, failOpen: r.bool("failOpen"), statusOnError };
  const timeoutMs = r.durationMs("timeout");
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  const body = field(r.obj, "includeRequestBodyInCheck");
  if (body !== undefined && body !== null) {
    if (!isObject(body)) r.problems.push(`${r.path}.includeRequestBodyInCheck: must be an object such as {maxRequestBytes: 4096}`);
    else {
      const b = new Reader(body, `${r.path}.includeRequestBodyInCheck`, r.problems);
      b.unknown(BODY_FIELDS);
      out.includeRequestBodyInCheck = { maxRequestBytes: b.uint32("maxRequestBytes"), allowPartialMessage: b.bool("allowPartialMessage"), packAsBytes: b.bool("packAsBytes") } satisfies ExtAuthzRequestBody;
    }
  }
  return out;
}

function readHttp(r: Reader): ExtAuthzHttpProvider {
  r.unknown(HTTP_FIELDS);
  const pathPrefix = r.string("pathPrefix");
  if (pathPrefix !== "" && !pathPrefix.startsWith("/")) r.problems.push(`${r.path}.pathPrefix: should begin with \`/\` but found ${JSON.stringify(pathPrefix)}`);
  return {
    ...readCommon(r),
    pathPrefix,
    includeRequestHeadersInCheck: r.strings("includeRequestHeadersInCheck"),
    includeHeadersInCheck: r.strings("includeHeadersInCheck"),
    includeAdditionalHeadersInCheck: r.stringMap("includeAdditionalHeadersInCheck"),
    headersToUpstreamOnAllow: r.strings("headersToUpstreamOnAllow"),
    headersToDownstreamOnAllow: r.strings("headersToDownstreamOnAllow"),
    headersToDownstreamOnDeny: r.strings("headersToDownstreamOnDeny"),
  };
}

function readGrpc(r: Reader): ExtAuthzCommon {
  r.unknown(COMMON_FIELDS);
  return readCommon(r);
}

function readServicePort(r: Reader): { service: string; port: number } {
  const service = r.string("service");
  const sp = serviceProblem(service);
  if (sp) r.problems.push(`${r.path}.service: ${sp}`);
  const port = r.uint32("port");
  if (port < 1 || port > 65535) r.problems.push(`${r.path}.port: port number ${port} must be in the range 1..65535`);
  return { service, port };
}

function readHeaders(r: Reader, name: string): Array<{ name: string; value: string }> {
  const v = field(r.obj, name);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    r.problems.push(`${r.path}.${name}: must be a list of {name, value}`);
    return [];
  }
  return v.flatMap((h, i) => {
    if (!isObject(h)) {
      r.problems.push(`${r.path}.${name}[${i}]: must be an object {name, value}`);
      return [];
    }
    const hr = new Reader(h, `${r.path}.${name}[${i}]`, r.problems);
    hr.unknown(["name", "value", "envName"]);
    if (field(h, "envName") !== undefined) r.problems.push(`${r.path}.${name}[${i}].envName: header values from the proxy's environment are not supported; give value`);
    const n = hr.string("name");
    if (n === "") r.problems.push(`${r.path}.${name}[${i}].name: must not be empty`);
    return [{ name: n, value: hr.string("value") }];
  });
}

function readFileAccessLog(r: Reader): FileAccessLogProvider {
  r.unknown(["path", "logFormat", "omitEmptyValues"]);
  const out: FileAccessLogProvider = { path: r.string("path") || "/dev/stdout", omitEmptyValues: r.bool("omitEmptyValues") };
  const lf = field(r.obj, "logFormat");
  if (lf !== undefined && lf !== null) {
    if (!isObject(lf)) r.problems.push(`${r.path}.logFormat: must be an object with text or labels`);
    else {
      const fr = new Reader(lf, `${r.path}.logFormat`, r.problems);
      fr.unknown(["text", "labels"]);
      const text = field(lf, "text");
      const labels = field(lf, "labels");
      if (text !== undefined && labels !== undefined) r.problems.push(`${r.path}.logFormat: text and labels are exclusive`);
      if (text !== undefined) out.text = fr.string("text");
      else if (labels !== undefined) {
        if (!isObject(labels)) r.problems.push(`${r.path}.logFormat.labels: must be a map of JSON keys to format strings`);
        else out.labels = { ...labels };
      }
    }
  }
  return out;
}

function readZipkin(r: Reader): ZipkinProvider {
  r.unknown(["service", "port", "maxTagLength", "enable64bitTraceId", "path", "traceContextOption", "timeout", "headers"]);
  const path = r.string("path") || "/api/v2/spans";
  if (!path.startsWith("/")) r.problems.push(`${r.path}.path: should begin with \`/\``);
  return { ...readServicePort(r), maxTagLength: r.uint32("maxTagLength"), enable64bitTraceId: r.bool("enable64bitTraceId"), path };
}

function readOpenTelemetry(r: Reader): OpenTelemetryProvider {
  r.unknown(["service", "port", "maxTagLength", "http", "grpc", "resourceDetectors", "dynatraceSampler"]);
  const out: OpenTelemetryProvider = { ...readServicePort(r), maxTagLength: r.uint32("maxTagLength") };
  const http = field(r.obj, "http");
  const grpc = field(r.obj, "grpc");
  if (http !== undefined && http !== null) {
    if (!isObject(http)) r.problems.push(`${r.path}.http: must be an object {path, timeout, headers}`);
    else {
      const hr = new Reader(http, `${r.path}.http`, r.problems);
      hr.unknown(["path", "timeout", "headers"]);
      const path = hr.string("path");
      out.http = { path: path === "" ? "/v1/traces" : path.startsWith("/") ? path : `/${path}`, headers: readHeaders(hr, "headers") };
      const t = hr.durationMs("timeout");
      if (t !== undefined) out.http.timeoutMs = t;
    }
  } else if (grpc !== undefined && grpc !== null) {
    if (!isObject(grpc)) r.problems.push(`${r.path}.grpc: must be an object {timeout, initialMetadata}`);
    else {
      const gr = new Reader(grpc, `${r.path}.grpc`, r.problems);
      gr.unknown(["timeout", "initialMetadata"]);
      out.grpc = { initialMetadata: readHeaders(gr, "initialMetadata") };
      const t = gr.durationMs("timeout");
      if (t !== undefined) out.grpc.timeoutMs = t;
    }
  }
  return out;
}

/** `extensionProviders` of a mesh config; problems are pushed as `extensionProviders[i]…: what`. */
export function parseExtensionProviders(value: unknown, problems: string[]): ExtensionProvider[] {
  if (!Array.isArray(value)) {
    problems.push(`extensionProviders: must be a list of providers ({name: …, envoyExtAuthzHttp: {…}}), not ${JSON.stringify(value)}`);
    return [];
  }
  const out: ExtensionProvider[] = [];
  const names = new Set<string>();
  value.forEach((p, i) => {
    const at = `extensionProviders[${i}]`;
    if (!isObject(p)) {
      problems.push(`${at}: must be an object with a name and one provider kind`);
      return;
    }
    const name = field(p, "name");
    if (typeof name !== "string" || name === "") problems.push(`${at}.name: empty extension provider name`);
    else if (names.has(name)) problems.push(`${at}.name: duplicate extension provider name ${name}`);
    if (typeof name === "string") names.add(name);
    const kinds = EXTENSION_PROVIDER_KINDS.filter((k) => field(p, k) !== undefined && field(p, k) !== null);
    const extra = Object.keys(p).filter((k) => k !== "name" && !EXTENSION_PROVIDER_KINDS.some((x) => x === k || snake(x) === k));
    for (const k of extra) problems.push(`${at}.${k}: unknown provider kind (known: ${EXTENSION_PROVIDER_KINDS.join(", ")})`);
    if (kinds.length !== 1) {
      if (extra.length === 0) problems.push(`${at}: ${kinds.length === 0 ? "needs one provider kind" : `has ${kinds.length} provider kinds (${kinds.join(", ")}); exactly one is allowed`} (${EXTENSION_PROVIDER_KINDS.join(", ")})`);
      return;
    }
    const kind: ExtensionProviderKind = kinds[0];
    const body = field(p, kind);
    if (!isObject(body)) {
      problems.push(`${at}.${kind}: must be an object`);
      return;
    }
    const n = typeof name === "string" ? name : "";
    if (kind === "envoyExtAuthzHttp") out.push({ name: n, kind, envoyExtAuthzHttp: readHttp(new Reader(body, `${at}.${kind}`, problems)) });
    else if (kind === "envoyExtAuthzGrpc") out.push({ name: n, kind, envoyExtAuthzGrpc: readGrpc(new Reader(body, `${at}.${kind}`, problems)) });
    else if (kind === "envoyFileAccessLog") out.push({ name: n, kind, envoyFileAccessLog: readFileAccessLog(new Reader(body, `${at}.${kind}`, problems)) });
    else if (kind === "zipkin") out.push({ name: n, kind, zipkin: readZipkin(new Reader(body, `${at}.${kind}`, problems)) });
    else if (kind === "opentelemetry") out.push({ name: n, kind, opentelemetry: readOpenTelemetry(new Reader(body, `${at}.${kind}`, problems)) });
    else if (kind === "prometheus") {
      new Reader(body, `${at}.${kind}`, problems).unknown([]);
      out.push({ name: n, kind });
    } else out.push({ name: n, kind });
  });
  return out;
}
