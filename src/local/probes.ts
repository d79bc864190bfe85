// Readiness probes of `tsmesh up` (workloads, Prometheus): an HTTP status, a TCP connect, a pause
// between polls. Each is bounded in time; none throws.
import { request } from "node:http";
import { connect } from "node:net";

/** GET url → status code, or 0 when it cannot connect. */
export function httpStatus(url: string, timeoutMs = 1000): Promise<number> {
  return new Promise((done) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => done(0));
    req.end();
  });
}

/** Whether a TCP connection to host:port succeeds within timeoutMs. */
export function canConnect(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host, port, timeout: timeoutMs });
    s.once("connect", () => {
      s.destroy();
      done(true);
    });
    s.once("timeout", () => {
      s.destroy();
      done(false);
    });
    s.once("error", () => done(false));
  });
}

/** A pause between polls. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
