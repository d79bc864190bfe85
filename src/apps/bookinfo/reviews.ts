// reviews: Istio's bookinfo reviews service (samples/bookinfo/src/reviews, LibertyRestEndpoint.java),
// in TypeScript. GET /reviews/<id> answers two reviews; with ratings enabled it first calls
// `http://ratings:9080/ratings/<id>` by name (through HTTP_PROXY when set), forwarding the tracing
// and context headers, and adds {"stars","color"} per reviewer, or {"error":"Ratings service is
// currently unavailable"} when ratings fails. GET /health.
//
// Environment, as the original image and Deployments set it:
//   SERVICE_VERSION  v1 | v2 | v3 (default v1)
//   ENABLE_RATINGS   "true" enables the ratings call. Unset: what the version's image bakes in
//                    (v1 false, v2/v3 true).
//   STAR_COLOR       star colour. Unset: the image's (v2 black, v3 red, else black).
//   RATINGS_HOSTNAME, SERVICES_DOMAIN, RATINGS_SERVICE_PORT  where ratings is (ratings, none, 9080)
//   HOSTNAME, CLUSTER_NAME  echoed as "podname" / "clustername"
// The ratings call times out (connect/receive) after 10 s when the stars are black, 2.5 s otherwise.
// Listens on PORT, default 9080 (the Liberty server's port).

import os from "node:os";
import type { AppMain } from "../types.js";
import { HttpClient, REVIEWS_FORWARD_HEADERS, isRecord, json, parseJson, pickHeaders, serve, type Request, type Response } from "./common.js";

const REVIEW1 = "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!";
const REVIEW2 = "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.";

export interface ReviewsConfig {
  version: string;
  ratingsEnabled: boolean;
  starColor: string;
  ratingsService: string;
  ratingsTimeoutMs: number;
  podname: string;
  clustername: string;
}

export function reviewsConfig(env: Readonly<Record<string, string | undefined>>): ReviewsConfig {
  const version = env.SERVICE_VERSION ?? "v1";
  // Build-arg defaults of the per-version images (examples-bookinfo-reviews-v1/v2/v3).
  const imageEnableRatings = version === "v2" || version === "v3";
  const imageStarColor = version === "v3" ? "red" : "black";
  const enable = env.ENABLE_RATINGS;
  // Java's Boolean.valueOf: true only for "true", ignoring case.
  const ratingsEnabled = enable === undefined ? imageEnableRatings : enable.toLowerCase() === "true";
  const starColor = env.STAR_COLOR ?? imageStarColor;
  const domain = env.SERVICES_DOMAIN === undefined ? "" : `.${env.SERVICES_DOMAIN}`;
  const host = env.RATINGS_HOSTNAME ?? "ratings";
  const port = env.RATINGS_SERVICE_PORT ?? "9080";
  return {
    version,
    ratingsEnabled,
    starColor,
    ratingsService: `http://${host}${domain}:${port}/ratings`,
    ratingsTimeoutMs: starColor === "black" ? 10_000 : 2_500,
    podname: env.HOSTNAME ?? os.hostname(),
    // The original concatenates the Java null, so an unset CLUSTER_NAME reads "null".
    clustername: env.CLUSTER_NAME ?? "null",
  };
}

export const reviews: AppMain = async (ctx) => {
  const cfg = reviewsConfig(ctx.env);
  // The original builds a new JAX-RS client per call: no pooling across calls.
  const client = new HttpClient(ctx.env, { connections: "fresh" });

  const getRatings = async (productId: string, req: Request): Promise<Record<string, unknown> | null> => {
    const url = `${cfg.ratingsService}/${productId}`;
    try {
      const headers = { accept: "application/json", ...pickHeaders(req.headers, REVIEWS_FORWARD_HEADERS) };
      const res = await client.get(url, { headers, timeoutMs: cfg.ratingsTimeoutMs });
      if (res.status !== 200) {
        ctx.log(`Error: unable to contact ${cfg.ratingsService} got status of ${res.status}`);
        return null;
      }
      const body = parseJson(res.body);
      if (!isRecord(body)) {
        ctx.log(`Error: unable to contact ${cfg.ratingsService} got a response that is not a JSON object`);
        return null;
      }
      return body;
    } catch (err) {
      ctx.log(`Error: unable to contact ${cfg.ratingsService} got exception ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
  };

  const rating = (stars: number): Record<string, unknown> =>
    stars !== -1 ? { stars, color: cfg.starColor } : { error: "Ratings service is currently unavailable" };

  const handler = async (req: Request): Promise<Response> => {
    if (req.method === "GET" && req.path === "/health") return json(200, { status: "Reviews is healthy" });
    const m = /^\/reviews\/(-?\d+)$/.exec(req.path);
    if (req.method !== "GET" || !m || !Number.isSafeInteger(Number(m[1])) || Math.abs(Number(m[1])) > 2 ** 31 - 1) {
      return { status: 404, headers: { "content-type": "text/plain" }, body: "Not Found" };
    }
    const productId = String(Number(m[1]));
    let stars1 = -1;
    let stars2 = -1;
    if (cfg.ratingsEnabled) {
      const res = await getRatings(productId, req);
      const r = res?.ratings;
      if (isRecord(r)) {
        if (typeof r.Reviewer1 === "number") stars1 = Math.trunc(r.Reviewer1);
        if (typeof r.Reviewer2 === "number") stars2 = Math.trunc(r.Reviewer2);
      }
    }
    const review1: Record<string, unknown> = { reviewer: "Reviewer1", text: REVIEW1 };
    const review2: Record<string, unknown> = { reviewer: "Reviewer2", text: REVIEW2 };
    if (cfg.ratingsEnabled) {
      review1.rating = rating(stars1);
      review2.rating = rating(stars2);
    }
    return json(200, { id: productId, podname: cfg.podname, clustername: cfg.clustername, reviews: [review1, review2] });
  };

  return serve({ ctx, defaultPort: 9080, portArg: false, handler, onClose: () => client.close() });
};
