// `tsmesh app NAME [ARGS…]`: runs one of the bundled sample apps (Istio's bookinfo, httpbin,
// tcp-echo, ext-authz, rewritten in TypeScript) until SIGINT/SIGTERM. These are ordinary programs with no mesh
// code; `tsmesh up` starts them from a WorkloadEntry's tsmesh.io/command annotation.
import type { AppMain } from "../apps/types.js";

/** Each app's module is loaded only when run. */
export const SAMPLE_APPS: Readonly<Record<string, { about: string; load: () => Promise<AppMain> }>> = {
  productpage: { about: "bookinfo's product page (HTML; calls details and reviews)", load: async () => (await import("../apps/bookinfo/productpage.js")).productpage },
  details: { about: "bookinfo's book details", load: async () => (await import("../apps/bookinfo/details.js")).details },
  reviews: { about: "bookinfo's reviews (SERVICE_VERSION, ENABLE_RATINGS, STAR_COLOR; calls ratings)", load: async () => (await import("../apps/bookinfo/reviews.js")).reviews },
  ratings: { about: "bookinfo's ratings", load: async () => (await import("../apps/bookinfo/ratings.js")).ratings },
  httpbin: { about: "httpbin (/status/N, /headers, /delay/N, /get, /post, /ip…)", load: async () => (await import("../apps/httpbin/server.js")).httpbin },
  "ext-authz": { about: "Istio's sample external authorizer: HTTP check on 8000, gRPC v3 Authorization on 9000; allows `x-ext-authz: allow`", load: async () => (await import("../apps/ext-authz/server.js")).extAuthz },
  "jwt-server": { about: "Istio's jwt-server: serves the JWKS of Istio's security tasks (or `--jwks FILE`) on 8000, `?delay=` to slow it", load: async () => (await import("../apps/jwt-server.js")).jwtServer },
  "tcp-echo": { about: "Istio's tcp-echo-server: `tcp-echo PORTS PREFIX`, echoes each line with PREFIX", load: async () => (await import("../apps/tcp-echo.js")).tcpEcho },
};

export async function runApp(name: string, argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const entry = SAMPLE_APPS[name];
  if (!entry) {
    err(`tsmesh app: unknown app ${JSON.stringify(name)}; one of: ${Object.keys(SAMPLE_APPS).join(", ")}`);
    return 2;
  }
  const main = await entry.load();
  let app;
  try {
    app = await main({ argv, env: process.env, log: out });
  } catch (e) {
    err(`tsmesh app ${name}: ${(e as Error).message}`);
    return 1;
  }
  out(`tsmesh app ${name}: listening on ${app.addresses.join(", ")}`);
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  out(`tsmesh app ${name}: ${signal}, stopping`);
  await app.close();
  return 0;
}
