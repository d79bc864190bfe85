// Istio's mesh config (MeshConfig, istio.io/api mesh/v1alpha1) as istiod reads it: the YAML of
// `--meshConfig FILE` or of the `istio` ConfigMap's `data.mesh` in istio-system. Like istiod's
// ApplyMeshConfig, the YAML is applied over the defaults (a field given replaces the default; fields
// not given keep it), fields tsmesh does not read are accepted and reported as not enforced
// (MeshConfig has many: defaultConfig, extensionProviders, accessLogFile…), and the fields tsmesh
// uses are validated as istiod validates them (enums, protobuf durations). Errors name the field
// path, so a caller can prefix the source.
import { readFileSync } from "node:fs";
import { parse, YAMLParseError } from "yaml";
import { meshConfigNotEnforced, type NotEnforcedUse } from "../api/enforcement.js";
import { mergeExtensionProviders } from "../model/extension-providers.js";
import { DEFAULT_MESH_CONFIG, type MeshConfig } from "../model/push-context.js";
import { DEFAULT_TELEMETRY_MESH, type TelemetryMesh } from "../model/telemetry.js";
import { parseExtensionProviders } from "./mesh-extension-providers.js";
import { field, isObject, parseProtoDuration } from "./mesh-fields.js";

export { parseProtoDuration } from "./mesh-fields.js";

export { MESH_CONFIGMAP_KEY, MESH_CONFIGMAP_NAME, MESH_CONFIGMAP_NAMESPACE } from "../config/configmap.js";

export class MeshConfigError extends Error {
  constructor(
    /** Where the YAML came from: a file, or `FILE: ConfigMap istio-system/istio: data.mesh`. */
    readonly source: string,
    /** One entry per problem: `field.path: what is wrong`. */
    readonly problems: readonly string[],
  ) {
    super(problems.map((p) => `${source}: ${p}`).join("\n"));
    this.name = "MeshConfigError";
  }
}

const OUTBOUND_MODES = ["ALLOW_ANY", "REGISTRY_ONLY"] as const;
// protobuf enum numbers (MeshConfig.OutboundTrafficPolicy.Mode), which protojson accepts too.
const OUTBOUND_MODE_NUMBERS: Record<number, MeshConfig["outboundTrafficPolicy"]> = { 0: "REGISTRY_ONLY", 1: "ALLOW_ANY" };

/** Istio's ValidateDuration: at least 1 ms, in whole milliseconds. */
function checkDurationMs(ms: number): string | undefined {
  if (ms < 1) return "duration must be greater than 1ms";
  if (Math.abs(ms - Math.round(ms)) > 1e-6) return "only durations to ms precision are supported";
  return undefined;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The MeshConfig fields a mesh YAML sets (only those; merge over the defaults with meshFrom).
 * Throws MeshConfigError (naming `source` and each field) when the YAML is malformed or a field
 * tsmesh uses is invalid. What the YAML sets that tsmesh does not enforce is added to `notEnforced`.
 */
export function parseMeshConfig(text: string, source: string, notEnforced?: NotEnforcedUse[]): Partial<MeshConfig> {
  let doc: unknown;
  try {
    doc = parse(text, { uniqueKeys: false });
  } catch (e) {
    const msg = e instanceof YAMLParseError ? `line ${e.linePos?.[0].line ?? "?"}: ${e.message.split("\n")[0]}` : (e as Error).message;
    throw new MeshConfigError(source, [`invalid YAML: ${msg}`]);
  }
  if (doc === null || doc === undefined) return {};
  if (!isObject(doc)) throw new MeshConfigError(source, [`mesh config must be a YAML mapping of MeshConfig fields, not a ${Array.isArray(doc) ? "list" : typeof doc}`]);
  const problems: string[] = [];
  const out: Partial<MeshConfig> = {};

  const rootNamespace = field(doc, "rootNamespace");
  if (rootNamespace !== undefined && rootNamespace !== null) {
    if (typeof rootNamespace !== "string") problems.push(`rootNamespace: must be a string, not ${JSON.stringify(rootNamespace)}`);
    else if (rootNamespace !== "" && !DNS1123_LABEL.test(rootNamespace)) problems.push(`rootNamespace: ${JSON.stringify(rootNamespace)} is not a valid namespace name (DNS-1123 label)`);
    else if (rootNamespace !== "") out.rootNamespace = rootNamespace;
  }

  const trustDomain = field(doc, "trustDomain");
  if (trustDomain !== undefined && trustDomain !== null) {
    if (typeof trustDomain !== "string") problems.push(`trustDomain: must be a string, not ${JSON.stringify(trustDomain)}`);
    else if (trustDomain !== "") out.trustDomain = trustDomain;
  }

  const otp = field(doc, "outboundTrafficPolicy");
  if (otp !== undefined && otp !== null) {
    if (!isObject(otp)) problems.push(`outboundTrafficPolicy: must be an object such as {mode: REGISTRY_ONLY}, not ${JSON.stringify(otp)}`);
    else {
      const mode = field(otp, "mode");
      if (typeof mode === "number" && mode in OUTBOUND_MODE_NUMBERS) out.outboundTrafficPolicy = OUTBOUND_MODE_NUMBERS[mode];
      else if (typeof mode === "string" && (OUTBOUND_MODES as readonly string[]).includes(mode)) out.outboundTrafficPolicy = mode as MeshConfig["outboundTrafficPolicy"];
      else if (mode !== undefined && mode !== null) problems.push(`outboundTrafficPolicy.mode: must be ALLOW_ANY or REGISTRY_ONLY, not ${JSON.stringify(mode)}`);
    }
  }

  const connectTimeout = field(doc, "connectTimeout");
  if (connectTimeout !== undefined && connectTimeout !== null) {
    const ms = parseProtoDuration(connectTimeout);
    const bad = typeof ms === "string" ? ms : checkDurationMs(ms);
    if (bad) problems.push(`connectTimeout: ${bad}`);
    else out.connectTimeoutMs = ms as number;
  }

  const locality = field(doc, "localityLbSetting");
  if (locality !== undefined && locality !== null) {
    if (!isObject(locality)) problems.push(`localityLbSetting: must be an object such as {enabled: false}, not ${JSON.stringify(locality)}`);
    else {
      const enabled = field(locality, "enabled");
      if (typeof enabled === "boolean") out.localityLbEnabled = enabled;
      else if (enabled !== undefined && enabled !== null) problems.push(`localityLbSetting.enabled: must be true or false, not ${JSON.stringify(enabled)}`);
    }
  }

  // protojson's BoolValue: a bare boolean.
  const autoMtls = field(doc, "enableAutoMtls");
  if (autoMtls !== undefined && autoMtls !== null) {
    if (typeof autoMtls === "boolean") out.enableAutoMtls = autoMtls;
    else problems.push(`enableAutoMtls: must be true or false, not ${JSON.stringify(autoMtls)}`);
  }

  const aliases = field(doc, "trustDomainAliases");
  if (aliases !== undefined && aliases !== null) {
    if (!Array.isArray(aliases) || aliases.some((a) => typeof a !== "string" || a === "")) problems.push(`trustDomainAliases: must be a list of trust domain names, not ${JSON.stringify(aliases)}`);
    else out.trustDomainAliases = aliases as string[];
  }

  const providers = field(doc, "extensionProviders");
  if (providers !== undefined && providers !== null) out.extensionProviders = parseExtensionProviders(providers, problems);

  const telemetry = parseTelemetryMesh(doc, problems);
  if (telemetry) out.telemetry = telemetry;

  // ProxyConfig defaults for every proxy: only the gateway topology's trusted proxies are read
  // (remoteIpBlocks on gateways); a gateway's own proxy.istio.io/config overrides it, as Istio merges.
  const defaults = field(doc, "defaultConfig");
  if (defaults !== undefined && defaults !== null) {
    if (!isObject(defaults)) problems.push(`defaultConfig: must be an object (a ProxyConfig), not ${JSON.stringify(defaults)}`);
    else {
      const topo = field(defaults, "gatewayTopology");
      if (topo !== undefined && topo !== null) {
        if (!isObject(topo)) problems.push(`defaultConfig.gatewayTopology: must be an object, not ${JSON.stringify(topo)}`);
        else {
          const n = field(topo, "numTrustedProxies");
          if (typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= 0xffffffff) out.defaultNumTrustedProxies = n;
          else if (n !== undefined && n !== null) problems.push(`defaultConfig.gatewayTopology.numTrustedProxies: must be a non-negative integer, not ${JSON.stringify(n)}`);
        }
      }
    }
  }

  // Everything else (accessLogFile, enableTracing, most of defaultConfig…) is Istio's
  // and not read here, as long as the document is a mapping: src/api/enforcement.ts says which.
  if (problems.length > 0) throw new MeshConfigError(source, problems);
  notEnforced?.push(...meshConfigNotEnforced(doc));
  return out;
}

const TELEMETRY_FIELDS = ["accessLogFile", "accessLogEncoding", "accessLogFormat", "enableTracing", "defaultProviders"];

function stringList(v: unknown, at: string, problems: string[]): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    problems.push(`${at}: must be a list of provider names`);
    return [];
  }
  return v as string[];
}

/**
 * The telemetry fields of a mesh config over Istio's defaults (only when the document sets one):
 * accessLogFile/Encoding/Format, enableTracing, defaultProviders and defaultConfig.tracing.
 */
function parseTelemetryMesh(doc: Record<string, unknown>, problems: string[]): TelemetryMesh | undefined {
  const tracingCfg = isObject(field(doc, "defaultConfig")) ? field(field(doc, "defaultConfig") as Record<string, unknown>, "tracing") : undefined;
  if (!TELEMETRY_FIELDS.some((k) => field(doc, k) !== undefined && field(doc, k) !== null) && (tracingCfg === undefined || tracingCfg === null)) return undefined;
  const t: TelemetryMesh = { ...DEFAULT_TELEMETRY_MESH, tracing: { ...DEFAULT_TELEMETRY_MESH.tracing }, defaultProviders: { ...DEFAULT_TELEMETRY_MESH.defaultProviders } };
  const str = (k: "accessLogFile" | "accessLogFormat"): void => {
    const v = field(doc, k);
    if (v === undefined || v === null) return;
    if (typeof v !== "string") problems.push(`${k}: must be a string, not ${JSON.stringify(v)}`);
    else t[k] = v;
  };
  str("accessLogFile");
  str("accessLogFormat");
  const enc = field(doc, "accessLogEncoding");
  if (enc === "TEXT" || enc === 0) t.accessLogEncoding = "TEXT";
  else if (enc === "JSON" || enc === 1) t.accessLogEncoding = "JSON";
  else if (enc !== undefined && enc !== null) problems.push(`accessLogEncoding: must be TEXT or JSON, not ${JSON.stringify(enc)}`);
  if (t.accessLogEncoding === "JSON" && t.accessLogFormat !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t.accessLogFormat);
    } catch {
      parsed = undefined;
    }
    if (!isObject(parsed)) problems.push(`accessLogFormat: with accessLogEncoding JSON it must be a JSON object of field names to format strings`);
  }
  const et = field(doc, "enableTracing");
  if (typeof et === "boolean") t.enableTracing = et;
  else if (et !== undefined && et !== null) problems.push(`enableTracing: must be true or false, not ${JSON.stringify(et)}`);
  const dp = field(doc, "defaultProviders");
  if (dp !== undefined && dp !== null) {
    if (!isObject(dp)) problems.push(`defaultProviders: must be an object {metrics, accessLogging, tracing}`);
    else {
      for (const k of Object.keys(dp)) if (!["metrics", "accessLogging", "tracing", "access_logging"].includes(k)) problems.push(`defaultProviders.${k}: unknown field (known: metrics, accessLogging, tracing)`);
      // Istio applies defaultProviders over the default as a YAML merge: a list given replaces it.
      if (field(dp, "metrics") !== undefined) t.defaultProviders.metrics = stringList(field(dp, "metrics"), "defaultProviders.metrics", problems);
      if (field(dp, "accessLogging") !== undefined) t.defaultProviders.accessLogging = stringList(field(dp, "accessLogging"), "defaultProviders.accessLogging", problems);
      if (field(dp, "tracing") !== undefined) t.defaultProviders.tracing = stringList(field(dp, "tracing"), "defaultProviders.tracing", problems);
    }
  }
  if (tracingCfg !== undefined && tracingCfg !== null) {
    if (!isObject(tracingCfg)) problems.push(`defaultConfig.tracing: must be an object`);
    else {
      const s = field(tracingCfg, "sampling");
      if (typeof s === "number" && s >= 0 && s <= 100) t.tracing.sampling = s;
      else if (s !== undefined && s !== null) problems.push(`defaultConfig.tracing.sampling: must be a percentage 0..100, not ${JSON.stringify(s)}`);
      const z = field(tracingCfg, "zipkin");
      const addr = isObject(z) ? field(z, "address") : undefined;
      if (typeof addr === "string" && addr !== "") {
        if (!/^[^:]+:\d+$/.test(addr)) problems.push(`defaultConfig.tracing.zipkin.address: must be HOST:PORT, not ${JSON.stringify(addr)}`);
        else t.tracing.zipkinAddress = addr;
      }
      const ml = field(tracingCfg, "maxPathTagLength");
      if (typeof ml === "number" && Number.isInteger(ml) && ml >= 0) t.tracing.maxPathTagLength = ml;
      else if (ml !== undefined && ml !== null) problems.push(`defaultConfig.tracing.maxPathTagLength: must be a non-negative integer`);
      const ct = field(tracingCfg, "custom_tags") ?? field(tracingCfg, "customTags");
      if (ct !== undefined && ct !== null) {
        if (!isObject(ct)) problems.push(`defaultConfig.tracing.custom_tags: must be a map of tag names to {literal|environment|header}`);
        else t.tracing.customTags = ct as TelemetryMesh["tracing"]["customTags"];
      }
    }
  }
  return t;
}

/** The effective mesh config: defaults, then each overlay in order (later fields win; extensionProviders merge by name, as Istio). */
export function meshFrom(...overlays: ReadonlyArray<Partial<MeshConfig> | undefined>): MeshConfig {
  let mesh: MeshConfig = { ...DEFAULT_MESH_CONFIG };
  for (const o of overlays) {
    if (!o) continue;
    const providers = o.extensionProviders ? mergeExtensionProviders(mesh.extensionProviders, o.extensionProviders) : mesh.extensionProviders;
    mesh = { ...mesh, ...o, extensionProviders: providers };
  }
  return mesh;
}

/** Reads and parses a mesh config file (`--mesh-config`); errors name the file. */
export function readMeshConfigFile(file: string, displayName = file, notEnforced?: NotEnforcedUse[]): Partial<MeshConfig> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new MeshConfigError(displayName, [`cannot read the mesh config: ${err.code === "ENOENT" ? "no such file" : err.message}`]);
  }
  return parseMeshConfig(text, displayName, notEnforced);
}

/** A short description of the mesh settings tsmesh uses, for logs. */
export function describeMesh(mesh: MeshConfig): string {
  return `outboundTrafficPolicy ${mesh.outboundTrafficPolicy}, connectTimeout ${mesh.connectTimeoutMs / 1000}s, localityLb ${mesh.localityLbEnabled ? "on" : "off"}, rootNamespace ${mesh.rootNamespace}, trustDomain ${mesh.trustDomain}, autoMtls ${mesh.enableAutoMtls ? "on" : "off"}${mesh.extensionProviders.length > 0 ? `, extensionProviders ${mesh.extensionProviders.map((p) => p.name).join(",")}` : ""}`;
}
