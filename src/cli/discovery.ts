// `tsmesh discovery`: runs the control plane (Pilot's role) until SIGINT/SIGTERM.
import { proxyResourceValidator } from "../local/envoyfilter-validator.js";
import { existsSync } from "node:fs";
import { Discovery } from "../controlplane/discovery.js";
import type { JwksFetchMode } from "../model/request-authentication.js";

export interface DiscoveryCliOptions {
  config: string[];
  xdsAddress: string;
  monitoringAddress: string;
  /** Istio's mesh config YAML (istiod's --meshConfig). */
  meshConfigFile?: string;
  /** The mesh CA's state folder (self-signed root, credential key, root bundle file). */
  stateDir: string;
  /** Istio's plug-in CA folder (cacerts). */
  cacertsDir?: string;
  /** xDS + CA over TLS (istiod's 15012; default 127.0.0.1:15012, "" = off). */
  secureXdsAddress?: string;
  caKeyType?: "EC" | "RSA";
  /** Gateways' credentialName secrets, watched. */
  credentialsDir?: string;
  /** Who fetches RequestAuthentication jwksUri (default hybrid). */
  jwksFetchMode?: JwksFetchMode;
}

export async function runDiscovery(opts: DiscoveryCliOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  for (const p of opts.config) {
    if (!existsSync(p)) {
      err(`tsmesh discovery: --config ${p}: no such file or folder`);
      return 2;
    }
  }
  if (opts.meshConfigFile !== undefined && !existsSync(opts.meshConfigFile)) {
    err(`tsmesh discovery: --mesh-config ${opts.meshConfigFile}: no such file`);
    return 2;
  }
  if (opts.cacertsDir !== undefined && !existsSync(opts.cacertsDir)) {
    err(`tsmesh discovery: --cacerts ${opts.cacertsDir}: no such folder`);
    return 2;
  }
  if (opts.credentialsDir !== undefined && !existsSync(opts.credentialsDir)) {
    err(`tsmesh discovery: --credentials-dir ${opts.credentialsDir}: no such folder`);
    return 2;
  }
  const discovery = new Discovery({
    meshConfigFile: opts.meshConfigFile,
    credentialsDir: opts.credentialsDir,
    configPaths: opts.config,
    xdsAddress: opts.xdsAddress,
    monitoringAddress: opts.monitoringAddress,
    stateDir: opts.stateDir,
    cacertsDir: opts.cacertsDir,
    secureXdsAddress: opts.secureXdsAddress,
    caKeyType: opts.caKeyType,
    jwksFetchMode: opts.jwksFetchMode,
    log: (line) => err(line),
  });
  // EnvoyFilter results go through the proxy's own checks before they reach a proxy.
  discovery.generator.envoyFilterValidator = proxyResourceValidator;
  try {
    await discovery.start();
  } catch (e) {
    err(`tsmesh discovery: ${(e as Error).message}`);
    await discovery.close();
    return 1;
  }
  const push = discovery.pushContext;
  out(
    `tsmesh discovery: ${push.registry.services.length} services, ${push.input.virtualServices.length} virtual services, ${push.input.destinationRules.length} destination rules from ${opts.config.join(", ")}`,
  );
  if (discovery.credentials) out(`tsmesh discovery: ${discovery.credentials.list().length} credentials from ${opts.credentialsDir} (gateways' credentialName secrets over SDS)`);
  out(`tsmesh discovery: xDS (ADS, SotW + Delta) on ${hostOf(opts.xdsAddress)}:${discovery.xdsPort}`);
  const security = discovery.security;
  if (security && discovery.secureXdsPort !== 0) out(`tsmesh discovery: xDS and CA (IstioCertificateService) over TLS on ${hostOf(opts.secureXdsAddress ?? "127.0.0.1:15012")}:${discovery.secureXdsPort}, trust domain ${security.trustDomain}`);
  if (security) out(`tsmesh discovery: mesh root bundle in ${security.rootBundleFile}`);
  if (opts.monitoringAddress !== "") out(`tsmesh discovery: monitoring on http://${hostOf(opts.monitoringAddress)}:${discovery.monitoringPort} (/metrics, /ready, /debug/syncz, /debug/config_dump?proxyID=…)`);
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      out(`tsmesh discovery: ${signal}, shutting down`);
      void discovery.close().then(() => resolve(0));
    };
    const onInt = () => stop("SIGINT");
    const onTerm = () => stop("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
  });
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(":")) || "127.0.0.1";
}
