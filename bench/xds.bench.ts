// Benchmark (not a test): the control plane under a mesh of 1,000 services × 10 endpoints and 1,000
// simulated Envoy-form proxies on Delta ADS (one load process, no Sidecar scoping).
// Goals (issue): initial full push to all ACKed ≤ 5 s; one VirtualService change ACKed by all ≤ 2 s;
// one endpoint change ACKed by all ≤ 500 ms; control-plane RSS ≤ 1.5 GB; bytes pushed per proxy.
//
// The control plane runs as a child process (`tsmesh discovery`) on generated YAML in a temp dir;
// this process is the load: 1,000 Delta ADS streams over 20 gRPC channels, each behaving like Envoy
// (CDS + LDS wildcard, then EDS for outbound clusters and RDS for the listeners' routes, ACKing
// every response), with Envoy's HTTP/2 flow-control windows for its xDS cluster (256 MiB; gRPC's
// 64 KiB default would make the load, not the server, set the pace). Baseline, measured side by side in the same run: a "transport floor" — a
// trivial gRPC server (second child process) that replays to every stream the exact response bytes
// proxy 0 received from tsmesh in each phase, with zero generation cost, to the same client.
//
// Knobs (for development and analysis): BENCH_SERVICES, BENCH_PROXIES, BENCH_PHASE_TIMEOUT_MS,
// BENCH_CPU_PROF=DIR (profile the control plane), BENCH_CP_NODE_ARGS, BENCH_CP_LOG=FILE.
// `node dist/bench/xds.bench.js --write-config DIR` writes the mesh only (check: tsmesh validate DIR).
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, messageType, ROUTE_TYPE, struct } from "../src/envoy/protos.js";
import { DELTA_DISCOVERY_REQUEST, DELTA_DISCOVERY_RESPONSE, DELTA_METHOD_PATH } from "../src/xds/server/service.js";

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const ENDPOINTS_PER_SERVICE = 10;
const PROXIES = Number(process.env.BENCH_PROXIES ?? 1000);
const CHANNELS = 20;
const ROUTED = Math.min(100, SERVICES); // services with a DestinationRule (v1/v2) and a VirtualService
const WE_FILES = 20;
const SE_FILES = 5;
const PORT = 8080;
/** Per-phase time limits (9×, 10× and 20× the goals): worst case, both runs stay under the watchdog. */
const PHASE_TIMEOUT_MS: Record<string, number> = process.env.BENCH_PHASE_TIMEOUT_MS
  ? { initial: Number(process.env.BENCH_PHASE_TIMEOUT_MS), vs: Number(process.env.BENCH_PHASE_TIMEOUT_MS), eds: Number(process.env.BENCH_PHASE_TIMEOUT_MS) }
  : { initial: 45_000, vs: 20_000, eds: 10_000 };
const WATCHDOG_MS = 175_000;
/** The service whose endpoint changes (it has subsets, so subset clusters change too). */
const EDS_SERVICE = Math.min(5, SERVICES - 1);
/** Every SAMPLE_EVERY-th proxy checks each response in depth (all proxies get the same content). */
const SAMPLE_EVERY = 50;

const GOALS = { initial: 5000, vs: 2000, eds: 500, rssBytes: 1.5 * 2 ** 30 };

const HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const TYPE_NAMES: Record<string, string> = { [CLUSTER_TYPE]: "cds", [ENDPOINT_TYPE]: "eds", [LISTENER_TYPE]: "lds", [ROUTE_TYPE]: "rds" };
const SHORT_TYPES = ["cds", "eds", "lds", "rds"] as const;
type Short = (typeof SHORT_TYPES)[number];

type Obj = Record<string, unknown>;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => performance.now();

// ---------------------------------------------------------------------------------------------
// config

const host = (s: number) => `svc-${s}.bench.svc.cluster.local`;

function weAddress(j: number): string {
  return `10.${1 + ((j >> 16) & 255)}.${(j >> 8) & 255}.${j & 255}`;
}

function serviceEntry(s: number): string {
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svc-${s}, namespace: bench}
spec:
  hosts: [${host(s)}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: ${PORT}, name: http, protocol: HTTP}
  workloadSelector: {labels: {app: svc-${s}}}
`;
}

function workloadEntry(j: number, address = weAddress(j)): string {
  const s = Math.floor(j / ENDPOINTS_PER_SERVICE);
  const k = j % ENDPOINTS_PER_SERVICE;
  return `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: svc-${s}-${k}, namespace: bench}
spec:
  address: ${address}
  labels: {app: svc-${s}, version: v${1 + (k % 2)}}
  serviceAccount: svc-${s}
  locality: bench-region/zone-${k % 3}
`;
}

function destinationRule(s: number): string {
  return `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: svc-${s}, namespace: bench}
spec:
  host: ${host(s)}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;
}

function virtualService(s: number, w1 = 90): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: svc-${s}, namespace: bench}
spec:
  hosts: [${host(s)}]
  http:
  - route:
    - destination: {host: ${host(s)}, subset: v1, port: {number: ${PORT}}}
      weight: ${w1}
    - destination: {host: ${host(s)}, subset: v2, port: {number: ${PORT}}}
      weight: ${100 - w1}
`;
}

const weFile = (f: number) => `workloads-${String(f).padStart(2, "0")}.yaml`;
const wePerFile = () => Math.ceil((SERVICES * ENDPOINTS_PER_SERVICE) / WE_FILES);

function weFileText(f: number, override?: { j: number; address: string }): string {
  const docs: string[] = [];
  const per = wePerFile();
  for (let j = f * per; j < Math.min(SERVICES * ENDPOINTS_PER_SERVICE, (f + 1) * per); j++) {
    docs.push(workloadEntry(j, override && override.j === j ? override.address : undefined));
  }
  return docs.join("---\n");
}

/** Writes the mesh; returns the number of resources. */
function writeConfig(dir: string): number {
  const perSe = Math.ceil(SERVICES / SE_FILES);
  for (let f = 0; f * perSe < SERVICES; f++) {
    const docs: string[] = [];
    for (let s = f * perSe; s < Math.min(SERVICES, (f + 1) * perSe); s++) docs.push(serviceEntry(s));
    writeFileSync(join(dir, `services-${f}.yaml`), docs.join("---\n"));
  }
  for (let f = 0; f < WE_FILES; f++) writeFileSync(join(dir, weFile(f)), weFileText(f));
  const drs: string[] = [];
  for (let s = 0; s < ROUTED; s++) drs.push(destinationRule(s));
  writeFileSync(join(dir, "destination-rules.yaml"), drs.join("---\n"));
  for (let s = 0; s < ROUTED; s++) writeFileSync(join(dir, `vs-${s}.yaml`), virtualService(s));
  return SERVICES + SERVICES * ENDPOINTS_PER_SERVICE + 2 * ROUTED;
}

/** Atomic replace (write a hidden temp file, rename over), as editors and kubectl-style tools do. */
function replaceFile(path: string, text: string): void {
  const slash = path.lastIndexOf("/");
  const tmp = `${path.slice(0, slash)}/.${path.slice(slash + 1)}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

// ---------------------------------------------------------------------------------------------
// protobuf (protobufjs types from the project's Envoy protos)

interface AnyMsg {
  type_url: string;
  value: Uint8Array;
}
interface DecodedResource {
  name: string;
  version: string;
  resource?: AnyMsg;
}
interface DecodedResponse {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  resources: DecodedResource[];
  removedResources: string[];
}
interface DecodedListener {
  name: string;
  address?: { socketAddress?: { portValue?: number } };
  filterChains?: Array<{ filters?: Array<{ name?: string; typedConfig?: AnyMsg }> }>;
  defaultFilterChain?: { filters?: Array<{ name?: string; typedConfig?: AnyMsg }> };
}
interface DecodedHcm {
  rds?: { routeConfigName?: string };
}

const requestType = messageType(DELTA_DISCOVERY_REQUEST);
const responseType = messageType(DELTA_DISCOVERY_RESPONSE);

function encodeRequest(o: Obj): Buffer {
  const u8 = requestType.encode(requestType.fromObject(o)).finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

function decodeResponse(buf: Buffer): DecodedResponse {
  return responseType.decode(buf) as unknown as DecodedResponse;
}

/**
 * A DeltaDiscoveryResponse read straight off the wire (the load must stay light next to the
 * control plane): strings for names and versions, payloads left in place as offsets. Sampled
 * proxies cross-check it against protobufjs's decode.
 */
interface Scanned {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  names: string[];
  versions: string[];
  /** Any.type_url per resource (only when asked for). */
  anyTypes: string[];
  /** Any.value of resource i is buf[valueBase + valueAt[2i], valueBase + valueAt[2i+1]). */
  valueAt: number[];
  valueBase: number;
  removed: string[];
}

let at = 0;

function varint(b: Buffer): number {
  let x = 0;
  let mul = 1;
  let byte: number;
  do {
    if (at >= b.length) throw new Error("truncated varint");
    byte = b[at++];
    x += (byte & 0x7f) * mul;
    mul *= 128;
  } while (byte & 0x80);
  return x;
}

function skipField(b: Buffer, wire: number): void {
  if (wire === 0) varint(b);
  else if (wire === 1) at += 8;
  else if (wire === 2) {
    const n = varint(b); // (not `at += varint(b)`: that reads `at` before the call moves it)
    at += n;
  }
  else if (wire === 5) at += 4;
  else throw new Error(`unexpected wire type ${wire}`);
}

function text(b: Buffer): string {
  const n = varint(b);
  if (at + n > b.length) throw new Error("truncated string");
  const s = b.toString("utf8", at, at + n);
  at += n;
  return s;
}

// DeltaDiscoveryResponse: 1 system_version_info, 2 resources, 4 type_url, 5 nonce, 6 removed_resources.
// Resource: 1 version, 2 resource (Any: 1 type_url, 2 value), 3 name.

/** The resources part of a response, parsed once per distinct byte content (offsets relative). */
interface ParsedResources {
  bytes: Buffer;
  names: string[];
  versions: string[];
  anyTypes: string[];
  valueAt: number[];
}

/**
 * Every proxy of the fleet gets byte-identical resource sections (only version, nonce and type
 * differ per stream), so the load parses each distinct section once and recognizes repeats by a
 * byte comparison (memcmp), as cheap as the transport's own copy. Bounded: a few sections per size.
 */
const parsedSections = new Map<number, ParsedResources[]>();
let parsedSectionCount = 0;

function parseSection(b: Buffer, start: number, end: number): ParsedResources {
  const out: ParsedResources = { bytes: Buffer.from(b.subarray(start, end)), names: [], versions: [], anyTypes: [], valueAt: [] };
  at = start;
  while (at < end) {
    const tag = varint(b);
    if (tag !== ((2 << 3) | 2)) throw new Error("resources section holds another field");
    const rEnd = varint(b) + at;
    let name = "";
    let version = "";
    let anyType = "";
    let v0 = 0;
    let v1 = 0;
    while (at < rEnd) {
      const t = varint(b);
      const f = t >>> 3;
      if ((t & 7) !== 2) skipField(b, t & 7);
      else if (f === 3) name = text(b);
      else if (f === 1) version = text(b);
      else if (f === 2) {
        const anyEnd = varint(b) + at;
        while (at < anyEnd) {
          const ta = varint(b);
          if ((ta & 7) !== 2) skipField(b, ta & 7);
          else if (ta >>> 3 === 1) anyType = text(b);
          else if (ta >>> 3 === 2) {
            const n = varint(b);
            v0 = at - start;
            v1 = at + n - start;
            at += n;
          } else skipField(b, 2);
        }
      } else skipField(b, 2);
    }
    if (at !== rEnd) throw new Error("resource overran its length");
    out.names.push(intern(name));
    out.versions.push(intern(version));
    out.anyTypes.push(intern(anyType));
    out.valueAt.push(v0, v1);
  }
  return out;
}

function sectionOf(b: Buffer, start: number, end: number): ParsedResources {
  const size = end - start;
  const region = b.subarray(start, end);
  const candidates = parsedSections.get(size);
  if (candidates) for (const c of candidates) if (c.bytes.equals(region)) return c;
  const parsed = parseSection(b, start, end);
  if (parsedSectionCount > 4096) {
    parsedSections.clear();
    parsedSectionCount = 0;
  }
  if (candidates && candidates.length < 8) candidates.push(parsed);
  else parsedSections.set(size, [parsed]);
  parsedSectionCount++;
  return parsed;
}

function scanResponse(b: Buffer, _withAnyTypes: boolean): Scanned {
  const out: Scanned = { systemVersionInfo: "", typeUrl: "", nonce: "", names: [], versions: [], anyTypes: [], valueAt: [], valueBase: 0, removed: [] };
  // Top level only: the resources (field 2) must form one run; its bytes are parsed via the cache.
  let runStart = -1;
  let runEnd = -1;
  at = 0;
  while (at < b.length) {
    const fieldAt = at;
    const tag = varint(b);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== 2) skipField(b, wire);
    else if (field === 2) {
      if (runStart < 0) runStart = fieldAt;
      else if (runEnd !== fieldAt) throw new Error("resources are not one contiguous run");
      skipField(b, 2);
      runEnd = at;
    } else if (field === 1) out.systemVersionInfo = text(b);
    else if (field === 4) out.typeUrl = text(b);
    else if (field === 5) out.nonce = text(b);
    else if (field === 6) out.removed.push(text(b));
    else skipField(b, 2);
  }
  if (at !== b.length) throw new Error("message overran its length");
  if (runStart >= 0) {
    const s = sectionOf(b, runStart, runEnd);
    out.names = s.names;
    out.versions = s.versions;
    out.anyTypes = s.anyTypes;
    out.valueAt = s.valueAt;
    out.valueBase = runStart;
  }
  return out;
}

/** Route names a listener's HTTP connection managers reference, and its port. */
function listenerRoutes(bytes: Uint8Array): { port: number; routes: string[] } {
  const l = messageType(LISTENER_TYPE).decode(bytes) as unknown as DecodedListener;
  const hcmUrl = "type.googleapis.com/" + HCM_TYPE;
  const routes: string[] = [];
  const chains = [...(l.filterChains ?? []), ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])];
  for (const fc of chains) {
    for (const f of fc.filters ?? []) {
      if (f.typedConfig?.type_url !== hcmUrl) continue;
      const hcm = messageType(HCM_TYPE).decode(f.typedConfig.value) as unknown as DecodedHcm;
      const r = hcm.rds?.routeConfigName;
      if (r && !routes.includes(r)) routes.push(r);
    }
  }
  return { port: l.address?.socketAddress?.portValue ?? 0, routes };
}

// ---------------------------------------------------------------------------------------------
// the load: simulated Envoy proxies on Delta ADS

interface Track {
  /** At least one response of this type was ACKed. */
  acked: boolean;
  lastAckAt: number;
  /** Resource name → version the proxy holds. */
  versions: Map<string, string>;
  subscribed: Set<string>;
  /** Subscribed names not answered yet (neither in resources nor in removed_resources). */
  pending: Set<string>;
  responses: number;
  bytes: number;
}

const newTrack = (): Track => ({ acked: false, lastAckAt: 0, versions: new Map(), subscribed: new Set(), pending: new Set(), responses: 0, bytes: 0 });

/** Versions and names are shared by all proxies: intern them to keep the load process small. */
const interned = new Map<string, string>();
function intern(s: string): string {
  const v = interned.get(s);
  if (v !== undefined) return v;
  interned.set(s, s);
  return s;
}

/** Protocol oddities seen in responses (what a real Envoy would NACK or trip over). */
class Anomalies {
  readonly counts = new Map<string, { n: number; example: string }>();
  add(kind: string, example: string): void {
    const c = this.counts.get(kind);
    if (c) c.n++;
    else this.counts.set(kind, { n: 1, example });
  }
}

interface Recorded {
  type: string;
  buf: Buffer;
}

interface PhaseState {
  name: string;
  start: number;
  check: (p: SimProxy) => boolean;
  converged: number;
  lastAt: number;
  resolve?: () => void;
}

export interface PhaseResult {
  name: string;
  ms: number;
  converged: number;
  timedOut: boolean;
  bytesPerProxy: number;
  /** Per type: responses and bytes per proxy. */
  byType: Record<Short, { responses: number; bytes: number }>;
  loadCpuMs: number;
}

/** Listener version → its routes (decoded once per distinct listener, shared by all proxies). */
const listenerCache = new Map<string, { port: number; routes: string[] }>();

class SimProxy {
  readonly tracks: Record<Short, Track> = { cds: newTrack(), eds: newTrack(), lds: newTrack(), rds: newTrack() };
  bytes = 0;
  phaseDone = false;
  /** Versions noted at a phase start. */
  mark: Array<string | undefined> = [];
  private sentNode = false;
  private call: grpc.ClientDuplexStream<Obj, Buffer> | undefined;

  constructor(
    readonly idx: number,
    private readonly fleet: Fleet,
  ) {}

  get nodeId(): string {
    return `sidecar~10.200.${this.idx >> 8}.${this.idx & 255}~app-${this.idx}.bench~bench.svc.cluster.local`;
  }

  open(client: grpc.Client): void {
    const call = client.makeBidiStreamRequest<Obj, Buffer>(DELTA_METHOD_PATH, encodeRequest, (b: Buffer) => b);
    this.call = call;
    call.on("data", (buf: Buffer) => {
      try {
        this.onResponse(buf);
      } catch (e) {
        this.fleet.anomalies.add("client failed to handle a response", (e as Error).message);
      }
    });
    call.on("error", (e: grpc.ServiceError) => {
      if (!this.fleet.closing) this.fleet.anomalies.add(`stream error ${grpc.status[e.code] ?? e.code}`, e.details ?? e.message);
    });
    this.send({ typeUrl: CLUSTER_TYPE, resourceNamesSubscribe: [] });
    this.send({ typeUrl: LISTENER_TYPE, resourceNamesSubscribe: [] });
  }

  close(): void {
    this.call?.cancel();
  }

  private send(req: Obj): void {
    if (!this.sentNode) {
      this.sentNode = true;
      req.node = {
        id: this.nodeId,
        cluster: `app-${this.idx}.bench`,
        metadata: struct({ NAMESPACE: "bench", LABELS: { app: `client-${this.idx}` }, INTERCEPTION_MODE: "NONE" }),
      };
    }
    this.call?.write(req);
  }

  private subscribe(type: string, track: Track, names: string[], unsubscribe: string[] = []): void {
    if (names.length === 0 && unsubscribe.length === 0) return;
    for (const n of names) {
      track.subscribed.add(n);
      track.pending.add(n);
    }
    for (const n of unsubscribe) {
      track.subscribed.delete(n);
      track.pending.delete(n);
      track.versions.delete(n);
    }
    this.send({ typeUrl: type, resourceNamesSubscribe: names, resourceNamesUnsubscribe: unsubscribe });
  }

  private onResponse(buf: Buffer): void {
    const fleet = this.fleet;
    fleet.lastResponseAt = now();
    this.bytes += buf.length;
    const sampled = this.idx % SAMPLE_EVERY === 0;
    const m = scanResponse(buf, sampled);
    const type = m.typeUrl;
    if (this.idx === 0 && fleet.recording) fleet.recording.push({ type, buf: Buffer.from(buf) });
    const short = TYPE_NAMES[type] as Short | undefined;
    if (!m.nonce) fleet.anomalies.add("empty nonce", type);
    if (!short) {
      fleet.anomalies.add("response for a type never requested", type);
      return;
    }
    const track = this.tracks[short];
    track.responses++;
    track.bytes += buf.length;
    if (sampled) this.check(buf, m, short, track);
    for (let i = 0; i < m.names.length; i++) {
      const name = m.names[i];
      track.versions.set(name, m.versions[i]);
      track.pending.delete(name);
    }
    for (const n of m.removed) {
      track.versions.delete(n);
      track.pending.delete(n);
    }
    // ACK (Delta: the nonce, no error_detail), then follow-up subscriptions as Envoy's ADS mux does.
    this.send({ typeUrl: type, responseNonce: m.nonce });
    track.acked = true;
    track.lastAckAt = now();
    if (short === "cds") {
      const eds = this.tracks.eds;
      const add = m.names.filter((n) => n.startsWith("outbound|") && !eds.subscribed.has(n));
      const drop = m.removed.filter((n) => eds.subscribed.has(n));
      this.subscribe(ENDPOINT_TYPE, eds, add, drop);
    } else if (short === "lds") {
      const rds = this.tracks.rds;
      const add: string[] = [];
      for (let i = 0; i < m.names.length; i++) {
        let info = listenerCache.get(m.versions[i]);
        if (!info) {
          info = listenerRoutes(buf.subarray(m.valueBase + m.valueAt[2 * i], m.valueBase + m.valueAt[2 * i + 1]));
          listenerCache.set(m.versions[i], info);
        }
        if (info.port === PORT && info.routes.length > 0) fleet.route8080 ??= info.routes[0];
        for (const n of info.routes) if (!rds.subscribed.has(n) && !add.includes(n)) add.push(n);
      }
      this.subscribe(ROUTE_TYPE, rds, add.map(intern));
    }
    if (this.idx === 0) this.fullDecode(buf, m, type);
    const phase = fleet.phase;
    if (phase && !this.phaseDone && phase.check(this)) {
      this.phaseDone = true;
      phase.converged++;
      phase.lastAt = now();
      if (phase.converged === fleet.proxies.length) phase.resolve?.();
    }
  }

  /** Sampled proxies: protocol checks per resource, and the scanner against protobufjs. */
  private check(buf: Buffer, m: Scanned, short: Short, track: Track): void {
    const a = this.fleet.anomalies;
    const d = decodeResponse(buf);
    const same =
      d.typeUrl === m.typeUrl &&
      d.nonce === m.nonce &&
      d.systemVersionInfo === m.systemVersionInfo &&
      d.resources.length === m.names.length &&
      d.resources.every((r, i) => r.name === m.names[i] && r.version === m.versions[i] && (r.resource?.type_url ?? "") === m.anyTypes[i]) &&
      d.removedResources.join("\n") === m.removed.join("\n");
    if (!same) a.add("bench bug: wire scanner disagrees with protobufjs", short);
    if (!m.systemVersionInfo) a.add("empty system_version_info", short);
    const seen = new Set<string>();
    const removed = new Set(m.removed);
    for (let i = 0; i < m.names.length; i++) {
      const name = m.names[i];
      const version = m.versions[i];
      if (!name) a.add("resource without a name", short);
      if (!version) a.add("resource without a version", `${short} ${name}`);
      if (seen.has(name)) a.add("duplicate resource name in one response", `${short} ${name}`);
      seen.add(name);
      if (removed.has(name)) a.add("resource both sent and removed", `${short} ${name}`);
      if (m.anyTypes[i] !== m.typeUrl) a.add("Any type_url differs from the response type_url", `${short} ${name}: ${m.anyTypes[i]}`);
      if ((short === "eds" || short === "rds") && !track.subscribed.has(name)) a.add("unsubscribed resource sent", `${short} ${name}`);
      if (track.versions.get(name) === version) a.add("resource resent at the version the client holds", `${short} ${name}`);
    }
    for (const n of m.removed) {
      if (!track.versions.has(n) && !track.pending.has(n)) a.add("removal of a resource the client neither holds nor awaits", `${short} ${n}`);
    }
    if (m.names.length === 0 && m.removed.length === 0 && track.responses > 1) a.add("empty response (nothing sent, nothing removed)", short);
  }

  /** Proxy 0 only: decode every payload fully, as Envoy would (a decode failure would be a NACK). */
  private fullDecode(buf: Buffer, m: Scanned, type: string): void {
    const a = this.fleet.anomalies;
    for (let i = 0; i < m.names.length; i++) {
      try {
        const o = messageType(type).decode(buf.subarray(m.valueBase + m.valueAt[2 * i], m.valueBase + m.valueAt[2 * i + 1])) as unknown as {
          name?: string;
          clusterName?: string;
          type?: number;
          edsClusterConfig?: unknown;
        };
        const name = o.name ?? o.clusterName;
        if (name !== m.names[i]) a.add("Resource.name differs from the payload's name", `${m.names[i]} vs ${name}`);
        // Cluster.DiscoveryType EDS (3) needs eds_cluster_config (Envoy rejects the cluster otherwise).
        if (type === CLUSTER_TYPE && o.type === 3 && !o.edsClusterConfig) a.add("EDS cluster without eds_cluster_config", m.names[i]);
      } catch (e) {
        a.add("payload does not decode", `${m.names[i]}: ${(e as Error).message}`);
      }
    }
  }
}

class Fleet {
  readonly proxies: SimProxy[] = [];
  readonly clients: grpc.Client[] = [];
  readonly anomalies = new Anomalies();
  phase: PhaseState | undefined;
  recording: Recorded[] | undefined;
  route8080: string | undefined;
  lastResponseAt = 0;
  closing = false;

  constructor(
    readonly label: string,
    private readonly address: string,
  ) {
    for (let i = 0; i < PROXIES; i++) this.proxies.push(new SimProxy(i, this));
  }

  /** Opens the channels (separate TCP connections) and waits until they are connected. */
  async connect(): Promise<void> {
    for (let c = 0; c < CHANNELS; c++) {
      this.clients.push(
        new grpc.Client(this.address, grpc.credentials.createInsecure(), {
          "grpc.use_local_subchannel_pool": 1,
          "grpc.max_receive_message_length": -1,
          "grpc.max_send_message_length": -1,
          "grpc.keepalive_time_ms": 300_000,
          // Envoy's HTTP/2 defaults for its xDS cluster: 256 MiB stream and connection windows.
          "grpc-node.flow_control_window": 256 * 1024 * 1024,
        }),
      );
    }
    await Promise.all(
      this.clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())))),
    );
  }

  openStreams(): void {
    for (const p of this.proxies) p.open(this.clients[p.idx % CHANNELS]);
  }

  totalBytes(): number {
    let n = 0;
    for (const p of this.proxies) n += p.bytes;
    return n;
  }

  private typeTotals(): Record<Short, { responses: number; bytes: number }> {
    const out = {} as Record<Short, { responses: number; bytes: number }>;
    for (const s of SHORT_TYPES) {
      let responses = 0;
      let bytes = 0;
      for (const p of this.proxies) {
        responses += p.tracks[s].responses;
        bytes += p.tracks[s].bytes;
      }
      out[s] = { responses, bytes };
    }
    return out;
  }

  /**
   * Runs a phase: `mark` notes per-proxy state, `trigger` starts it (the clock starts just before),
   * `check` says when a proxy has converged. Resolves when all have, or on timeout.
   */
  async phaseRun(
    name: string,
    check: (p: SimProxy) => boolean,
    trigger: () => void,
    mark: (p: SimProxy) => void = () => {},
    record = false,
  ): Promise<PhaseResult & { recorded?: Recorded[] }> {
    for (const p of this.proxies) {
      p.phaseDone = false;
      mark(p);
    }
    const bytes0 = this.totalBytes();
    const types0 = this.typeTotals();
    if (record) this.recording = [];
    const cpu0 = process.cpuUsage();
    const phase: PhaseState = { name, start: now(), check, converged: 0, lastAt: 0 };
    const done = new Promise<void>((resolve) => (phase.resolve = resolve));
    this.phase = phase;
    phase.start = now();
    trigger();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([done.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), PHASE_TIMEOUT_MS[name] ?? 30_000)))]);
    clearTimeout(timer);
    const cpu = process.cpuUsage(cpu0);
    this.phase = undefined;
    const recorded = this.recording;
    this.recording = undefined;
    const types1 = this.typeTotals();
    const byType = {} as PhaseResult["byType"];
    for (const s of SHORT_TYPES) {
      byType[s] = { responses: (types1[s].responses - types0[s].responses) / PROXIES, bytes: (types1[s].bytes - types0[s].bytes) / PROXIES };
    }
    const ms = (timedOut ? now() : phase.lastAt) - phase.start;
    const bytesPerProxy = (this.totalBytes() - bytes0) / PROXIES;
    console.log(
      `  [${this.label}] ${name}: ${timedOut ? `TIMEOUT after ${fmtMs(ms)}` : fmtMs(ms)}, ${phase.converged}/${PROXIES} converged, ${fmtBytes(bytesPerProxy)}/proxy`,
    );
    return {
      name,
      ms,
      converged: phase.converged,
      timedOut,
      bytesPerProxy,
      byType,
      loadCpuMs: (cpu.user + cpu.system) / 1000,
      recorded,
    };
  }

  /** Waits until no response arrived for `quietMs` (bounded by `maxMs`). */
  async settle(quietMs = 500, maxMs = 5000): Promise<void> {
    const end = now() + maxMs;
    while (now() < end && now() - this.lastResponseAt < quietMs) await sleep(50);
  }

  close(): void {
    this.closing = true;
    for (const p of this.proxies) p.close();
    for (const c of this.clients) c.close();
  }
}

// Phase predicates, shared by the tsmesh and floor runs.
function initialDone(p: SimProxy): boolean {
  const t = p.tracks;
  return t.cds.acked && t.lds.acked && t.rds.acked && t.eds.acked && t.eds.pending.size === 0 && t.rds.pending.size === 0;
}

const edsNames = [`outbound|${PORT}||${host(EDS_SERVICE)}`, `outbound|${PORT}|v1|${host(EDS_SERVICE)}`];

async function runPhases(
  fleet: Fleet,
  triggers: { vs: () => void; eds: () => void },
  record: boolean,
  between: (phase: string) => Promise<void>,
): Promise<{ initial: PhaseResult; vs: PhaseResult; eds: PhaseResult; recorded: Record<string, Recorded[]> }> {
  const recorded: Record<string, Recorded[]> = {};
  await fleet.connect();
  const initial = await fleet.phaseRun("initial", initialDone, () => fleet.openStreams(), undefined, record);
  recorded.initial = initial.recorded ?? [];
  await fleet.settle();
  await between("initial");
  const route = fleet.route8080;
  if (!route) throw new Error(`${fleet.label}: no listener on port ${PORT} with an RDS route was received`);
  const vs = await fleet.phaseRun(
    "vs",
    (p) => p.tracks.rds.versions.get(route) !== p.mark[0],
    triggers.vs,
    (p) => (p.mark = [p.tracks.rds.versions.get(route)]),
    record,
  );
  recorded.vs = vs.recorded ?? [];
  await fleet.settle();
  await between("vs");
  const eds = await fleet.phaseRun(
    "eds",
    (p) => edsNames.every((n, i) => p.tracks.eds.versions.get(n) !== p.mark[i]),
    triggers.eds,
    (p) => (p.mark = edsNames.map((n) => p.tracks.eds.versions.get(n))),
    record,
  );
  recorded.eds = eds.recorded ?? [];
  await fleet.settle();
  await between("eds");
  return { initial, vs, eds, recorded };
}

// ---------------------------------------------------------------------------------------------
// child processes

interface ProcSample {
  rss: number;
  hwm: number;
  cpuMs: number;
}

let clkTck = 100;
try {
  clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
  // keep 100
}

function sampleProc(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 (utime, stime); f[0] is field 3.
    const cpuMs = ((Number(f[11]) + Number(f[12])) * 1000) / clkTck;
    return { rss: kb("VmRSS"), hwm: kb("VmHWM"), cpuMs };
  } catch {
    return undefined;
  }
}

/** Samples a process's RSS every 100 ms; tracks the peak since the last reset. */
class RssSampler {
  peak = 0;
  last: ProcSample | undefined;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pid: number) {
    this.timer = setInterval(() => this.sample(), 100);
  }
  sample(): ProcSample | undefined {
    const s = sampleProc(this.pid);
    if (s) {
      this.last = s;
      this.peak = Math.max(this.peak, s.rss);
    }
    return s;
  }
  /** Current sample and the peak since the previous take(). */
  take(): { now: ProcSample | undefined; phasePeak: number } {
    const s = this.sample();
    const phasePeak = this.peak;
    this.peak = s?.rss ?? 0;
    return { now: s, phasePeak };
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

const children = new Set<ChildProcess>();
let tempDir: string | undefined;

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const kill = setTimeout(() => child.kill("SIGKILL"), 3000);
  await Promise.race([exited, sleep(5000)]);
  clearTimeout(kill);
  children.delete(child);
}

/** Keeps the last lines a child wrote (stderr: the control plane's log). */
function collectLines(stream: NodeJS.ReadableStream | null, into: string[], max = 200): void {
  if (!stream) return;
  createInterface({ input: stream }).on("line", (l) => {
    if (into.length < max) into.push(l);
  });
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`control plane exited with code ${child.exitCode}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${url} not ready within ${timeoutMs} ms`);
}

async function metricValues(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line === "") continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) continue;
    out.set(m[1] + (m[2] ?? ""), Number(m[3]));
  }
  return out;
}

const metricSum = (m: Map<string, number>, name: string) => {
  let n = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(name + "{")) n += v;
  return n;
};

// ---------------------------------------------------------------------------------------------
// the transport floor (a second child process: this file with --floor-server)

function writeRecording(path: string, rec: Record<string, Recorded[]>): void {
  const json = Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, v.map((r) => ({ type: r.type, b64: r.buf.toString("base64") }))]));
  writeFileSync(path, JSON.stringify(json));
}

function runFloorServer(recordingPath: string): void {
  const raw = JSON.parse(readFileSync(recordingPath, "utf8")) as Record<string, Array<{ type: string; b64: string }>>;
  const rec: Record<string, Recorded[]> = {};
  for (const [k, v] of Object.entries(raw)) rec[k] = v.map((r) => ({ type: r.type, buf: Buffer.from(r.b64, "base64") }));
  const streams = new Set<grpc.ServerDuplexStream<{ typeUrl: string }, Buffer>>();
  const server = new grpc.Server({ "grpc.max_send_message_length": -1, "grpc.max_receive_message_length": -1 });
  const unused = (): never => {
    throw new Error("server only");
  };
  server.addService(
    {
      DeltaAggregatedResources: {
        path: DELTA_METHOD_PATH,
        originalName: "deltaAggregatedResources",
        requestStream: true,
        responseStream: true,
        requestSerialize: unused,
        requestDeserialize: (b: Buffer) => requestType.decode(b) as unknown as { typeUrl: string },
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: unused,
      },
    },
    {
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<{ typeUrl: string }, Buffer>) => {
        streams.add(call);
        const answered = new Set<string>();
        call.on("data", (req: { typeUrl: string }) => {
          // The first request of a type gets what tsmesh answered it with; ACKs get nothing.
          if (answered.has(req.typeUrl)) return;
          answered.add(req.typeUrl);
          for (const r of rec.initial ?? []) if (r.type === req.typeUrl) call.write(r.buf);
        });
        const drop = () => streams.delete(call);
        call.on("end", () => {
          drop();
          call.end();
        });
        call.on("cancelled", drop);
        call.on("error", drop);
        call.on("close", drop);
      },
    },
  );
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      console.error(err.message);
      process.exit(1);
    }
    process.stdout.write(`port ${port}\n`);
  });
  createInterface({ input: process.stdin }).on("line", (line) => {
    const m = /^push (\w+)$/.exec(line.trim());
    if (!m) return;
    for (const call of streams) for (const r of rec[m[1]] ?? []) call.write(r.buf);
  });
  process.stdin.on("end", () => process.exit(0));
  process.on("SIGTERM", () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------
// main

interface CpPhase {
  rssNow: number;
  rssPeak: number;
  cpuMs: number;
}

const MB = 2 ** 20;
const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
const fmtBytes = (b: number) => (b >= MB ? `${(b / MB).toFixed(2)} MB` : `${(b / 1024).toFixed(1)} KB`);
const fmtMb = (b: number) => `${Math.round(b / MB)} MB`;

async function main(): Promise<void> {
  const cpu = cpus();
  const machine = `${cpu[0]?.model ?? "cpu"}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GB RAM, node ${process.version}`;
  console.log(`machine: ${machine}`);
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-xds-bench-"));
  tempDir = dir;
  const configDir = join(dir, "config");
  const recordingPath = join(dir, "floor-recording.json");
  let tsmesh: ChildProcess | undefined;
  let floor: ChildProcess | undefined;
  const fleets: Fleet[] = [];
  try {
    mkdirSync(configDir);
    const nResources = writeConfig(configDir);
    console.log(
      `mesh: ${SERVICES} ServiceEntries × ${ENDPOINTS_PER_SERVICE} WorkloadEntries, ${ROUTED} DestinationRules, ${ROUTED} VirtualServices (${nResources} resources); ${PROXIES} Delta ADS streams over ${CHANNELS} channels`,
    );

    // ---- tsmesh
    const [xdsPort, monPort] = [await freePort(), await freePort()];
    const bin = fileURLToPath(new URL("../src/cli/bin.js", import.meta.url));
    // For analysis: BENCH_CPU_PROF=DIR profiles the control plane; BENCH_CP_NODE_ARGS adds node flags
    // (e.g. --trace-gc); BENCH_CP_LOG=FILE keeps its stdout and stderr.
    const nodeArgs = [
      ...(process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
      ...(process.env.BENCH_CP_NODE_ARGS ?? "").split(" ").filter(Boolean),
    ];
    const t0 = now();
    tsmesh = spawn(
      process.execPath,
      [...nodeArgs, bin, "discovery", "--config", configDir, "--xds-address", `127.0.0.1:${xdsPort}`, "--monitoring-address", `127.0.0.1:${monPort}`],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    children.add(tsmesh);
    const cpOut: string[] = [];
    const cpErr: string[] = [];
    collectLines(tsmesh.stdout, cpOut);
    collectLines(tsmesh.stderr, cpErr);
    if (process.env.BENCH_CP_LOG) {
      const log = createWriteStream(process.env.BENCH_CP_LOG);
      tsmesh.stdout?.on("data", (c: Buffer) => log.write(c));
      tsmesh.stderr?.on("data", (c: Buffer) => log.write(c));
    }
    const mon = `http://127.0.0.1:${monPort}`;
    await waitReady(`${mon}/ready`, tsmesh, 60_000);
    const startupMs = now() - t0;
    const sampler = new RssSampler(tsmesh.pid!);
    const startup = sampler.take();
    console.log(`control plane ready in ${fmtMs(startupMs)} (RSS ${fmtMb(startup.now?.rss ?? 0)})`);

    const cp: Record<string, CpPhase> = {};
    let cpuMark = startup.now?.cpuMs ?? 0;
    const cpPhase = (name: string): void => {
      const t = sampler.take();
      cp[name] = { rssNow: t.now?.rss ?? 0, rssPeak: t.phasePeak, cpuMs: (t.now?.cpuMs ?? cpuMark) - cpuMark };
      cpuMark = t.now?.cpuMs ?? cpuMark;
    };
    const m0 = new Map<string, Map<string, number>>();
    const fleet = new Fleet("tsmesh", `127.0.0.1:${xdsPort}`);
    fleets.push(fleet);
    const real = await runPhases(
      fleet,
      {
        vs: () => replaceFile(join(configDir, "vs-0.yaml"), virtualService(0, 50)),
        eds: () => {
          const j = EDS_SERVICE * ENDPOINTS_PER_SERVICE; // svc-K-0, version v1
          const f = Math.floor(j / wePerFile());
          replaceFile(join(configDir, weFile(f)), weFileText(f, { j, address: "10.250.0.1" }));
        },
      },
      true,
      async (phase) => {
        cpPhase(phase);
        m0.set(phase, await metricValues(`${mon}/metrics`));
      },
    );
    const hwm = sampler.sample()?.hwm ?? 0;
    sampler.stop();
    const metricsAfterInitial = m0.get("initial")!;
    const metricsAfterVs = m0.get("vs")!;
    const metricsAfterEds = m0.get("eds")!;
    // The server's own view: pilot_proxy_convergence_time (change → ACK of push-triggered responses).
    const convergence = (before: Map<string, number>, after: Map<string, number>): string => {
      const n = metricSum(after, "pilot_proxy_convergence_time_count") - metricSum(before, "pilot_proxy_convergence_time_count");
      const sum = metricSum(after, "pilot_proxy_convergence_time_sum") - metricSum(before, "pilot_proxy_convergence_time_sum");
      return n > 0 ? `mean ${fmtMs((sum / n) * 1000)} over ${n} ACKs` : "no ACKs recorded";
    };
    const edsIncr = metricSum(metricsAfterEds, "pilot_push_eds_incremental") - metricSum(metricsAfterVs, "pilot_push_eds_incremental");
    const fullDelta = metricSum(metricsAfterEds, "pilot_push_full") - metricSum(metricsAfterVs, "pilot_push_full");
    const rejects = metricSum(metricsAfterEds, "pilot_total_xds_rejects");
    const expired = metricSum(metricsAfterEds, "pilot_xds_expired_nonce");
    const pushesByType = SHORT_TYPES.map((t) => `${t} ${metricsAfterEds.get(`pilot_xds_pushes{type="${t}"}`) ?? 0}`).join(", ");
    fleet.close();
    await stopChild(tsmesh);

    // ---- transport floor: the same client, the same bytes, no control plane work
    writeRecording(recordingPath, real.recorded);
    floor = spawn(process.execPath, [fileURLToPath(import.meta.url), "--floor-server", recordingPath], { stdio: ["pipe", "pipe", "pipe"] });
    children.add(floor);
    const floorErr: string[] = [];
    collectLines(floor.stderr, floorErr);
    const floorChild = floor;
    const floorPort = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("floor server did not start")), 20_000);
      createInterface({ input: floorChild.stdout! }).on("line", (l) => {
        const m = /^port (\d+)$/.exec(l);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      floorChild.once("exit", (code) => reject(new Error(`floor server exited (${code}): ${floorErr.join(" ")}`)));
    });
    const ffleet = new Fleet("floor", `127.0.0.1:${floorPort}`);
    fleets.push(ffleet);
    const base = await runPhases(
      ffleet,
      { vs: () => floorChild.stdin!.write("push vs\n"), eds: () => floorChild.stdin!.write("push eds\n") },
      false,
      async () => {},
    );
    ffleet.close();
    await stopChild(floor);

    // ---- report
    const rows: Array<{ phase: string; r: PhaseResult; goal: number; f: PhaseResult; c: CpPhase }> = [
      { phase: "initial full push → all ACKed", r: real.initial, goal: GOALS.initial, f: base.initial, c: cp.initial },
      { phase: "VirtualService change → all ACKed", r: real.vs, goal: GOALS.vs, f: base.vs, c: cp.vs },
      { phase: "endpoint change → all ACKed", r: real.eds, goal: GOALS.eds, f: base.eds, c: cp.eds },
    ];
    const status = (r: PhaseResult) => (r.timedOut ? ` (TIMEOUT: ${r.converged}/${PROXIES} converged)` : "");
    const head = ["phase", "tsmesh", "goal", "tsmesh/goal", "floor", "tsmesh/floor", "bytes/proxy", "CP RSS now / phase peak", "CP CPU", "load CPU"];
    const body = rows.map(({ phase, r, goal, f, c }) => [
      phase,
      fmtMs(r.ms) + status(r),
      `≤ ${fmtMs(goal)}`,
      `${(r.ms / goal).toFixed(2)}× ${r.ms <= goal && !r.timedOut ? "met" : "NOT met"}`,
      fmtMs(f.ms) + status(f),
      `${(r.ms / f.ms).toFixed(1)}×`,
      fmtBytes(r.bytesPerProxy),
      `${fmtMb(c.rssNow)} / ${fmtMb(c.rssPeak)}`,
      fmtMs(c.cpuMs),
      fmtMs(r.loadCpuMs),
    ]);
    body.push([
      "control-plane RSS (VmHWM, whole run)",
      fmtMb(hwm),
      "≤ 1536 MB",
      `${(hwm / GOALS.rssBytes).toFixed(2)}× ${hwm <= GOALS.rssBytes ? "met" : "NOT met"}`,
      "",
      "",
      "",
      `startup ${fmtMb(startup.now?.rss ?? 0)}`,
      "",
      "",
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
    console.log("");
    console.log(line(head));
    console.log(widths.map((w) => "-".repeat(w)).join("  "));
    for (const b of body) console.log(line(b));
    console.log("");
    console.log("tsmesh: time from the trigger (streams opened / config file renamed into place) until the last of the");
    console.log(`  ${PROXIES} simulated proxies ACKed the response that completes its state; change phases include the`);
    console.log("  control plane's file watch (40 ms) and push debounce (100 ms quiet) windows.");
    console.log("floor: a trivial gRPC server (child process) replaying to every stream the exact response bytes proxy 0");
    console.log("  got from tsmesh in that phase (pre-encoded, no generation), to the same client doing the same");
    console.log("  decode/ACK/subscribe work: the cost of transport + load client on this machine, not a control plane.");
    console.log("CP CPU / load CPU: CPU time (user+sys, all threads) of the control-plane process / of this load process in the phase.");
    console.log("");
    console.log("per-proxy responses and bytes by type (tsmesh):");
    for (const { phase, r } of rows) {
      console.log(`  ${phase.padEnd(36)} ` + SHORT_TYPES.map((t) => `${t} ${r.byType[t].responses.toFixed(2)} × ${fmtBytes(r.byType[t].bytes)}`).join(", "));
    }
    console.log(
      `endpoint change: pilot_push_eds_incremental +${edsIncr}, pilot_push_full +${fullDelta} → ${edsIncr > 0 && fullDelta === 0 ? "incremental EDS path taken" : "NOT the incremental path"}`,
    );
    console.log(`server counters: pilot_xds_pushes ${pushesByType}; pilot_total_xds_rejects ${rejects}; pilot_xds_expired_nonce ${expired}`);
    console.log(
      `server-side pilot_proxy_convergence_time (from the store change, after file watch): VirtualService change ${convergence(metricsAfterInitial, metricsAfterVs)}; endpoint change ${convergence(metricsAfterVs, metricsAfterEds)}`,
    );
    console.log(`load process peak RSS ${fmtMb(process.resourceUsage().maxRSS * 1024)}`);
    for (const f of fleets) {
      if (f.anomalies.counts.size === 0) console.log(`protocol checks (${f.label}): no anomalies`);
      for (const [kind, { n, example }] of f.anomalies.counts) console.log(`protocol anomaly (${f.label}): ${kind} ×${n}, e.g. ${example}`);
    }
    const cpLog = cpErr.filter((l) => l.trim() !== "");
    if (cpLog.length > 0) {
      console.log(`control plane stderr (${cpLog.length} lines, first 10):`);
      for (const l of cpLog.slice(0, 10)) console.log(`  ${l}`);
    }

    console.log("");
    console.log("markdown:");
    console.log("");
    console.log(`| phase | tsmesh | goal | tsmesh / goal | transport floor | tsmesh / floor | bytes / proxy | control-plane RSS (now / peak) |`);
    console.log(`|---|---:|---:|---:|---:|---:|---:|---:|`);
    for (const b of body) console.log(`| ${[b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]].join(" | ")} |`);
    console.log("");
    console.log(`Machine: ${machine}. ${SERVICES} services × ${ENDPOINTS_PER_SERVICE} endpoints, ${PROXIES} Delta ADS streams (Envoy form, no Sidecar scoping), one load process.`);
  } finally {
    for (const f of fleets) if (!f.closing) f.close();
    for (const c of [...children]) await stopChild(c);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "--floor-server") {
  runFloorServer(process.argv[3]);
} else if (process.argv[2] === "--write-config") {
  // For checking the generated mesh by hand: `tsmesh validate DIR`.
  mkdirSync(process.argv[3], { recursive: true });
  console.log(`${writeConfig(process.argv[3])} resources written to ${process.argv[3]}`);
} else {
  const watchdog = setTimeout(() => {
    console.error(`xds bench: watchdog (${WATCHDOG_MS / 1000} s) fired, giving up`);
    for (const c of children) c.kill("SIGKILL");
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    process.exit(1);
  }, WATCHDOG_MS);
  main().then(
    () => {
      clearTimeout(watchdog);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(`xds bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      for (const c of children) c.kill("SIGKILL");
      process.exit(1);
    },
  );
}
