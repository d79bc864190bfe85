// The proxy's secrets in /config_dump, as Envoy's envoy.admin.v3.SecretsConfigDump: each secret
// held is a dynamic active secret (name, version, when it was set, the Secret with its private key
// replaced by "[redacted]", as Envoy's SecretManager dumps it); each secret the config names that
// has not arrived is a warming one (its name only). The key itself is never copied here.
import { SECRET_TYPE } from "../../envoy/protos.js";
import type { SdsSecretRef } from "./sds-config.js";
import type { SecretEntry } from "./secrets.js";

/** What Envoy prints instead of a private key. */
export const REDACTED = "[redacted]";

/** A Timestamp from ms since epoch. */
function timestamp(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

/** The SecretsConfigDump (typed form, `@type` set) for the held secrets and the ones still awaited. */
export function secretsConfigDump(entries: readonly SecretEntry[], wanted: readonly SdsSecretRef[]): Record<string, unknown> {
  const held = new Set(entries.map((e) => `${e.source}\u0000${e.name}`));
  const active = [...entries]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((e) => {
      const s = e.secret;
      const secret =
        s.kind === "tlsCertificate"
          ? { "@type": SECRET_TYPE, name: e.name, tlsCertificate: { certificateChain: { inlineBytes: Buffer.from(s.certificateChainPem, "latin1") }, privateKey: { inlineString: REDACTED } } }
          : { "@type": SECRET_TYPE, name: e.name, validationContext: { trustedCa: { inlineBytes: Buffer.from(s.trustedCaPem, "latin1") } } };
      return { name: e.name, versionInfo: e.version, lastUpdated: timestamp(e.updatedAt), secret };
    });
  const warming = wanted.filter((r) => !held.has(`${r.source}\u0000${r.name}`)).map((r) => ({ name: r.name, secret: { "@type": SECRET_TYPE, name: r.name } }));
  return { "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump", dynamicActiveSecrets: active, dynamicWarmingSecrets: warming };
}
