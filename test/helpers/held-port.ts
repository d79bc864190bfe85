// A port held by the test (a listening socket that drops every connection): what a listener that
// must fail to bind (EADDRINUSE) is pointed at.
import * as net from "node:net";

export function holdPort(host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer((c) => c.destroy());
    s.once("error", reject);
    s.listen({ host, port: 0 }, () => resolve(s));
  });
}
