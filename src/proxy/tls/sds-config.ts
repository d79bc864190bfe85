// Where a TLS context's SDS secret comes from: an SdsSecretConfig's sds_config, accepted only in
// the two shapes Istio writes — the in-process agent behind the `sds-grpc` cluster (the workload's
// `default` certificate and `ROOTCA`), or the ADS stream (a gateway's `kubernetes://NAME`
// credentials). Any other source (another cluster, a file path, REST, a bootstrap static secret)
// is refused with its field path: the context would otherwise wait forever or, worse, be skipped.
import type * as v3 from "../../envoy/types.js";
import { XdsConfigError } from "../xds-error.js";
import type { SecretSourceName } from "./secrets.js";

/** The agent's SDS cluster, as Istio's bootstrap names it. */
export const SDS_GRPC_CLUSTER = "sds-grpc";

/** One secret a TLS context needs: its source and name. */
export interface SdsSecretRef {
  readonly source: SecretSourceName;
  readonly name: string;
}

/** The secrets of one TLS context: its certificates (none, one, or one per key type) and its validation context. */
export interface ContextSecretRefs {
  readonly certificates: readonly SdsSecretRef[];
  readonly validation?: SdsSecretRef;
}

/** Every secret of a context. */
export function allRefs(refs: ContextSecretRefs): SdsSecretRef[] {
  return refs.validation ? [...refs.certificates, refs.validation] : [...refs.certificates];
}

/** The names a context waits for, as logs and failure reasons print them. */
export function refNames(refs: ContextSecretRefs): string[] {
  return allRefs(refs).map((r) => r.name);
}

function versionIsV3(v: v3.ConfigSource["resourceApiVersion"]): boolean {
  return v === undefined || v === "AUTO" || v === "V3";
}

/** An SdsSecretConfig's source, or an XdsConfigError naming the field tsmesh cannot serve. */
export function sdsSecretRef(c: v3.SdsSecretConfig, path: string): SdsSecretRef {
  const name = c.name ?? "";
  if (!name) throw new XdsConfigError(`${path}.name`, "an SDS secret needs a name");
  const cs = c.sdsConfig;
  const at = `${path}.sdsConfig`;
  if (!cs) throw new XdsConfigError(at, `secret ${JSON.stringify(name)} has no sds_config: static bootstrap secrets are not supported by tsmesh`);
  if (!versionIsV3(cs.resourceApiVersion)) throw new XdsConfigError(`${at}.resourceApiVersion`, `only V3 resources are supported (got ${String(cs.resourceApiVersion)})`);
  const refuse = (field: string, why: string) => new XdsConfigError(`${at}.${field}`, `${why}; tsmesh takes secrets from the agent (api_config_source GRPC to cluster ${SDS_GRPC_CLUSTER}) or from ADS`);
  if (cs.path !== undefined || cs.pathConfigSource !== undefined) throw refuse(cs.path !== undefined ? "path" : "pathConfigSource", "secrets from files are not supported");
  if (cs.self !== undefined) throw refuse("self", "secrets from the management server of the enclosing resource are not supported");
  if (cs.authorities?.length) throw refuse("authorities", "xDS federation authorities are not supported");
  if (cs.ads !== undefined) {
    if (cs.apiConfigSource !== undefined) throw new XdsConfigError(`${at}.apiConfigSource`, "a config source is either ads or api_config_source");
    return { source: "ads", name };
  }
  const api = cs.apiConfigSource;
  if (!api) throw new XdsConfigError(at, "needs ads or api_config_source");
  const ap = `${at}.apiConfigSource`;
  if (api.apiType !== "GRPC") throw new XdsConfigError(`${ap}.apiType`, `only GRPC (to cluster ${SDS_GRPC_CLUSTER}) is supported for secrets (got ${String(api.apiType ?? "unset")})`);
  if (!versionIsV3(api.transportApiVersion)) throw new XdsConfigError(`${ap}.transportApiVersion`, `only V3 is supported (got ${String(api.transportApiVersion)})`);
  if (api.clusterNames?.length) throw new XdsConfigError(`${ap}.clusterNames`, "cluster_names is for REST sources; a GRPC source names its cluster in grpc_services");
  if (api.configValidators?.length) throw new XdsConfigError(`${ap}.configValidators`, "config validators are not supported");
  const services = api.grpcServices ?? [];
  if (services.length !== 1) throw new XdsConfigError(`${ap}.grpcServices`, `needs exactly one gRPC service (the ${SDS_GRPC_CLUSTER} cluster), got ${services.length}`);
  const g = services[0];
  if (g.googleGrpc !== undefined) throw new XdsConfigError(`${ap}.grpcServices[0].googleGrpc`, `Google gRPC services are not supported; use envoy_grpc cluster_name ${SDS_GRPC_CLUSTER}`);
  const cluster = g.envoyGrpc?.clusterName ?? "";
  if (cluster !== SDS_GRPC_CLUSTER) throw new XdsConfigError(`${ap}.grpcServices[0].envoyGrpc.clusterName`, `secrets are served only by the agent's ${SDS_GRPC_CLUSTER} cluster (got ${JSON.stringify(cluster)})`);
  return { source: "sds-grpc", name };
}

/**
 * The SDS secrets of a CommonTlsContext: tls_certificate_sds_secret_configs (upstream one — a
 * client presents one certificate —, downstream one per key type, as Istio's credentialNames for
 * RSA beside ECDSA) and validation_context_sds_secret_config, alone or in
 * combined_validation_context (whose default_validation_context keeps its SAN matchers and pins;
 * the trusted CA comes from the secret, as Envoy merges them).
 */
export function contextSecretRefs(common: v3.CommonTlsContext, cpath: string, maxCertificates: number): ContextSecretRefs {
  const certs = common.tlsCertificateSdsSecretConfigs ?? [];
  if (certs.length > maxCertificates) throw new XdsConfigError(`${cpath}.tlsCertificateSdsSecretConfigs`, maxCertificates === 1 ? "an upstream connection presents one client certificate" : `at most ${maxCertificates} certificates over SDS per TLS context`);
  if (certs.length > 0 && (common.tlsCertificates ?? []).length > 0) throw new XdsConfigError(`${cpath}.tlsCertificates`, "cannot be combined with tls_certificate_sds_secret_configs");
  const combined = common.combinedValidationContext?.validationContextSdsSecretConfig;
  const validation = combined
    ? sdsSecretRef(combined, `${cpath}.combinedValidationContext.validationContextSdsSecretConfig`)
    : common.validationContextSdsSecretConfig
      ? sdsSecretRef(common.validationContextSdsSecretConfig, `${cpath}.validationContextSdsSecretConfig`)
      : undefined;
  const certificates = certs.map((c, i) => sdsSecretRef(c, `${cpath}.tlsCertificateSdsSecretConfigs[${i}]`));
  return validation ? { certificates, validation } : { certificates };
}

/** Whether a context needs any secret over SDS. */
export function needsSds(refs: ContextSecretRefs): boolean {
  return refs.certificates.length > 0 || refs.validation !== undefined;
}
