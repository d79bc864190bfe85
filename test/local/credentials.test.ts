// Workload credential files in a `tsmesh up` mesh: written 0600 (folder 0700) for the workload's
// namespace and service account, rewritten before they expire (here: 2 s tokens, rewritten after
// about 1 s) so the file always holds a token the CA accepts, deleted with the workload.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LocalCredentialIssuer } from "../../src/security/credential.js";
import { WorkloadCredentials } from "../../src/local/credentials.js";
import { eventually } from "../helpers/eventually.js";

const tmp = mkdtempSync(join(tmpdir(), "tsmesh-workload-credentials-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
const issuer = LocalCredentialIssuer.open(join(tmp, "credential-key.pem"));
const authenticator = issuer.authenticator();

describe("workload credential files", () => {
  it("are written 0600 in a 0700 folder for the workload's identity", async () => {
    const creds = new WorkloadCredentials({ dir: join(tmp, "a"), issue: (id) => issuer.issue(id), log: () => {} });
    const file = await creds.write("default/reviews-v2", { namespace: "default", serviceAccount: "bookinfo-reviews" });
    assert.equal(file, join(tmp, "a", "default.reviews-v2.token"));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(tmp, "a")).mode & 0o777, 0o700);
    assert.deepEqual(await authenticator.authenticate(readFileSync(file, "utf8")), { identity: { namespace: "default", serviceAccount: "bookinfo-reviews" } });
    creds.remove("default/reviews-v2");
    assert.equal(existsSync(file), false);
    creds.close();
  });

  it("are rewritten at about half their life, always valid", async () => {
    const logs: string[] = [];
    const creds = new WorkloadCredentials({ dir: join(tmp, "b"), issue: (id) => issuer.issue(id, { ttlSeconds: 2 }), log: (l) => logs.push(l) });
    const file = await creds.write("prod/ratings", { namespace: "prod", serviceAccount: "ratings" });
    const first = readFileSync(file, "utf8");
    const second = await eventually("a rewrite", () => {
      const t = readFileSync(file, "utf8");
      return t !== first && t;
    }, 15_000);
    assert.deepEqual(await authenticator.authenticate(second), { identity: { namespace: "prod", serviceAccount: "ratings" } });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    creds.close();
    assert.equal(existsSync(file), false, "close deletes every file");
    assert.deepEqual(logs, []);
  });
});
