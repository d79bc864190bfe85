// Where a workload's app runs: beside the YAML that defines its WorkloadEntry, or — for a
// WorkloadEntry applied with `tsmesh apply` — in its own folder in the state folder. Checked as a
// table on real folders, then through a real control plane whose store holds one WorkloadEntry from a
// folder, one from a --config file and one applied over the mesh API (the seam LocalMesh uses).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { main } from "../../src/cli/main.js";
import { Discovery } from "../../src/controlplane/discovery.js";
import { appWorkingDir, ownAppDir } from "../../src/local/app-dir.js";

const we = (name: string, address: string) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: ${name}
  labels: {app: ${name}}
spec:
  address: ${address}
`;

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), "tsmesh-app-dir-"));
});
after(() => rmSync(root, { recursive: true, force: true }));

describe("appWorkingDir", () => {
  it("a config folder, a config file's folder, else the workload's own folder (table)", () => {
    const folder = join(root, "t-config");
    mkdirSync(folder);
    const file = join(folder, "we.yaml");
    writeFileSync(file, we("a", "127.0.9.1"));
    const state = join(root, "t-state");
    const table: Array<[string, string | undefined, string]> = [
      ["from a config folder", folder, folder],
      ["from a --config file", file, folder],
      ["applied (no folder)", undefined, join(state, "apps", "default", "web")],
      ["its folder was removed", join(root, "gone"), join(state, "apps", "default", "web")],
    ];
    for (const [name, configPath, want] of table) {
      assert.equal(appWorkingDir({ configPath, stateDir: state, namespace: "default", name: "web" }), want, name);
    }
    assert.ok(statSync(join(state, "apps", "default", "web")).isDirectory(), "the own folder is created");
    assert.equal(statSync(join(state, "apps", "default", "web")).mode & 0o777, 0o700);
  });

  it("a name that could leave the state folder is refused (table)", () => {
    for (const [ns, name] of [["default", "../x"], ["..", "web"], ["default", ".hidden"], ["", "web"], ["a/b", "web"]]) {
      assert.throws(() => ownAppDir(root, ns, name), /cannot name a folder/, `${ns}/${name}`);
    }
    assert.equal(existsSync(join(root, "apps")), false);
  });
});

describe("the control plane's sources behind a WorkloadEntry", () => {
  let discovery: Discovery;
  let stateDir: string;
  before(async () => {
    const base = join(root, "mesh");
    stateDir = join(base, "state");
    mkdirSync(join(base, "config"), { recursive: true });
    mkdirSync(join(base, "extra"));
    writeFileSync(join(base, "config", "a.yaml"), we("from-folder", "127.0.9.1"));
    writeFileSync(join(base, "extra", "b.yaml"), we("from-file", "127.0.9.2"));
    writeFileSync(join(base, "applied.yaml"), we("from-apply", "127.0.9.3"));
    discovery = new Discovery({
      configPaths: [join(base, "config"), join(base, "extra", "b.yaml")],
      stateDir,
      secureXdsAddress: "",
      xdsAddress: "127.0.0.1:0",
      monitoringAddress: "",
      debounceQuietMs: 10,
      watch: false,
      log: () => {},
    });
    await discovery.start();
    const out: string[] = [];
    const code = await main(["apply", "-f", join(base, "applied.yaml"), "--state-dir", stateDir], (s) => out.push(s), (s) => out.push(s));
    assert.deepEqual([code, out], [0, ["workloadentry.networking.istio.io/from-apply created"]]);
  });
  after(async () => discovery?.close());

  it("file WorkloadEntries run beside their YAML, the applied one in STATE_DIR/apps/NAMESPACE/NAME", () => {
    const dirOf = (name: string) => {
      const source = discovery.store.sourceOf("WorkloadEntry", "default", name);
      assert.ok(source, name);
      return appWorkingDir({ configPath: discovery.configPathOf(source), stateDir, namespace: "default", name });
    };
    assert.equal(dirOf("from-folder"), join(root, "mesh", "config"));
    assert.equal(dirOf("from-file"), join(root, "mesh", "extra"));
    assert.equal(discovery.configPathOf("applied"), undefined);
    assert.equal(dirOf("from-apply"), join(stateDir, "apps", "default", "from-apply"));
  });
});
