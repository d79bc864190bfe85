// The control plane says when a push leaves a delegating route out (delegate missing, not exported
// to the root's namespace, or conflicting with the root's match): one line when it appears, nothing
// more while it lasts, and again if it comes back.
import assert from "node:assert/strict";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Discovery } from "../../src/controlplane/discovery.js";
import { eventually } from "../e2e/helpers.js";

const ROOT = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /reviews}}]
    delegate: {name: reviews-team, namespace: team}
  - route: [{destination: {host: reviews}}]
`;
const delegate = (exportTo: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-team, namespace: team}
spec:
  exportTo: [${exportTo}]
  http:
  - route: [{destination: {host: reviews.default.svc.cluster.local}}]
`;
const OTHER = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: ratings}\nspec:\n  hosts: [ratings]\n  http:\n  - route:\n    - destination: {host: ratings}\n";

describe("the control plane reports routes left out by delegation", () => {
  let dir: string;
  let discovery: Discovery | undefined;
  const logs: string[] = [];
  const lines = () => logs.filter((l) => l.includes(".delegate: "));
  const write = (file: string, text: string) => {
    const tmp = join(dir, `.${file}.tmp`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, file));
  };
  before(() => (dir = mkdtempSync(join(tmpdir(), "tsmesh-delegates-"))));
  after(async () => {
    await discovery?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a missing or hidden delegate is logged once per appearance", async () => {
    write("root.yaml", ROOT);
    discovery = new Discovery({ configPaths: [dir], xdsAddress: "127.0.0.1:0", monitoringAddress: "", debounceQuietMs: 10, log: (l) => logs.push(l) });
    await discovery.start();
    const d = discovery;
    assert.deepEqual(lines(), ["discovery: VirtualService default/reviews: spec.http[0].delegate: delegate VirtualService team/reviews-team not found; route left out"]);

    // An unrelated change is pushed: the same problem is not repeated.
    const before = d.pushContext;
    write("other.yaml", OTHER);
    await eventually("the next push", () => d.pushContext !== before && d.pushContext.input.virtualServices.length === 2);
    assert.equal(lines().length, 1, lines().join("\n"));

    // The delegate appears, exported elsewhere only: a new problem.
    write("delegate.yaml", delegate("."));
    await eventually("the not-exported line", () => lines().length === 2);
    assert.equal(lines()[1], "discovery: VirtualService default/reviews: spec.http[0].delegate: delegate VirtualService team/reviews-team is not exported to default; route left out");

    // Exported to the root's namespace: merged, nothing to say.
    write("delegate.yaml", delegate("default"));
    await eventually("merged", () => d.pushContext.virtualServiceErrors.length === 0 && d.pushContext.delegateMerges === 1);
    assert.equal(lines().length, 2, lines().join("\n"));

    // Gone again: reported again.
    rmSync(join(dir, "delegate.yaml"));
    await eventually("the not-found line again", () => lines().length === 3);
    assert.equal(lines()[2], lines()[0]);
  });
});
