// bench:proxy's backend (a child role: the entry file run with `--backend [IP PORT]`): node:http
// answering every request with 200 and a fixed 1 KB body (content-length, keep-alive never timed
// out), the same process behind every configuration. Prints `port N` once listening.
import { createServer as createHttpServer } from "node:http";
import { BACKEND_IP, BODY_BYTES } from "./settings.js";

export function runBackend(ip = BACKEND_IP, port = 0): void {
  const body = Buffer.alloc(BODY_BYTES, "x");
  const server = createHttpServer((req, res) => {
    req.resume();
    res.writeHead(200, { "content-type": "text/plain", "content-length": BODY_BYTES });
    res.end(body);
  });
  server.keepAliveTimeout = 0; // never close an idle keep-alive connection
  server.requestTimeout = 0;
  server.listen(port, ip, () => {
    const a = server.address();
    process.stdout.write(`port ${typeof a === "object" && a ? a.port : 0}\n`);
  });
  process.on("SIGTERM", () => process.exit(0));
}

