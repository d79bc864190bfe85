// A GET through a cluster's own HTTP/1.1 pool (the connection path the router uses), for tests of
// cluster-level accounting without a whole proxy: resolves with the response status.
import type { UpstreamCluster } from "../../../src/proxy/upstream/cluster.js";
import type { Host } from "../../../src/proxy/upstream/host.js";
import { BodyMode } from "../../../src/proxy/http1/request-head.js";
import type { H1Exchange } from "../../../src/proxy/upstream/h1-exchange.js";

export function poolGet(cluster: UpstreamCluster, host: Host, permit: { release(): void } = { release: () => {} }): Promise<number> {
  return new Promise((resolve, reject) => {
    cluster.h1Pool.request(
      host,
      { method: "GET", path: "/", authority: `${host.address}:${host.port}`, headers: {}, tryHeaders: [], upgrade: undefined, body: BodyMode.None },
      {
        connectFailed: (f) => reject(new Error(f.reason)),
        reset: () => reject(new Error("reset")),
        protocolError: () => reject(new Error("protocol error")),
        response: (ex: H1Exchange) => {
          const status = ex.status;
          ex.pipe({ data: () => true, end: () => resolve(status), reset: () => reject(new Error("broke off")) });
        },
      },
      permit,
    );
  });
}
