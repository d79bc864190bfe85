// istioctl's `proxy-config secret` rows: the SDS secrets a proxy holds (the workload certificate
// `default`, the mesh root `ROOTCA`, a gateway's credentials), read from its admin /config_dump
// (SecretsConfigDump, private keys already redacted by the proxy), in istioctl's columns.
import { X509Certificate } from "node:crypto";
import { field, list } from "./config-dump.js";

const SECRETS_DUMP = "type.googleapis.com/envoy.admin.v3.SecretsConfigDump";

/** A DataSource's PEM text: inline bytes (base64, or a serialized Buffer) or an inline string. */
function pemOf(ds: unknown): string | undefined {
  const bytes = field(ds, "inline_bytes");
  if (typeof bytes === "string") return Buffer.from(bytes, "base64").toString("utf8");
  if (bytes && typeof bytes === "object") {
    const data = (bytes as { data?: unknown }).data;
    if (Array.isArray(data)) return Buffer.from(data as number[]).toString("utf8");
  }
  const text = field(ds, "inline_string");
  return typeof text === "string" ? text : undefined;
}

export interface SecretRow {
  name: string;
  type: "Cert Chain" | "CA";
  status: "ACTIVE" | "WARMING";
  valid: boolean;
  serial: string;
  notAfter: string;
  notBefore: string;
}

const isoSeconds = (d: string) => new Date(d).toISOString().replace(/\.\d{3}Z$/, "Z");

/** istioctl's rows for one SecretsConfigDump (the first certificate of each chain or bundle). */
export function secretRows(dump: unknown, now = new Date()): SecretRow[] {
  const rows: SecretRow[] = [];
  const add = (s: unknown, status: SecretRow["status"]) => {
    const secret = field(s, "secret");
    const vc = field(secret, "validation_context");
    const isCa = vc !== undefined;
    const pem = isCa ? pemOf(field(vc, "trusted_ca")) : pemOf(field(field(secret, "tls_certificate"), "certificate_chain"));
    const name = field(s, "name") ?? field(secret, "name");
    const row: SecretRow = { name: typeof name === "string" ? name : "", type: isCa ? "CA" : "Cert Chain", status, valid: false, serial: "", notAfter: "", notBefore: "" };
    if (pem) {
      try {
        const c = new X509Certificate(pem);
        row.serial = c.serialNumber.toLowerCase();
        row.notAfter = isoSeconds(c.validTo);
        row.notBefore = isoSeconds(c.validFrom);
        row.valid = now >= new Date(c.validFrom) && now <= new Date(c.validTo);
      } catch {
        // An unreadable certificate shows as not valid, with no serial.
      }
    }
    rows.push(row);
  };
  for (const s of list(dump, "static_secrets")) add(s, "ACTIVE");
  for (const s of list(dump, "dynamic_active_secrets")) add(s, "ACTIVE");
  for (const s of list(dump, "dynamic_warming_secrets")) add(s, "WARMING");
  return rows;
}

export const SECRET_HEAD = ["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"];

export function secretCells(r: SecretRow): string[] {
  return [r.name, r.type, r.status, String(r.valid), r.serial, r.notAfter, r.notBefore];
}

/** The secrets section of a config dump (empty when the proxy has none). */
export function secretsDump(dump: unknown): unknown {
  return list(dump, "configs").find((c) => field(c, "@type") === SECRETS_DUMP) ?? { "@type": SECRETS_DUMP };
}

