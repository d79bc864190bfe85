// Istio's samples/jwt-server: an HTTP server answering every request with a JWKS, so a
// RequestAuthentication's jwksUri can point at a service inside the mesh (fetched through the mesh,
// as Istio's remote JWKS tests do). `?delay=DURATION` (Go syntax: `500ms`, `3s`) holds the answer,
// as the sample's, to exercise fetch time-outs. The JWKS served is the one Istio's security tasks
// use (security/tools/jwt/samples/jwks.json: demo.jwt and groups-scope.jwt verify against it)
// unless `--jwks FILE` names another. Listens on HOST (default 127.0.0.1), port 8000 or PORT.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseGoDuration } from "../core/go-duration.js";
import type { AppMain } from "./types.js";

/** The public key of Istio's security/tools/jwt/samples/key.pem. */
export const ISTIO_TASK_JWKS =
  '{"keys":[{"e":"AQAB","kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ","kty":"RSA","n":"xAE7eB6qugXyCAG3yhh7pkDkT65pHymX-P7KfIupjf59vsdo91bSP9C8H07pSAGQO1MV_xFj9VswgsCg4R6otmg5PV2He95lZdHtOcU5DXIg_pbhLdKXbi66GlVeK6ABZOUW3WYtnNHD-91gVuoeJT_DwtGGcp4ignkgXfkiEm4sw-4sfb4qdt5oLbyVpmW6x9cfa7vs2WTfURiCrBoUqgBo_-4WTiULmmHSGZHOjzwa8WtrtOQGsAFjIbno85jp6MnGGGZPYZbDAa_b3y5u-YpW7ypZrvD8BgtKVjgtQgZhLAGezMt0ua3DRrWnKqTZ0BJ_EyxOGuHJrLsn00fnMQ"}]}';

/** The longest `?delay=` honoured (the sample sleeps as long as asked; a test never needs more). */
const MAX_DELAY_MS = 60_000;

export const jwtServer: AppMain = async (ctx) => {
  let jwks = ISTIO_TASK_JWKS;
  const at = ctx.argv.indexOf("--jwks");
  if (at >= 0) {
    const file = ctx.argv[at + 1];
    if (!file) throw new Error("jwt-server: --jwks needs a file");
    jwks = readFileSync(file, "utf8");
    JSON.parse(jwks); // refuse a file that is not JSON at start, not on every request
  }
  const host = ctx.env.HOST || "127.0.0.1";
  const port = Number(ctx.env.PORT || "8000");
  const timers = new Set<NodeJS.Timeout>();
  const answer = (res: ServerResponse) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(jwks);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const delay = new URL(req.url ?? "/", "http://x").searchParams.get("delay");
    if (delay === null || delay === "") return answer(res);
    const ms = parseGoDuration(delay);
    if (ms === undefined || ms < 0) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("Invalid delay parameter");
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      if (!res.destroyed) answer(res);
    }, Math.min(ms, MAX_DELAY_MS));
    timers.add(t);
    res.on("close", () => {
      clearTimeout(t);
      timers.delete(t);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => resolve());
  });
  const a = server.address() as AddressInfo;
  ctx.log(`Starting HTTP server at ${a.address}:${a.port}`);
  return {
    addresses: [`${a.address}:${a.port}`],
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
