// `tsmesh proxy-config secret WORKLOAD`: istioctl's `proxy-config secret` for a workload of a
// `tsmesh up` mesh — the SDS secrets its proxy holds (the workload certificate `default`, the mesh
// root `ROOTCA`, a gateway's credentials), read from the proxy's admin /config_dump
// (SecretsConfigDump, private keys already redacted by the proxy) and printed in istioctl's columns.
import { X509Certificate } from "node:crypto";
import { workloadAdminUrl } from "./exec.js";

export interface ProxyConfigSecretOptions {
  workload: string;
  config: string[];
  /** `short` (istioctl's table) or `json` (the SecretsConfigDump as the proxy gave it). */
  output: "short" | "json";
  /** The proxy's admin URL, instead of finding the workload in the config. */
  admin?: string;
}

const SECRETS_DUMP = "type.googleapis.com/envoy.admin.v3.SecretsConfigDump";

/** A config dump object; fields are read by their proto name in either JSON spelling (snake or camel case). */
type Json = { [k: string]: unknown };

function field(o: unknown, snake: string): unknown {
  if (o === null || typeof o !== "object") return undefined;
  const r = o as Json;
  return r[snake] ?? r[snake.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())];
}

const list = (o: unknown, snake: string): unknown[] => {
  const v = field(o, snake);
  return Array.isArray(v) ? v : [];
};

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

/** istioctl's table: columns padded to their widest cell, three spaces apart. */
export function formatSecretRows(rows: readonly SecretRow[]): string {
  const head = ["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"];
  const body = rows.map((r) => [r.name, r.type, r.status, String(r.valid), r.serial, r.notAfter, r.notBefore]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  return [head, ...body].map((cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("     ").trimEnd()).join("\n");
}

export async function runProxyConfigSecret(o: ProxyConfigSecretOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let admin = o.admin;
  if (admin === undefined) {
    const found = workloadAdminUrl(o.config, o.workload, "proxy-config");
    if ("error" in found) {
      err(found.error);
      return 2;
    }
    admin = found.url;
  }
  let dump: { configs?: { "@type"?: string }[] };
  try {
    const res = await fetch(`${admin.replace(/\/$/, "")}/config_dump`, { signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    dump = (await res.json()) as typeof dump;
  } catch (e) {
    err(`tsmesh proxy-config: ${o.workload}'s proxy admin ${admin} did not answer /config_dump (${(e as Error).message}); is the mesh running?`);
    return 1;
  }
  const secrets = (dump.configs ?? []).find((c) => c["@type"] === SECRETS_DUMP);
  if (o.output === "json") {
    out(JSON.stringify(secrets ?? { "@type": SECRETS_DUMP }, null, 2));
    return 0;
  }
  out(formatSecretRows(secretRows(secrets ?? { "@type": SECRETS_DUMP })));
  return 0;
}
