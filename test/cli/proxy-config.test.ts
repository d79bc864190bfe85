// `tsmesh proxy-config secret`: istioctl's rows from a proxy's SecretsConfigDump, in either JSON
// spelling of the dump, with certificates from the mesh CA.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { formatTable } from "../../src/cli/output.js";
import { SECRET_HEAD, secretCells, secretRows } from "../../src/cli/proxy-config-secret.js";
import { MeshCa } from "../../src/security/ca.js";
import { generateCsr } from "../../src/security/csr.js";
import { spiffeUri } from "../../src/security/spiffe.js";

test("secret rows: default and ROOTCA as istioctl shows them, whatever the dump's field spelling", async () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-pc-secret-"));
  try {
    const ca = await MeshCa.selfSigned(dir, { trustDomain: "cluster.local" });
    const id = { trustDomain: "cluster.local", namespace: "default", serviceAccount: "bookinfo-productpage" };
    const { csrPem } = await generateCsr({ uris: [spiffeUri(id)] });
    const chain = await ca.sign(csrPem, id, { ttlSeconds: 3600 });
    const leafPem = chain.slice(0, -1).join("");
    const rootPem = ca.rootsPem.join("");
    const snake = {
      "@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
      dynamic_active_secrets: [
        { name: "default", version_info: "1", secret: { name: "default", tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(leafPem).toString("base64") }, private_key: { inline_string: "[redacted]" } } } },
        { name: "ROOTCA", version_info: "1", secret: { name: "ROOTCA", validation_context: { trusted_ca: { inline_bytes: Buffer.from(rootPem).toString("base64") } } } },
      ],
      dynamic_warming_secrets: [{ name: "kubernetes://missing", secret: { name: "kubernetes://missing" } }],
    };
    const camel = JSON.parse(JSON.stringify(snake).replace(/"(\w+_\w+)":/g, (_m, k: string) => `"${k.replace(/_([a-z])/g, (_n, c: string) => c.toUpperCase())}":`)) as unknown;
    for (const dump of [snake, camel]) {
      const rows = secretRows(dump);
      assert.deepEqual(
        rows.map((r) => [r.name, r.type, r.status, r.valid]),
        [
          ["default", "Cert Chain", "ACTIVE", true],
          ["ROOTCA", "CA", "ACTIVE", true],
          ["kubernetes://missing", "Cert Chain", "WARMING", false],
        ],
      );
      const { X509Certificate } = await import("node:crypto");
      const leaf = new X509Certificate(leafPem);
      assert.equal(rows[0].serial, leaf.serialNumber.toLowerCase());
      assert.equal(rows[0].notAfter, new Date(leaf.validTo).toISOString().replace(/\.\d{3}Z$/, "Z"));
    }
    // Expired: valid is false.
    assert.equal(secretRows(snake, new Date(Date.now() + 2 * 3600_000))[0].valid, false);
    const table = formatTable(SECRET_HEAD, secretRows(snake).map(secretCells)).split("\n");
    assert.match(table[0], /^RESOURCE NAME\s+TYPE\s+STATUS\s+VALID CERT\s+SERIAL NUMBER\s+NOT AFTER\s+NOT BEFORE$/);
    assert.match(table[1], /^default\s+Cert Chain\s+ACTIVE\s+true\s+[0-9a-f]+\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+\d{4}-/);
    assert.ok(!table.join("\n").includes("redacted"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
