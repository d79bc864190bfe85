// details: Istio's bookinfo details service (samples/bookinfo/src/details/details.rb), in
// TypeScript. `details PORT`; GET /details/<id> answers the fixed book details as JSON, GET /health
// answers {"status":"Details is healthy"}. The original's optional Google Books lookup
// (ENABLE_EXTERNAL_BOOK_SERVICE=true) is not implemented: the fixed details are always served.

import type { AppMain } from "../types.js";
import { json, serve, type Request, type Response } from "./common.js";

export function bookDetails(id: number): Record<string, unknown> {
  return {
    id,
    author: "William Shakespeare",
    year: 1595,
    type: "paperback",
    pages: 200,
    publisher: "PublisherA",
    language: "English",
    "ISBN-10": "1234567890",
    "ISBN-13": "123-1234567890",
  };
}

function handle(req: Request): Response {
  // WEBrick's mount_proc matches the mount point and everything under it.
  if (req.path === "/health" || req.path.startsWith("/health/")) {
    return json(200, { status: "Details is healthy" });
  }
  if (req.path === "/details" || req.path.startsWith("/details/")) {
    const last = req.path.split("/").filter((p) => p !== "").pop() ?? "";
    if (!/^[+-]?\d+$/.test(last)) return json(400, { error: "please provide numeric product id" });
    return json(200, bookDetails(Number(last)));
  }
  return { status: 404, headers: { "content-type": "text/html" }, body: "<HTML><BODY><H1>Not Found</H1></BODY></HTML>\n" };
}

export const details: AppMain = async (ctx) => {
  if (ctx.env.ENABLE_EXTERNAL_BOOK_SERVICE === "true") {
    ctx.log("ENABLE_EXTERNAL_BOOK_SERVICE=true is not supported; serving the built-in book details");
  }
  return serve({ ctx, defaultPort: 9080, portArg: true, handler: handle });
};
