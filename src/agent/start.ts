// The agent as `tsmesh proxy` starts it: from the proxy's flags (--ca-address, --ca-root-cert,
// --credential-file, --service-account, --namespace, --trust-domain, --cert-ttl, --key-type) to a
// running WorkloadAgent that fills the SecretManager the proxy's TLS contexts read. The CLI imports
// this module only when --ca-address is given, so a proxy without the agent never loads the X.509
// code (pkijs).
import type { Logger } from "../core/log.js";
import type { SecretManager } from "../proxy/tls/secrets.js";
import type { CaKeyType } from "../security/ca.js";
import { parseSpiffeId, spiffeUri } from "../security/spiffe.js";
import { CaClient } from "./ca-client.js";
import { WorkloadAgent } from "./agent.js";

export interface AgentFlags {
  /** HOST:PORT of the mesh CA (gRPC + TLS). */
  caAddress: string;
  /** PEM bundle of mesh roots. */
  caRootCert: string;
  /** The bearer token's file. */
  credentialFile: string;
  serviceAccount: string;
  namespace: string;
  trustDomain: string;
  /** Requested certificate lifetime (seconds). */
  ttlSeconds: number;
  keyType: CaKeyType;
}

/** Starts the agent (throws on an identity that is not a valid SPIFFE ID or an unreadable root file). */
export function startAgent(flags: AgentFlags, secrets: SecretManager, log: Logger): WorkloadAgent {
  const identity = parseSpiffeId(spiffeUri({ trustDomain: flags.trustDomain, namespace: flags.namespace, serviceAccount: flags.serviceAccount }));
  if (identity instanceof Error) throw new Error(`the workload identity: ${identity.message}`);
  // The CA client trusts the roots the agent read from the file last (called only once the agent exists).
  const signer: CaClient = new CaClient({ address: flags.caAddress, credentialFile: flags.credentialFile, rootsPem: (): string => agent.rootsPem });
  const agent: WorkloadAgent = new WorkloadAgent({ identity, keyType: flags.keyType, ttlSeconds: flags.ttlSeconds, signer, secrets, rootCertFile: flags.caRootCert, log });
  agent.start();
  return agent;
}
