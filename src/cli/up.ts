// `tsmesh up [DIR]`: a whole mesh on one machine (src/local/mesh.ts) until SIGINT/SIGTERM/SIGHUP
// or its parent process goes away, with progress while it starts and a summary of where everything
// is once it is ready.
import { join, relative, resolve } from "node:path";
import { LocalMesh, ADMIN_PORT } from "../local/mesh.js";
import { MeshRegistration } from "../local/mesh-registration.js";
import { readMesh } from "../local/registry.js";
import type { PlannedWorkload } from "../local/plan.js";
import { tailFile } from "../local/supervisor.js";
import { watchParent } from "../local/parent-watch.js";
import type { JwksFetchMode } from "../model/request-authentication.js";

export interface UpCliOptions {
  dir: string;
  extraConfig: string[];
  /** The mesh's name in the registry of running meshes (`up --name`, default "default"). */
  name?: string;
  xdsAddress?: string;
  monitoringAddress?: string;
  /** Istio's mesh config YAML (istiod's --meshConfig). */
  meshConfigFile?: string;
  /** Gateways' credentialName secrets (default: `credentials/` beside DIR, when present). */
  credentialsDir?: string;
  logDir?: string;
  concurrency?: number;
  /** The control plane's state folder (mesh CA, credentials; default ~/.tsmesh/default). */
  stateDir: string;
  /** Istio's plug-in CA folder (cacerts). */
  cacertsDir?: string;
  secureXdsAddress?: string;
  caKeyType?: "EC" | "RSA";
  /** Workload certificates' lifetime (Go duration; the agents' --cert-ttl). */
  workloadCertTtl?: string;
  /** Who fetches RequestAuthentication jwksUri (default hybrid). */
  jwksFetchMode?: JwksFetchMode;
  /** Run Debian's Prometheus scraping the mesh (--prometheus). */
  prometheus?: { address?: string; scrapeIntervalSeconds: number };
}

function gatewayLabel(w: PlannedWorkload): string {
  const n = w.name.toLowerCase();
  if (n.includes("ingress")) return "ingress gateway";
  if (n.includes("egress")) return "egress gateway";
  return `gateway ${w.name}`;
}

/** A path worth trying on the first HTTP gateway: the first URI a VirtualService bound to it matches. */
function tryPath(mesh: LocalMesh, gateway: string): string {
  const [ns] = gateway.split("/");
  for (const vs of mesh.discovery.store.list("VirtualService")) {
    const bound = (vs.spec.gateways ?? []).some((g) => g === gateway || (!g.includes("/") && `${vs.metadata.namespace}/${g}` === gateway) || g === gateway.slice(ns.length + 1));
    if (!bound) continue;
    for (const route of vs.spec.http ?? []) {
      for (const m of route.match ?? []) {
        const uri = m.uri as { exact?: string; prefix?: string } | undefined;
        if (uri?.exact) return uri.exact;
        if (uri?.prefix) return uri.prefix;
      }
    }
  }
  return "/";
}

/**
 * Output to a closed terminal or a dead parent's pipe fails (EIO, EPIPE); that must not stop `up`
 * before it has stopped its workloads.
 */
function quietOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.listenerCount("error") === 0) stream.on("error", () => {});
  }
}

export async function runUp(o: UpCliOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const running = readMesh(o.stateDir);
  if (running && running.pid !== process.pid) {
    err(`tsmesh up: mesh ${JSON.stringify(running.name)} (pid ${running.pid}) is running with the state folder ${o.stateDir}; stop it, or use another --name or --state-dir`);
    return 1;
  }
  const mesh = new LocalMesh({
    dir: o.dir,
    extraConfig: o.extraConfig,
    xdsAddress: o.xdsAddress,
    monitoringAddress: o.monitoringAddress,
    meshConfigFile: o.meshConfigFile,
    credentialsDir: o.credentialsDir,
    logDir: o.logDir,
    proxyConcurrency: o.concurrency,
    stateDir: o.stateDir,
    cacertsDir: o.cacertsDir,
    secureXdsAddress: o.secureXdsAddress,
    caKeyType: o.caKeyType,
    workloadCertTtl: o.workloadCertTtl,
    jwksFetchMode: o.jwksFetchMode,
    prometheus: o.prometheus,
    log: (line) => out(`  ${line}`),
  });
  const registration = new MeshRegistration(mesh, { name: o.name ?? "default", configDirs: [mesh.dir, ...o.extraConfig.map((p) => resolve(p))], log: (line) => out(`  ${line}`) });
  let signalled: string | undefined;
  let wake: () => void = () => {};
  const stopRequested = new Promise<void>((r) => (wake = r));
  const onSignal = (signal: string) => {
    if (signalled) {
      // A second Ctrl-C: stop waiting for drains.
      err("tsmesh up: stopping now");
      process.exit(130);
    }
    signalled = signal;
    wake();
  };
  const onInt = () => onSignal("SIGINT");
  const onTerm = () => onSignal("SIGTERM");
  // The terminal closed: stop as for Ctrl-C (its output goes nowhere now; see quietOutput).
  const onHup = () => onSignal("SIGHUP");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  process.on("SIGHUP", onHup);
  const unwatchParent = watchParent(() => onSignal("parent process exited"));
  quietOutput();
  const cleanup = async () => {
    out(`tsmesh up: ${signalled ?? "stopping"}: draining and stopping every workload`);
    registration.stop();
    unwatchParent();
    await mesh.stop();
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    process.off("SIGHUP", onHup);
    out("tsmesh up: stopped");
  };
  out(`tsmesh up: ${o.dir}${o.extraConfig.length ? ` + ${o.extraConfig.join(", ")}` : ""}`);
  try {
    const started = mesh.start();
    registration.start();
    const first = await Promise.race([started.then((r) => ({ r })), stopRequested.then(() => undefined)]);
    if (!first) {
      started.catch(() => {});
      await cleanup();
      return 130;
    }
    const { r } = first;
    out("");
    const ready = r.workloads.filter((w) => w.state === "ready").length;
    const failing = r.workloads.filter((w) => w.state !== "ready");
    const count = `${ready === r.workloads.length ? ready : `${ready} of ${r.workloads.length}`} ${r.workloads.length === 1 ? "workload" : "workloads"}`;
    out(`tsmesh up: ${count} ready in ${(r.readyAfterMs / 1000).toFixed(2)} s`);
    // The rest serves meanwhile; a failing workload was reported above, a late one is still being watched.
    if (failing.length > 0) out(`  not ready: ${failing.map((w) => `${w.plan.key} (${w.state === "failing" ? "failing, retried with backoff" : "still starting"})`).join(", ")}`);
    out("");
    const gateways = r.workloads.filter((w) => w.plan.role === "router");
    // A server whose listener could not bind (reported above) is marked, and not offered to curl.
    const notListening = (g: (typeof gateways)[number], url: string) => mesh.bindFailuresAt(g.plan.address).find((f) => url.endsWith(`:${f.port}`));
    for (const g of gateways) {
      for (const s of g.plan.gatewayServers) {
        const failed = notListening(g, s.url);
        out(`  ${gatewayLabel(g.plan).padEnd(16)} ${s.url.padEnd(24)} (Gateway ${s.gateway}, hosts ${s.hosts.join(" ") || "*"})${failed ? ` NOT LISTENING: ${failed.error}` : ""}`);
      }
    }
    if (gateways.length > 0) out("");
    // The app's private address is not printed: a client that skips the sidecar skips mTLS and
    // policy (README, "Local mode and security").
    out(`  ${"WORKLOAD".padEnd(34)} ${"ROLE".padEnd(8)} ${"ADDRESS".padEnd(14)} ${"APP".padEnd(8)} ADMIN`);
    for (const w of r.workloads) {
      const role = w.plan.role === "router" ? "gateway" : "sidecar";
      const app = w.app ? "yes" : "-";
      out(`  ${w.plan.key.padEnd(34)} ${role.padEnd(8)} ${w.plan.address.padEnd(14)} ${app.padEnd(8)} http://${w.plan.address}:${ADMIN_PORT}`);
    }
    out("");
    out(`  control plane  xDS ${mesh.xdsAddress}${mesh.monitoringUrl ? `  ${mesh.monitoringUrl}/debug/syncz` : ""}`);
    out(`  mesh CA        ${mesh.caAddress} (xDS + certificates over TLS), trust domain ${mesh.trustDomain}, roots in ${mesh.rootCertFile}`);
    if (mesh.prometheus) out(`  prometheus     ${mesh.prometheus.url} (jobs istiod and kubernetes-pods; targets in ${mesh.prometheus.targetsFile}, log ${mesh.prometheus.logFile})`);
    out(`  state          ${mesh.stateDir}/ (the mesh CA, workload credentials${mesh.prometheus ? ", prometheus/" : ""})`);
    const creds = mesh.discovery.credentials;
    if (creds) out(`  credentials    ${relative(process.cwd(), creds.path) || "."}/ (${creds.list().length} served; gateways' credentialName secrets, applied live)`);
    out(`  logs           ${mesh.logDir}/ (discovery.log, NAMESPACE.NAME.proxy.log, NAMESPACE.NAME.app.log)`);
    out(`  watching       ${mesh.dir}/${o.extraConfig.length ? ` + ${o.extraConfig.join(", ")}` : ""} (files there are the lower layer; changes apply live)`);
    const http = gateways.flatMap((g) => g.plan.gatewayServers.filter((s) => !notListening(g, s.url))).find((s) => s.url.startsWith("http://"));
    if (http) out(`\n  Try: curl ${http.url}${tryPath(mesh, http.gateway)}`);
    out(`  Change the mesh with tsmesh apply -f FILE (and tsmesh get, tsmesh delete), as with kubectl. Ctrl-C stops the mesh.`);
  } catch (e) {
    err(`tsmesh up: ${(e as Error).message}`);
    for (const w of mesh.list()) {
      if (w.readyAfterMs !== undefined) continue;
      for (const p of [w.proxy, w.app]) {
        if (!p) continue;
        const tail = tailFile(p.spec.logFile, 8);
        if (tail.length > 0) err(`  ${p.spec.name} (${join(p.spec.logFile)}):\n${tail.map((l) => `    ${l}`).join("\n")}`);
      }
    }
    await cleanup();
    return 1;
  }
  await stopRequested;
  await cleanup();
  return 0;
}
