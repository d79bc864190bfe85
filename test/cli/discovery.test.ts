// `tsmesh discovery` as users run it: bookinfo loaded, ADS served, monitoring endpoints with
// istiod's names, a config dump per proxy, a bad edit reported with file and field, SIGTERM exits 0.
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { packageRoot } from "../../src/core/paths.js";
import { eventually } from "../helpers/eventually.js";

const bin = join(packageRoot(), "dist/src/cli/bin.js");

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

describe("tsmesh discovery", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-discovery-"));
  let child: ChildProcessWithoutNullStreams;
  let stdout = "";
  let stderr = "";
  let mon = "";
  before(async () => {
    cpSync(join(packageRoot(), "examples", "bookinfo"), join(dir, "config"), { recursive: true });
    const [xds, monitoring, secure] = [await freePort(), await freePort(), await freePort()];
    mon = `http://127.0.0.1:${monitoring}`;
    child = spawn(process.execPath, [
      bin,
      "discovery",
      "--config",
      join(dir, "config"),
      "--xds-address",
      `127.0.0.1:${xds}`,
      "--monitoring-address",
      `127.0.0.1:${monitoring}`,
      "--secure-xds-address",
      `127.0.0.1:${secure}`,
      "--state-dir",
      join(dir, "state"),
    ]);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    await eventually("/ready", async () => (await fetch(`${mon}/ready`)).ok);
  });
  after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints what it loaded and where it serves", () => {
    assert.match(stdout, /5 services, 1 virtual services, 4 destination rules/);
    assert.match(stdout, /xDS \(ADS, SotW \+ Delta\) on 127\.0\.0\.1:\d+/);
    assert.match(stdout, /monitoring on http:\/\/127\.0\.0\.1:\d+/);
    assert.match(stdout, /xDS and CA \(IstioCertificateService\) over TLS on 127\.0\.0\.1:\d+, trust domain cluster\.local/);
    assert.ok(stdout.includes(`mesh root bundle in ${join(dir, "state", "istio-ca-root-cert.pem")}`), stdout);
    assert.match(readFileSync(join(dir, "state", "istio-ca-root-cert.pem"), "utf8"), /BEGIN CERTIFICATE/);
  });

  it("serves /metrics with istiod's metric names", async () => {
    const text = await (await fetch(`${mon}/metrics`)).text();
    for (const name of ["pilot_xds", "pilot_services", "pilot_virt_services"]) assert.match(text, new RegExp(`^# TYPE ${name} `, "m"), name);
    assert.match(text, /^pilot_services 5$/m);
    assert.match(text, /^citadel_server_csr_count 0$/m);
    assert.match(text, /^citadel_server_root_cert_expiry_timestamp \d+$/m);
  });

  it("dumps the config a proxy would receive, in Envoy's ConfigDump layout", async () => {
    const id = "router~127.0.1.1~istio-ingressgateway.istio-system~istio-system.svc.cluster.local";
    const dump = (await (await fetch(`${mon}/debug/config_dump?proxyID=${encodeURIComponent(id)}`)).json()) as {
      configs: Array<Record<string, unknown> & { "@type": string }>;
    };
    const types = dump.configs.map((c) => c["@type"].split(".").at(-1));
    assert.deepEqual(types, ["ClustersConfigDump", "ListenersConfigDump", "RoutesConfigDump", "EndpointsConfigDump", "SecretsConfigDump"]);
    const text = JSON.stringify(dump);
    assert.match(text, /"name":"0\.0\.0\.0_8080"/, "the gateway listener from bookinfo-gateway.yaml");
    assert.match(text, /"route_config_name":"http\.8080"/, "proto JSON with the .proto field names, as Envoy's admin prints it");
    assert.match(text, /outbound\|9080\|\|productpage\.default\.svc\.cluster\.local/);
    assert.match(text, /"address":"127\.0\.2\.1"/, "productpage's endpoint");
    const bad = await fetch(`${mon}/debug/config_dump?proxyID=nonsense`);
    assert.equal(bad.status, 404);
    assert.match(await bad.text(), /TYPE~IP~NAME\.NAMESPACE/);
  });

  it("reports a bad edit with file, resource and field, and keeps serving the last good config", async () => {
    writeFileSync(join(dir, "config", "bad.yaml"), "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: broken }\nspec:\n  hosts: [reviews]\n  http: [{ route: [{ destination: { host: reviews }, weight: -5 }] }]\n");
    await eventually("the error on stderr", () => /bad\.yaml:6:54 VirtualService default\/broken: spec\.http\[0\]\.route\[0\]\.weight/.test(stderr));
    assert.match(stderr, /TSMESH_/);
    assert.ok((await fetch(`${mon}/ready`)).ok);
    const text = await (await fetch(`${mon}/metrics`)).text();
    assert.match(text, /^pilot_total_rejected_configs 1$/m);
  });

  it("exits 0 on SIGTERM", async () => {
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.match(stdout, /SIGTERM, shutting down/);
  });
});

describe("tsmesh discovery usage errors", () => {
  it("exits 2 without --config and for a missing folder", async () => {
    for (const args of [["discovery"], ["discovery", "--config", "/nonexistent/tsmesh"]]) {
      const child = spawn(process.execPath, [bin, ...args]);
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      assert.equal(code, 2, err);
      assert.match(err, /--config/);
    }
  });

  it("exits 2 for a missing --cacerts folder, an unknown --ca-key-type or --jwks-fetch-mode", async () => {
    const examples = join(packageRoot(), "examples", "bookinfo");
    for (const [args, want] of [
      [["--cacerts", "/nonexistent/cacerts"], /--cacerts \/nonexistent\/cacerts: no such folder/],
      [["--ca-key-type", "DSA"], /--ca-key-type must be EC or RSA/],
      [["--jwks-fetch-mode", "proxy"], /--jwks-fetch-mode "proxy": use hybrid, istiod or envoy/],
    ] as const) {
      const child = spawn(process.execPath, [bin, "discovery", "--config", examples, "--state-dir", "/nonexistent/state", ...args]);
      let err = "";
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      assert.equal(code, 2, err);
      assert.match(err, want);
    }
  });
});
