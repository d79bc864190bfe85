// The fixture of the adversarial HTTP/1 suites: one in-process proxy (static config: an HCM on
// PROXY_IP:PORT routing everything to a ScriptBackend, websocket upgrades allowed on /ws/) with its
// access log in a file, and raw exchanges: bytes in, everything that came back out, and whether the
// proxy closed the connection. Each suite file passes its own 127.0.N.x addresses.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProtoObject } from "../../../src/envoy/protos.js";
import { ProxyServer } from "../../../src/proxy/proxy.js";
import { httpListener, prefixRoute, staticCluster } from "../protocol-helpers.js";
import { ScriptBackend } from "../raw-backend.js";

export interface Addresses {
  proxyIp: string;
  backendIp: string;
  port: number;
  backendPort: number;
}

export class Http1Fixture {
  readonly backend: ScriptBackend;
  proxy!: ProxyServer;
  private readonly dir = mkdtempSync(join(tmpdir(), "tsmesh-http1-"));
  private readonly logFile = join(this.dir, "access.log");

  constructor(
    readonly a: Addresses,
    /** Extra HCM fields (decoded form), e.g. httpProtocolOptions. */
    private readonly hcm: ProtoObject = {},
    private readonly routeExtra: ProtoObject = {},
  ) {
    this.backend = new ScriptBackend(a.backendIp, a.backendPort);
  }

  async start(): Promise<void> {
    await this.backend.listen();
    const a = this.a;
    this.proxy = new ProxyServer({
      staticResources: {
        listeners: [
          httpListener("strict", a.proxyIp, a.port, [prefixRoute("/ws/", "main", { upgradeConfigs: [{ upgradeType: "websocket" }] }), prefixRoute("/", "main", this.routeExtra)], this.hcm),
        ],
        clusters: [staticCluster("main", a.backendIp, a.backendPort)],
      },
      node: { id: "test" },
      ip: a.proxyIp,
      accessLogPath: this.logFile,
      log: () => {},
    });
    await this.proxy.start();
  }

  async stop(): Promise<void> {
    await this.proxy.close();
    await this.backend.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  counter(name: string): number {
    return this.proxy.stats.counter(name).value;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  /**
   * Sends `bytes` (parts with a short pause between, to split writes) on a fresh connection and
   * collects what comes back until the proxy closes the connection or `quietMs` pass with nothing
   * new once `until` matched (or `timeoutMs` overall).
   */
  exchange(bytes: string | Buffer | Array<string | Buffer>, opts: { until?: RegExp; quietMs?: number; timeoutMs?: number } = {}): Promise<{ text: string; closed: boolean }> {
    const parts = Array.isArray(bytes) ? bytes : [bytes];
    const quiet = opts.quietMs ?? 150;
    return new Promise((resolve) => {
      const s = net.connect(this.a.port, this.a.proxyIp);
      let text = "";
      let closed = false;
      let quietTimer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(quietTimer);
        clearTimeout(overall);
        s.destroy();
        resolve({ text, closed });
      };
      const overall = setTimeout(finish, opts.timeoutMs ?? 5000);
      const armQuiet = () => {
        if (opts.until !== undefined && !opts.until.test(text)) return;
        clearTimeout(quietTimer);
        quietTimer = setTimeout(finish, quiet);
      };
      s.on("data", (c: Buffer) => {
        text += c.toString("latin1");
        armQuiet();
      });
      s.on("error", () => {});
      s.on("close", () => {
        closed = true;
        finish();
      });
      s.on("connect", async () => {
        for (let i = 0; i < parts.length; i++) {
          if (s.destroyed) return;
          s.write(parts[i]);
          if (i < parts.length - 1) await new Promise((r) => setTimeout(r, 20));
        }
        armQuiet();
      });
    });
  }
}

/** The status codes of every response head in `text`, in order (1xx included). */
export function statuses(text: string): number[] {
  return [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/g)].map((m) => Number(m[1]));
}
