// ratings: Istio's bookinfo ratings service (samples/bookinfo/src/ratings/ratings.js), in
// TypeScript. `ratings PORT`; GET /ratings/<id> answers {"id":<id>,"ratings":{"Reviewer1":5,
// "Reviewer2":4}} (or what was POSTed for that id), POST /ratings/<id> stores a ratings JSON in
// memory, GET /health. SERVICE_VERSION selects the original's variants: v1 (default), v-faulty (half
// the requests fail with 503), v-delayed (half are delayed 7 s), v-unavailable (unavailable every
// other minute), v-unhealthy (unhealthy and unavailable every other 15 minutes). v2 is the
// database-backed version; no MongoDB/MySQL client is built in, so it answers as the original does
// when it cannot reach its database (500 "could not connect to ratings database").

import type http from "node:http";
import type { AppMain } from "../types.js";
import { json, serve, type Request, type Response } from "./common.js";

export const ratings: AppMain = async (ctx) => {
  const version = ctx.env.SERVICE_VERSION ?? "v1";
  const userAddedRatings = new Map<number, { id: number; ratings: unknown }>();
  const timers = new Set<NodeJS.Timeout>();
  let unavailable = false;
  let healthy = true;

  if (version === "v-unavailable") {
    timers.add(setInterval(() => (unavailable = !unavailable), 60_000));
  }
  if (version === "v-unhealthy") {
    timers.add(
      setInterval(() => {
        healthy = !healthy;
        unavailable = !unavailable;
      }, 900_000),
    );
  }

  const localRatings = (productId: number): unknown =>
    userAddedRatings.get(productId) ?? { id: productId, ratings: { Reviewer1: 5, Reviewer2: 4 } };
  const successful = (productId: number): Response => json(200, localRatings(productId));
  const serviceUnavailable = (): Response => json(503, { error: "Service unavailable" });

  const productIdOf = (path: string): number => parseInt(path.split("/").pop() ?? "", 10);

  const handler = (req: Request, raw: http.ServerResponse): Response | null => {
    const isRatings = /^\/ratings\/[0-9]*/.test(req.path);
    if (req.method === "POST" && isRatings) {
      const productId = productIdOf(req.path);
      if (Number.isNaN(productId)) return json(400, { error: "please provide numeric product ID" });
      let body: unknown;
      try {
        body = JSON.parse(req.body.toString("utf8")) as unknown;
      } catch {
        return json(400, { error: "please provide valid ratings JSON" });
      }
      if (version === "v2") return json(501, { error: "Post not implemented for database backed ratings" });
      userAddedRatings.set(productId, { id: productId, ratings: body });
      return successful(productId);
    }
    if (req.method === "GET" && isRatings) {
      const productId = productIdOf(req.path);
      if (Number.isNaN(productId)) return json(400, { error: "please provide numeric product ID" });
      if (version === "v2") return json(500, { error: "could not connect to ratings database" });
      if (version === "v-faulty") return Math.random() <= 0.5 ? serviceUnavailable() : successful(productId);
      if (version === "v-delayed" && Math.random() <= 0.5) {
        const t = setTimeout(() => {
          timers.delete(t);
          const out = successful(productId);
          if (raw.destroyed) return;
          raw.writeHead(out.status, out.headers);
          raw.end(out.body);
        }, 7000);
        timers.add(t);
        return null;
      }
      if ((version === "v-unavailable" || version === "v-unhealthy") && unavailable) return serviceUnavailable();
      return successful(productId);
    }
    if (req.method === "GET" && req.path === "/health") {
      return healthy ? json(200, { status: "Ratings is healthy" }) : json(500, { status: "Ratings is not healthy" });
    }
    return { status: 404, headers: { "content-type": "text/plain" }, body: "Page not found" };
  };

  return serve({
    ctx,
    defaultPort: 9080,
    portArg: true,
    handler,
    onClose: () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  });
};
