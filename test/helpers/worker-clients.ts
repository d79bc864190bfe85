// Keep-alive client connections to a `tsmesh proxy --concurrency N` and the worker process serving
// each (read from /proc): tests of proxy-wide limits put requests on chosen workers.
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { socketOwner } from "./sockets.js";

export interface Answer {
  status: number;
  body: string;
}

/** A keep-alive client connection to the proxy, and the worker process that serves it. */
export class Client {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly ip: string,
    private readonly port: number,
  ) {}
  localPort = 0;
  worker: number | undefined;
  private current: http.ClientRequest | undefined;

  get(path: string, timeoutMs = 15_000): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: this.ip, port: this.port, path, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      });
      this.current = req;
      req.on("socket", (s: Socket) => {
        const note = () => (this.localPort = (s.address() as AddressInfo).port);
        if (s.connecting) s.once("connect", note);
        else note();
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer for ${path}`)));
      req.on("error", reject);
      req.end();
    });
  }

  /** Abandons the request in flight (the client goes away). */
  abort(): void {
    this.current?.destroy();
  }

  close(): void {
    this.agent.destroy();
  }
}


/**
 * New client connections until `n` are served by each worker (node:cluster hands connections
 * round-robin); each first asks `probe` (a path the proxy answers `probeStatus` to). The clients are
 * also pushed to `all` (to close them after the test).
 */
export async function clientsOnEachWorker(workers: readonly number[], ip: string, port: number, n: number, all: Client[], probe = "/ping", probeStatus = 404): Promise<Client[][]> {
  const by = new Map<number, Client[]>(workers.map((w) => [w, []]));
  for (let i = 0; i < 8 * n && [...by.values()].some((l) => l.length < n); i++) {
    const c = new Client(ip, port);
    all.push(c);
    assert.equal((await c.get(probe)).status, probeStatus, "the probe's answer");
    c.worker = socketOwner(workers, { address: ip, port }, { address: "127.0.0.1", port: c.localPort }) ?? socketOwner(workers, { address: ip, port }, { address: ip, port: c.localPort });
    assert.ok(c.worker !== undefined, "a worker serves the connection");
    by.get(c.worker)!.push(c);
  }
  const lists = [...by.values()];
  assert.ok(lists.every((l) => l.length >= n), `connections on every worker: ${lists.map((l) => l.length).join(", ")}`);
  return lists.map((l) => l.slice(0, n));
}
