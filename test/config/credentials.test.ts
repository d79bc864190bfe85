// The credentials folder: a table of layouts and contents (both layouts, namespaces, bad PEM, a key
// that does not match, oversize files, strays), then the watched folder with real files (rotation,
// a bad edit keeps the last good copy, removal, an unchanged re-save pushes nothing), and the
// private key kept out of every printed form of a credential.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { inspect } from "node:util";
import { afterEach, test } from "node:test";
import { CredentialError, listCredentials, MAX_CREDENTIAL_FILE_BYTES, readCredential } from "../../src/config/credential-files.js";
import { CredentialsFolder, type CredentialReport } from "../../src/config/credentials.js";
import { tlsFixture } from "../helpers/tls-fixtures.js";

const fixture = (f: string) => tlsFixture(f).toString();
const SERVER_CRT = fixture("server.crt");
const SERVER_KEY = fixture("server.key");
const CLIENT_CRT = fixture("client.crt");
const CLIENT_KEY = fixture("client.key");
const CA_CRT = fixture("ca.crt");
const ENCRYPTED_KEY = fixture("server-encrypted.key");

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-creds-"));
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    if (rel.endsWith("/")) {
      mkdirSync(join(dir, rel), { recursive: true });
      continue;
    }
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  return dir;
}

interface Outcome {
  /** namespace/name → the parts it serves ("cert+key", "ca", "cert+key+ca"). */
  served: Record<string, string>;
  /** namespace/name → its error. */
  rejected: Record<string, string>;
  /** Stray file (relative to the folder) → its message. */
  strays: Record<string, string>;
}

function scan(dir: string): Outcome {
  const { credentials, strays } = listCredentials(dir);
  const out: Outcome = { served: {}, rejected: {}, strays: {} };
  for (const c of credentials) {
    const key = `${c.namespace}/${c.name}`;
    try {
      const cred = readCredential(c);
      out.served[key] = [cred.certificateChain && cred.privateKey() ? "cert+key" : "", cred.caCertificate ? "ca" : ""].filter(Boolean).join("+");
    } catch (e) {
      assert.ok(e instanceof CredentialError, `unexpected ${String(e)}`);
      out.rejected[key] = e.message;
    }
  }
  for (const s of strays) out.strays[s.file.slice(dir.length + 1)] = s.message;
  return out;
}

const ROWS: Array<{ name: string; files: Record<string, string>; served?: Record<string, string>; rejected?: Record<string, RegExp>; strays?: Record<string, RegExp> }> = [
  {
    name: "flat files at the top level belong to istio-system",
    files: { "httpbin-credential.crt": SERVER_CRT, "httpbin-credential.key": SERVER_KEY },
    served: { "istio-system/httpbin-credential": "cert+key" },
  },
  {
    name: "flat files with the CA beside them",
    files: { "mtls.crt": SERVER_CRT, "mtls.key": SERVER_KEY, "mtls.ca.crt": CA_CRT },
    served: { "istio-system/mtls": "cert+key+ca" },
  },
  {
    name: "a CA alone is a CA-only credential",
    files: { "upstream-ca.ca.crt": CA_CRT },
    served: { "istio-system/upstream-ca": "ca" },
  },
  {
    name: "a folder with a kubernetes.io/tls secret's keys",
    files: { "gw/tls.crt": SERVER_CRT, "gw/tls.key": SERVER_KEY, "gw/ca.crt": CA_CRT },
    served: { "istio-system/gw": "cert+key+ca" },
  },
  {
    name: "a folder with Istio's generic secret keys",
    files: { "gw/cert": SERVER_CRT, "gw/key": SERVER_KEY, "gw/cacert": CA_CRT },
    served: { "istio-system/gw": "cert+key+ca" },
  },
  {
    name: "namespaces/NS/ holds other namespaces' credentials, in both layouts",
    files: { "namespaces/bookinfo/a.crt": SERVER_CRT, "namespaces/bookinfo/a.key": SERVER_KEY, "namespaces/bookinfo/b/tls.crt": CLIENT_CRT, "namespaces/bookinfo/b/tls.key": CLIENT_KEY, "a.crt": CLIENT_CRT, "a.key": CLIENT_KEY },
    served: { "istio-system/a": "cert+key", "bookinfo/a": "cert+key", "bookinfo/b": "cert+key" },
  },
  {
    name: "a key that does not match the certificate",
    files: { "x.crt": SERVER_CRT, "x.key": CLIENT_KEY },
    rejected: { "istio-system/x": /x\.key does not match the certificate in .*x\.crt/ },
  },
  {
    name: "a certificate file that is not PEM",
    files: { "x.crt": "hello, I am not a certificate\n", "x.key": SERVER_KEY },
    rejected: { "istio-system/x": /x\.crt: no PEM CERTIFICATE block/ },
  },
  {
    name: "a PEM block that is not a certificate",
    files: { "x.crt": "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n", "x.key": SERVER_KEY },
    rejected: { "istio-system/x": /x\.crt: certificate 1 of 1 does not parse/ },
  },
  {
    name: "a bad CA bundle",
    files: { "x.crt": SERVER_CRT, "x.key": SERVER_KEY, "x.ca.crt": "nothing\n" },
    rejected: { "istio-system/x": /x\.ca\.crt: no PEM CERTIFICATE block/ },
  },
  {
    name: "a key that is not PEM",
    files: { "x.crt": SERVER_CRT, "x.key": "secret\n" },
    rejected: { "istio-system/x": /x\.key: expected exactly one PEM private key block, found 0/ },
  },
  {
    name: "two keys in one file",
    files: { "x.crt": SERVER_CRT, "x.key": SERVER_KEY + CLIENT_KEY },
    rejected: { "istio-system/x": /found 2/ },
  },
  {
    name: "an encrypted key",
    files: { "x.crt": SERVER_CRT, "x.key": ENCRYPTED_KEY },
    rejected: { "istio-system/x": /x\.key: the private key is encrypted/ },
  },
  {
    name: "a certificate without its key, a key without its certificate",
    files: { "x.crt": SERVER_CRT, "y.key": SERVER_KEY, "z/tls.key": SERVER_KEY },
    rejected: { "istio-system/x": /x\.crt has no private key beside it/, "istio-system/y": /y\.key has no certificate beside it/, "istio-system/z": /z\/tls\.key has no certificate beside it/ },
  },
  {
    name: "a folder mixing both sets of keys",
    files: { "x/tls.crt": SERVER_CRT, "x/key": SERVER_KEY },
    rejected: { "istio-system/x": /mixes tls\.crt\/tls\.key\/ca\.crt with cert\/key\/cacert/ },
  },
  {
    name: "the same name as a folder and as flat files",
    files: { "x/tls.crt": SERVER_CRT, "x/tls.key": SERVER_KEY, "x.crt": SERVER_CRT, "x.key": SERVER_KEY },
    rejected: { "istio-system/x": /defined twice/ },
  },
  {
    name: "a revocation list (not supported yet) refuses its credential rather than serve it without",
    files: { "x.crt": SERVER_CRT, "x.key": SERVER_KEY, "x.ca.crt": CA_CRT, "x.ca.crl": "crl", "y/tls.crt": SERVER_CRT, "y/tls.key": SERVER_KEY, "y/ca.crt": CA_CRT, "y/ca.crl": "crl" },
    rejected: { "istio-system/x": /x\.ca\.crl: certificate revocation lists are not supported/, "istio-system/y": /y\/ca\.crl: certificate revocation lists are not supported/ },
  },
  {
    name: "a file over the size bound",
    files: { "x.crt": SERVER_CRT + "#".repeat(MAX_CREDENTIAL_FILE_BYTES), "x.key": SERVER_KEY },
    rejected: { "istio-system/x": /x\.crt: \d+ bytes, more than the 1048576 a credential file may hold/ },
  },
  {
    name: "files and folders that fit no layout are reported, not read",
    files: {
      "README.md": "notes",
      "Bad_Name.crt": SERVER_CRT,
      "ok.crt": SERVER_CRT,
      "ok.key": SERVER_KEY,
      "ok2/tls.crt": SERVER_CRT,
      "ok2/tls.key": SERVER_KEY,
      "ok2/notes.txt": "x",
      "empty/": "",
      "namespaces/Not_A_Namespace/a.crt": SERVER_CRT,
      "namespaces/stray.txt": "x",
      ".hidden.key": SERVER_KEY,
    },
    served: { "istio-system/ok": "cert+key", "istio-system/ok2": "cert+key" },
    strays: {
      "README.md": /not a credential file/,
      "Bad_Name.crt": /not a credential file \(a lowercase RFC 1123 subdomain/,
      "ok2/notes.txt": /not a secret key this layout knows/,
      empty: /empty credential folder/,
      "namespaces/Not_A_Namespace": /expected a namespace folder/,
      "namespaces/stray.txt": /expected a namespace folder \(not a folder\)/,
    },
  },
];

for (const row of ROWS) {
  test(`credentials folder: ${row.name}`, () => {
    const got = scan(folder(row.files));
    assert.deepEqual(got.served, row.served ?? {});
    assert.deepEqual(Object.keys(got.rejected).sort(), Object.keys(row.rejected ?? {}).sort(), JSON.stringify(got.rejected));
    for (const [k, re] of Object.entries(row.rejected ?? {})) assert.match(got.rejected[k], re);
    assert.deepEqual(Object.keys(got.strays).sort(), Object.keys(row.strays ?? {}).sort(), JSON.stringify(got.strays));
    for (const [f, re] of Object.entries(row.strays ?? {})) assert.match(got.strays[f], re);
  });
}

test("credentials folder: symbolic links are followed (a mounted Kubernetes secret), a FIFO is refused, not waited on", () => {
  const dir = folder({ "mounted/..data/tls.crt": SERVER_CRT, "mounted/..data/tls.key": SERVER_KEY });
  const elsewhere = folder({ "gw/tls.crt": CLIENT_CRT, "gw/tls.key": CLIENT_KEY });
  // Kubernetes' secret volume: each key a link into the hidden ..data folder.
  symlinkSync("..data/tls.crt", join(dir, "mounted", "tls.crt"));
  symlinkSync("..data/tls.key", join(dir, "mounted", "tls.key"));
  // A credential folder that is a link, and flat files that are links.
  symlinkSync(join(elsewhere, "gw"), join(dir, "linked"));
  symlinkSync(join(elsewhere, "gw", "tls.crt"), join(dir, "flat.crt"));
  symlinkSync(join(elsewhere, "gw", "tls.key"), join(dir, "flat.key"));
  symlinkSync(join(elsewhere, "nowhere"), join(dir, "dangling.crt"));
  execFileSync("mkfifo", [join(dir, "pipe.crt")]);
  const got = scan(dir);
  assert.deepEqual(got.served, { "istio-system/mounted": "cert+key", "istio-system/linked": "cert+key", "istio-system/flat": "cert+key" });
  assert.deepEqual(got.rejected, {});
  assert.deepEqual(got.strays, {
    "dangling.crt": "not a regular file (or a link to one); ignored",
    "pipe.crt": "not a regular file (or a link to one); ignored",
  });
});

test("credentials folder: an expired certificate is served with a warning (Istio's ValidateCertificate)", () => {
  const dir = folder({ "x.crt": SERVER_CRT, "x.key": SERVER_KEY });
  const [c] = listCredentials(dir).credentials;
  assert.deepEqual(readCredential(c).warnings, []);
  const later = readCredential(c, Date.parse("2300-01-01T00:00:00Z"));
  assert.equal(later.warnings.length, 1);
  assert.match(later.warnings[0], /x\.crt: the certificate expired on /);
});

test("credentials folder: the private key appears in no printed form of a credential", () => {
  const dir = folder({ "x.crt": SERVER_CRT, "x.key": SERVER_KEY });
  const cred = readCredential(listCredentials(dir).credentials[0]);
  const body = SERVER_KEY.split("\n")[1];
  assert.equal(cred.privateKey()?.toString(), SERVER_KEY);
  for (const shown of [JSON.stringify(cred), inspect(cred, { depth: 10, showHidden: true }), String(cred), JSON.stringify({ nested: [cred] })]) {
    assert.ok(!shown.includes(body), shown);
    assert.ok(!shown.includes("PRIVATE KEY"), shown);
  }
  assert.match(JSON.stringify(cred), /"privateKey":"\[redacted\]"/);
});

// ---------- the watched folder ----------

async function until(what: string, cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`not within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("watched credentials folder: rotation, a bad edit keeps the last good copy, a fix applies, removal removes", async () => {
  const dir = folder({ "gw.crt": SERVER_CRT, "gw.key": SERVER_KEY });
  const reports: CredentialReport[] = [];
  const changes: string[][] = [];
  // The poll is off: only the file-system watch delivers changes.
  const f = new CredentialsFolder(dir, { pollMs: 0, onReport: (r) => reports.push(r), onChange: (c) => changes.push([...c]) });
  try {
    assert.deepEqual(f.start(), []);
    const first = f.get("istio-system", "gw");
    assert.equal(first?.certificateChain?.toString(), SERVER_CRT);
    assert.deepEqual(changes, [["istio-system/gw"]]);

    // Rotation the way editors and kubectl-style tools write: a new file renamed over the old one.
    const save = (name: string, text: string) => {
      writeFileSync(join(dir, `.${name}.tmp`), text);
      renameSync(join(dir, `.${name}.tmp`), join(dir, name));
    };
    save("gw.key", CLIENT_KEY);
    save("gw.crt", CLIENT_CRT);
    await until("rotated", () => f.get("istio-system", "gw")?.certificateChain?.toString() === CLIENT_CRT);
    assert.notEqual(f.get("istio-system", "gw")?.version, first?.version);
    assert.deepEqual(changes.at(-1), ["istio-system/gw"]);

    // A bad edit: the key no longer matches; the rotated copy keeps serving.
    const served = f.get("istio-system", "gw");
    const changeCount = changes.length;
    // (The rotation above may have been seen half done, key before certificate: only what follows counts.)
    const from = reports.length;
    writeFileSync(join(dir, "gw.key"), SERVER_KEY);
    await until("rejected", () => reports.slice(from).some((r) => r.status === "rejected"));
    const rejected = reports.slice(from).find((r) => r.status === "rejected")!;
    assert.equal(rejected.credential, "istio-system/gw");
    assert.equal(rejected.keptLastGood, true);
    assert.match(rejected.message!, /gw\.key does not match the certificate in .*gw\.crt/);
    assert.equal(f.get("istio-system", "gw"), served);
    assert.deepEqual(f.problems(), [{ credential: "istio-system/gw", message: rejected.message, keptLastGood: true }]);
    assert.equal(changes.length, changeCount);

    // The fix (the certificate that goes with the key) applies.
    writeFileSync(join(dir, "gw.crt"), SERVER_CRT);
    await until("fixed", () => f.get("istio-system", "gw")?.certificateChain?.toString() === SERVER_CRT);
    assert.deepEqual(f.problems(), []);

    // A new credential in a namespace folder, then the first one removed.
    mkdirSync(join(dir, "namespaces", "bookinfo", "upstream"), { recursive: true });
    writeFileSync(join(dir, "namespaces", "bookinfo", "upstream", "ca.crt"), CA_CRT);
    await until("namespaced CA", () => f.get("bookinfo", "upstream")?.caCertificate?.toString() === CA_CRT);
    rmSync(join(dir, "gw.crt"));
    rmSync(join(dir, "gw.key"));
    await until("removed", () => f.get("istio-system", "gw") === undefined);
    assert.ok(reports.some((r) => r.status === "removed" && r.credential === "istio-system/gw"));
    assert.deepEqual(changes.at(-1), ["istio-system/gw"]);
    // No report ever carried key material.
    for (const r of reports) assert.ok(!JSON.stringify(r).includes("PRIVATE KEY"));
  } finally {
    f.close();
  }
});

test("watched credentials folder: re-saving the same content changes nothing", async () => {
  const dir = folder({ "gw.crt": SERVER_CRT, "gw.key": SERVER_KEY });
  const changes: string[][] = [];
  const f = new CredentialsFolder(dir, { pollMs: 0, onChange: (c) => changes.push([...c]) });
  try {
    f.start();
    const before = f.get("istio-system", "gw");
    writeFileSync(join(dir, "gw.crt"), SERVER_CRT);
    // A second credential is the marker that the rescan after the re-save has run.
    writeFileSync(join(dir, "other.ca.crt"), CA_CRT);
    await until("marker", () => f.get("istio-system", "other") !== undefined);
    assert.equal(f.get("istio-system", "gw"), before);
    assert.deepEqual(changes, [["istio-system/gw"], ["istio-system/other"]]);
  } finally {
    f.close();
  }
});
