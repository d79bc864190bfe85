// `tsmesh proxy --concurrency 2` with TLS secrets over ADS: the primary holds the ADS stream and the
// secrets and forwards them to its workers (IPC to its own children), which terminate the
// gateway's TLS with the credential and take a rotated one for new handshakes; /certs on the
// primary shows the contexts the workers serve. An in-test ADS server feeds the config.
// Addresses 127.0.135.1-2.
import assert from "node:assert/strict";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tls from "node:tls";
import { packageRoot } from "../../src/core/paths.js";
import { CLUSTER_TYPE, LISTENER_TYPE, type ProtoObject, SECRET_TYPE } from "../../src/envoy/protos.js";
import { eventually } from "../helpers/eventually.js";
import { Backend, request } from "../proxy/helpers.js";
import { httpListener, SDS_ADS, serialHex, staticCluster } from "../proxy/sds-pki.js";
import { pem } from "../proxy/upstream/tls-fixtures.js";
import { fullPush, Harness, type Snapshot } from "../xds/server/helpers.js";

const bin = join(packageRoot(), "dist/src/cli/bin.js");
const GW = "127.0.135.1";
const BACKEND = "127.0.135.2";

const serialOf = (crt: string) => serialHex(new X509Certificate(pem(crt)).serialNumber);

function snapshot(crt: string, key: string): Snapshot {
  const listener = httpListener("gw", "0.0.0.0", 8443, "backend", { commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: "kubernetes://gw-cred", sdsConfig: SDS_ADS }] } });
  const secret: ProtoObject = { name: "kubernetes://gw-cred", tlsCertificate: { certificateChain: { inlineBytes: pem(crt) }, privateKey: { inlineBytes: pem(key) } } };
  return {
    [CLUSTER_TYPE]: { backend: staticCluster("backend", BACKEND, 8080) },
    [LISTENER_TYPE]: { gw: listener },
    [SECRET_TYPE]: { "kubernetes://gw-cred": secret },
  };
}

/** A new TLS connection to the gateway and one request on it: the presented certificate's serial and the status. */
function viaGateway(): Promise<{ serial: string; status: string } | undefined> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: GW, port: 8443, servername: "gateway.example.com", rejectUnauthorized: false });
    let data = "";
    s.once("secureConnect", () => s.write(`GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`));
    s.on("data", (d: Buffer) => (data += d.toString()));
    s.once("end", () => resolve({ serial: serialHex(s.getPeerCertificate().serialNumber ?? ""), status: data.slice(9, 12) }));
    s.once("error", () => resolve(undefined));
  });
}

describe("tsmesh proxy --concurrency 2: secrets reach the workers", () => {
  let h: Harness;
  let child: ChildProcessWithoutNullStreams;
  let stdout = "";
  let stderr = "";
  let backend: Backend;
  let admin = "";

  before(async () => {
    backend = await Backend.start("backend", BACKEND, 8080);
    h = await Harness.start();
    h.server.setContext(fullPush(snapshot("server.crt", "server.key")));
    child = spawn(process.execPath, [bin, "proxy", "router", "--discovery-address", `127.0.0.1:${h.port}`, "--ip", GW, "--admin-port", "0", "--health-port", "0", "--access-log", "off", "--concurrency", "2"]);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    admin = await eventually("admin address", () => /admin (http:\/\/[\d.]+:\d+)/.exec(stdout)?.[1], 20_000);
    await eventually("ready", async () => (await request(`${admin}/ready`)).status === 200, 20_000);
  });

  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    await h.close();
    await backend.close();
  });

  it("every worker terminates TLS with the credential, takes the rotated one, and /certs shows it", async () => {
    // Several connections: the kernel spreads them over both workers.
    for (let i = 0; i < 6; i++) {
      const r = await eventually("a TLS answer", () => viaGateway(), 20_000);
      assert.deepEqual(r, { serial: serialOf("server.crt"), status: "200" }, stderr);
    }
    const certs = JSON.parse((await request(`${admin}/certs`)).body) as { certificates: Array<{ cert_chain: Array<{ serial_number: string; path: string }> }> };
    assert.deepEqual(certs.certificates.flatMap((c) => c.cert_chain.map((d) => [d.path, d.serial_number])), [["<inline>", serialOf("server.crt")]]);

    h.server.push(fullPush(snapshot("revoked.crt", "revoked.key")));
    const rotated = serialOf("revoked.crt");
    await eventually("the rotated credential", async () => (await viaGateway())?.serial === rotated, 20_000);
    for (let i = 0; i < 6; i++) assert.deepEqual(await viaGateway(), { serial: rotated, status: "200" }, "every worker has the new credential");
    const dump = (await request(`${admin}/config_dump`)).body;
    for (const f of ["server.key", "revoked.key"]) for (const line of pem(f).toString().split("\n")) if (line.length > 20 && !line.startsWith("-----")) assert.ok(!dump.includes(line), `no line of ${f} in the dump`);
  });
});
