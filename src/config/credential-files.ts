// The credentials folder's layout and contents (local mode's stand-in for Kubernetes Secrets that
// gateways and DestinationRules name in `credentialName`). Pure reading and checking; watching and
// keeping the last good copy is credentials.ts's job.
//
// Layout (one credential = one Kubernetes Secret):
//   DIR/NAME.crt + DIR/NAME.key [+ DIR/NAME.ca.crt]     flat files (NAME.ca.crt alone: a CA-only credential)
//   DIR/NAME/{tls.crt, tls.key, ca.crt}                 a folder with a kubernetes.io/tls secret's keys
//   DIR/NAME/{cert, key, cacert}                        or with Istio's generic secret keys
//   DIR/namespaces/NS/...                               the same layouts, for namespace NS
// Credentials at the top level belong to `istio-system` (where Istio's tasks create gateway
// secrets). `NAME.ca.crt` is always NAME's CA, so a credential whose name ends in `.ca` needs the
// folder layout; `namespaces` is reserved at the top level.
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { inspect } from "node:util";
import { checkK8sDNS1123Label, checkK8sDNS1123Subdomain } from "../api/validation/common.js";
import { pemBlocks } from "../core/pem.js";
import { displayPath } from "./files.js";

/** Namespace of the credentials at the folder's top level. */
export const TOP_LEVEL_NAMESPACE = "istio-system";
/** Top-level sub-folder whose sub-folders hold other namespaces' credentials. */
export const NAMESPACES_FOLDER = "namespaces";
/** Kubernetes caps a Secret at 1 MiB; so is each file here. */
export const MAX_CREDENTIAL_FILE_BYTES = 1024 * 1024;
/** Credentials per folder (a bound on the scan, far above any real mesh's gateway secrets). */
export const MAX_CREDENTIALS = 10_000;

/** The files one credential is made of (absolute paths). */
export interface CredentialFiles {
  namespace: string;
  name: string;
  cert?: string;
  key?: string;
  ca?: string;
  /** Layout problems found while listing (both key styles, a certificate without its key…). */
  problems: string[];
}

/** A problem with a file that is not part of any credential (reported, never silently skipped). */
export interface StrayFile {
  file: string;
  message: string;
}

const FOLDER_KEYS = {
  "tls.crt": "tls",
  "tls.key": "tls",
  "ca.crt": "tls",
  cert: "generic",
  key: "generic",
  cacert: "generic",
} as const;

// Istio puts a secret's `ca.crl` in the validation context. Serving the credential without it would
// accept certificates its owner revoked, so such a credential is refused until CRLs are supported.
const CRL_UNSUPPORTED = (file: string) => `${displayPath(file)}: certificate revocation lists are not supported in the credentials folder yet; the credential is not served rather than served without its CRL`;

/** `namespace/name`, the key credentials are stored and reported under. */
export function credentialKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

interface Entry {
  name: string;
  isDirectory: boolean;
  isFile: boolean;
}

/** A folder's entries (hidden ones skipped), symbolic links followed (a mounted Kubernetes secret is links into `..data`). */
function entries(dir: string): Entry[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith("."))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((e) => {
      if (!e.isSymbolicLink()) return { name: e.name, isDirectory: e.isDirectory(), isFile: e.isFile() };
      try {
        const st = statSync(join(dir, e.name));
        return { name: e.name, isDirectory: st.isDirectory(), isFile: st.isFile() };
      } catch {
        return { name: e.name, isDirectory: false, isFile: false }; // a dangling link
      }
    });
}

/**
 * Lists the credentials under `root` (throws when `root` cannot be read). Files and folders that
 * fit no layout come back as strays; a name defined twice is a problem of that credential.
 */
export function listCredentials(root: string): { credentials: CredentialFiles[]; strays: StrayFile[] } {
  const credentials: CredentialFiles[] = [];
  const strays: StrayFile[] = [];
  scanNamespace(root, TOP_LEVEL_NAMESPACE, true, credentials, strays);
  if (credentials.length > MAX_CREDENTIALS) {
    strays.push({ file: root, message: `holds ${credentials.length} credentials; only the first ${MAX_CREDENTIALS} (by namespace and name) are read` });
    credentials.length = MAX_CREDENTIALS;
  }
  return { credentials, strays };
}

function scanNamespace(dir: string, namespace: string, top: boolean, out: CredentialFiles[], strays: StrayFile[]): void {
  const byName = new Map<string, CredentialFiles>();
  /** How each name is defined: as a folder, as flat files, or (a problem) both. */
  const forms = new Map<string, Set<string>>();
  const get = (name: string, form: "folder" | "flat") => {
    let c = byName.get(name);
    if (!c) byName.set(name, (c = { namespace, name, problems: [] }));
    let f = forms.get(name);
    if (!f) forms.set(name, (f = new Set()));
    f.add(form);
    return c;
  };
  const nsFolders: string[] = [];
  for (const e of entries(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) {
      if (top && e.name === NAMESPACES_FOLDER) {
        nsFolders.push(path);
        continue;
      }
      const bad = checkK8sDNS1123Subdomain(e.name);
      if (bad) {
        strays.push({ file: path, message: `folder name is not a credential name (${bad}); ignored` });
        continue;
      }
      // An empty folder defines nothing (a credential whose files were all removed is removed).
      if (entries(path).length === 0) {
        strays.push({ file: path, message: "empty credential folder; ignored" });
        continue;
      }
      readCredentialFolder(path, get(e.name, "folder"), strays);
      continue;
    }
    if (!e.isFile) {
      strays.push({ file: path, message: "not a regular file (or a link to one); ignored" });
      continue;
    }
    const crl = /^(.+)\.ca\.crl$/.exec(e.name);
    if (crl && !checkK8sDNS1123Subdomain(crl[1])) {
      get(crl[1], "flat").problems.push(CRL_UNSUPPORTED(path));
      continue;
    }
    const m = /^(.+?)(\.ca\.crt|\.crt|\.key)$/.exec(e.name);
    const bad = m ? checkK8sDNS1123Subdomain(m[1]) : "expected NAME.crt, NAME.key or NAME.ca.crt";
    if (!m || bad) {
      strays.push({ file: path, message: `not a credential file (${bad}); ignored` });
      continue;
    }
    const c = get(m[1], "flat");
    const slot = m[2] === ".ca.crt" ? "ca" : m[2] === ".crt" ? "cert" : "key";
    c[slot] = path;
  }
  for (const c of byName.values()) {
    if (forms.get(c.name)!.size > 1) c.problems.push(`${c.name} is defined twice, as a folder ${c.name}/ and as flat files ${c.name}.*; keep one`);
    else if (c.cert && !c.key) c.problems.push(`${displayPath(c.cert)} has no private key beside it`);
    else if (c.key && !c.cert) c.problems.push(`${displayPath(c.key)} has no certificate beside it`);
    out.push(c);
  }
  for (const nsRoot of nsFolders) {
    for (const e of entries(nsRoot)) {
      const path = join(nsRoot, e.name);
      const bad = e.isDirectory ? checkK8sDNS1123Label(e.name) : "not a folder";
      if (bad) {
        strays.push({ file: path, message: `expected a namespace folder (${bad}); ignored` });
        continue;
      }
      scanNamespace(path, e.name, false, out, strays);
    }
  }
}

function readCredentialFolder(dir: string, c: CredentialFiles, strays: StrayFile[]): void {
  const styles = new Set<string>();
  for (const e of entries(dir)) {
    const path = join(dir, e.name);
    if (e.name === "ca.crl") {
      c.problems.push(CRL_UNSUPPORTED(path));
      continue;
    }
    const style = Object.hasOwn(FOLDER_KEYS, e.name) ? FOLDER_KEYS[e.name as keyof typeof FOLDER_KEYS] : undefined;
    if (!style || !e.isFile) {
      strays.push({ file: path, message: `not a secret key this layout knows (tls.crt, tls.key, ca.crt or cert, key, cacert); ignored` });
      continue;
    }
    styles.add(style);
    if (e.name === "tls.crt" || e.name === "cert") c.cert = path;
    else if (e.name === "tls.key" || e.name === "key") c.key = path;
    else c.ca = path;
  }
  if (styles.size > 1) c.problems.push(`${displayPath(dir)}/ mixes tls.crt/tls.key/ca.crt with cert/key/cacert; use one set of keys`);
  if (!c.cert && !c.key && !c.ca) c.problems.push(`${displayPath(dir)}/ holds none of tls.crt, tls.key, ca.crt (or cert, key, cacert)`);
}

/** A checked credential. The private key is kept out of JSON, util.inspect and String(). */
export class Credential {
  readonly #privateKey: Buffer | undefined;

  constructor(
    readonly namespace: string,
    readonly name: string,
    /** PEM certificate chain, leaf first (as read). */
    readonly certificateChain: Buffer | undefined,
    privateKey: Buffer | undefined,
    /** PEM CA bundle (clients to accept, or servers to trust). */
    readonly caCertificate: Buffer | undefined,
    /** Content hash of every part: equal versions mean equal credentials. */
    readonly version: string,
    /** Non-fatal findings (an expired certificate), reported but served, as Istio does. */
    readonly warnings: readonly string[],
  ) {
    this.#privateKey = privateKey;
  }

  /** The PEM private key, for the Secret generator only. */
  privateKey(): Buffer | undefined {
    return this.#privateKey;
  }

  toJSON(): Record<string, unknown> {
    return { namespace: this.namespace, name: this.name, version: this.version, certificate: !!this.certificateChain, privateKey: this.#privateKey ? "[redacted]" : undefined, ca: !!this.caCertificate };
  }

  [inspect.custom](): string {
    return `Credential ${credentialKey(this.namespace, this.name)} ${JSON.stringify(this.toJSON())}`;
  }

  toString(): string {
    return `Credential ${credentialKey(this.namespace, this.name)}`;
  }
}

export class CredentialError extends Error {}

/**
 * Reads a file whole, refusing anything larger than the bound (checked on the open file, then while
 * reading). Opened non-blocking: a FIFO put in place of a file is refused, never waited on.
 */
function readBounded(file: string): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CredentialError(`${displayPath(file)}: not a regular file`);
    if (st.size > MAX_CREDENTIAL_FILE_BYTES) throw new CredentialError(`${displayPath(file)}: ${st.size} bytes, more than the ${MAX_CREDENTIAL_FILE_BYTES} a credential file may hold`);
    const buf = Buffer.alloc(MAX_CREDENTIAL_FILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > MAX_CREDENTIAL_FILE_BYTES) throw new CredentialError(`${displayPath(file)}: more than the ${MAX_CREDENTIAL_FILE_BYTES} bytes a credential file may hold`);
    }
    return Buffer.from(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** Every CERTIFICATE block of a PEM file, parsed; throws naming the file and the block. */
function certificates(file: string, pem: Buffer, what: string): X509Certificate[] {
  const text = pem.toString("latin1");
  const blocks = pemBlocks(text, "CERTIFICATE");
  if (blocks.length === 0) throw new CredentialError(`${displayPath(file)}: no PEM CERTIFICATE block (${what} must be PEM: -----BEGIN CERTIFICATE-----)`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new CredentialError(`${displayPath(file)}: certificate ${i + 1} of ${blocks.length} does not parse (${(e as Error).message})`);
    }
  });
}

function privateKeyOf(file: string, pem: Buffer): KeyObject {
  const text = pem.toString("latin1");
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) {
    throw new CredentialError(`${displayPath(file)}: the private key is encrypted; a credential's key must be unencrypted PEM, as in a Kubernetes TLS secret`);
  }
  const blocks = text.match(/-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]*?-----END (?:RSA |EC )?PRIVATE KEY-----/g) ?? [];
  if (blocks.length !== 1) throw new CredentialError(`${displayPath(file)}: expected exactly one PEM private key block, found ${blocks.length}`);
  try {
    return createPrivateKey({ key: blocks[0], format: "pem" });
  } catch (e) {
    // The key parser's message never quotes the key.
    throw new CredentialError(`${displayPath(file)}: the private key does not parse (${(e as Error).message})`);
  }
}

function validityWarning(file: string, cert: X509Certificate, now: number): string | undefined {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (now > to) return `${displayPath(file)}: the certificate expired on ${new Date(to).toISOString()}`;
  if (now < from) return `${displayPath(file)}: the certificate is not valid before ${new Date(from).toISOString()}`;
  return undefined;
}

/**
 * Reads and checks one credential: every certificate parses, the key is a single unencrypted PEM key
 * that matches the first (leaf) certificate, the CA bundle parses. Throws CredentialError naming
 * the file at fault.
 */
export function readCredential(files: CredentialFiles, now = Date.now()): Credential {
  if (files.problems.length > 0) throw new CredentialError(files.problems.join("; "));
  const warnings: string[] = [];
  let chain: Buffer | undefined;
  let key: Buffer | undefined;
  let ca: Buffer | undefined;
  if (files.cert && files.key) {
    chain = readBounded(files.cert);
    key = readBounded(files.key);
    const certs = certificates(files.cert, chain, "the certificate chain");
    const pk = privateKeyOf(files.key, key);
    if (!certs[0].checkPrivateKey(pk)) {
      throw new CredentialError(`${displayPath(files.key)} does not match the certificate in ${displayPath(files.cert)} (${certs[0].subject.replace(/\n/g, ", ")})`);
    }
    const w = validityWarning(files.cert, certs[0], now);
    if (w) warnings.push(w);
  }
  if (files.ca) {
    ca = readBounded(files.ca);
    certificates(files.ca, ca, "the CA bundle");
  }
  const h = createHash("sha256");
  for (const part of [chain, key, ca]) {
    h.update(part ? String(part.length) : "-").update(":");
    if (part) h.update(part);
  }
  return new Credential(files.namespace, files.name, chain, key, ca, h.digest("base64url").slice(0, 16), warnings);
}
