// productpage: Istio's bookinfo front end (samples/bookinfo/src/productpage/productpage.py and
// templates/productpage.html), in TypeScript. `productpage PORT` (else PORT, else 9080).
//
// Routes: `/` and `/index.html` (service table), `/productpage` (the HTML page), POST `/login`
// (form field `username`; sets cookie `user`, redirects back to the Referer), GET `/logout`,
// `/api/v1/products`, `/api/v1/products/<id>`, `/api/v1/products/<id>/reviews`,
// `/api/v1/products/<id>/ratings`, `/health`.
//
// Upstream calls go BY NAME to http://details:9080/details/<id> and http://reviews:9080/reviews/<id>
// (and ratings for the ratings API), through HTTP_PROXY when set, on a fresh connection each time
// (the original deliberately does not pool). Environment as the original: SERVICES_DOMAIN,
// DETAILS_HOSTNAME/DETAILS_SERVICE_PORT, REVIEWS_HOSTNAME/REVIEWS_SERVICE_PORT,
// RATINGS_HOSTNAME/RATINGS_SERVICE_PORT, FLOOD_FACTOR. Timeouts as the original: 3 s for each call;
// the reviews call is tried twice (3 s + 1 retry = 6 s, which Istio's fault-injection task relies
// on). The logged-in user travels upstream as `end-user`, with the tracing and context headers.

import type { AppMain } from "../types.js";
import {
  B3_HEADERS,
  HttpClient,
  PRODUCTPAGE_FORWARD_HEADERS,
  escapeHtml,
  isRecord,
  json,
  parseJson,
  pickHeaders,
  serve,
  type Request,
  type Response,
} from "./common.js";

export const DETAILS_ERROR = "Sorry, product details are currently unavailable for this book.";
export const REVIEWS_ERROR = "Sorry, product reviews are currently unavailable for this book.";
export const RATINGS_ERROR = "Sorry, product ratings are currently unavailable for this book.";

const UPSTREAM_TIMEOUT_MS = 3000;

interface Product {
  id: number;
  title: string;
  descriptionHtml: string;
}

function getProducts(): Product[] {
  return [
    {
      id: 0,
      title: "The Comedy of Errors",
      descriptionHtml:
        '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of Errors is one of <b>William Shakespeare\'s</b> early plays. It is his shortest and one of his most farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in addition to puns and word play.',
    },
  ];
}

interface ServiceNode {
  name: string;
  endpoint: string;
  children: ServiceNode[];
}

export interface ProductpageConfig {
  details: ServiceNode;
  reviews: ServiceNode;
  ratings: ServiceNode;
  productpage: ServiceNode;
  floodFactor: number;
}

export function productpageConfig(env: Readonly<Record<string, string | undefined>>): ProductpageConfig {
  const domain = env.SERVICES_DOMAIN === undefined ? "" : `.${env.SERVICES_DOMAIN}`;
  const base = (hostVar: string, def: string, portVar: string): string =>
    `http://${env[hostVar] ?? def}${domain}:${env[portVar] ?? "9080"}`;
  const details: ServiceNode = { name: base("DETAILS_HOSTNAME", "details", "DETAILS_SERVICE_PORT"), endpoint: "details", children: [] };
  const ratings: ServiceNode = { name: base("RATINGS_HOSTNAME", "ratings", "RATINGS_SERVICE_PORT"), endpoint: "ratings", children: [] };
  const reviews: ServiceNode = { name: base("REVIEWS_HOSTNAME", "reviews", "REVIEWS_SERVICE_PORT"), endpoint: "reviews", children: [ratings] };
  // The original names productpage after the details URL; kept for the index page's table.
  const productpage: ServiceNode = { name: details.name, endpoint: "details", children: [details, reviews] };
  const flood = Number.parseInt(env.FLOOD_FACTOR ?? "0", 10);
  return { details, reviews, ratings, productpage, floodFactor: Number.isFinite(flood) && flood > 0 ? flood : 0 };
}

// --- cookies ------------------------------------------------------------------------------------

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

function sessionUser(req: Request): string {
  return cookieValue(req.headers.cookie, "user") ?? "";
}

// --- HTML ---------------------------------------------------------------------------------------

const STYLE = `
body{font-family:"Helvetica Neue",Helvetica,Arial,sans-serif;font-size:14px;margin:0;color:#333}
.navbar{background:#222;color:#9d9d9d;padding:0 15px;min-height:50px;display:flex;align-items:center;justify-content:space-between}
.navbar a{color:#9d9d9d;text-decoration:none}.navbar-brand{font-size:18px}
.container-fluid{padding:0 15px}.row{display:flex;flex-wrap:wrap}.col-md-12{flex:0 0 100%}.col-md-6{flex:1 1 50%;box-sizing:border-box;padding:0 15px}
.text-center{text-align:center}.text-primary{color:#337ab7}
blockquote{padding:10px 20px;margin:0 0 20px;border-left:5px solid #eee}blockquote small{display:block;color:#777}
.glyphicon-star:before{content:"\\2605"}.glyphicon-star-empty:before{content:"\\2606"}
.modal{display:none;position:fixed;top:0;left:0;right:0;bottom:0;background:rgba(0,0,0,.5)}.modal:target{display:block}
.modal-dialog{background:#fff;width:400px;margin:60px auto;padding:15px;border-radius:6px}
table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
`;

function page(title: string, content: string): string {
  return `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${content}
</body>
</html>
`;
}

function renderReview(review: unknown): string {
  if (!isRecord(review)) return "";
  let out = `      <blockquote>
        <p>${escapeHtml(review.text)}</p>
        <small>${escapeHtml(review.reviewer)}</small>
`;
  const rating = review.rating;
  if (isRecord(rating)) {
    const stars = typeof rating.stars === "number" ? Math.trunc(rating.stars) : 0;
    if (stars) {
      out += `        <font color="${escapeHtml(rating.color)}">
          <!-- full stars: -->
`;
      for (let n = 0; n < stars; n++) out += `          <span class="glyphicon glyphicon-star"></span>\n`;
      out += `          <!-- empty stars: -->\n`;
      for (let n = 0; n < 5 - stars; n++) out += `          <span class="glyphicon glyphicon-star-empty"></span>\n`;
      out += `        </font>\n`;
    } else if (rating.error) {
      out += `        <p><i>${escapeHtml(rating.error)}</i></p>\n`;
    }
  }
  out += `      </blockquote>\n`;
  return out;
}

export function renderProductPage(args: {
  user: string;
  product: Product | undefined;
  detailsStatus: number;
  details: unknown;
  reviewsStatus: number;
  reviews: unknown;
}): string {
  const { user, product } = args;
  const details = isRecord(args.details) ? args.details : {};
  const reviews = isRecord(args.reviews) ? args.reviews : {};
  const nav = user
    ? `    <p class="navbar-text navbar-right">
      <i class="glyphicon glyphicon-user" aria-hidden="true"></i>
      <span style="padding-left: 5px;">${escapeHtml(user)} ( <a href="logout">sign out</a> )</span>
    </p>`
    : `    <a class="btn btn-default navbar-btn navbar-right" href="#login-modal">Sign in</a>`;

  let detailsHtml: string;
  if (args.detailsStatus === 200) {
    detailsHtml = `      <h4 class="text-center text-primary">Book Details</h4>
      <dl>
        <dt>Type:</dt>${escapeHtml(details.type)}
        <dt>Pages:</dt>${escapeHtml(details.pages)}
        <dt>Publisher:</dt>${escapeHtml(details.publisher)}
        <dt>Language:</dt>${escapeHtml(details.language)}
        <dt>ISBN-10:</dt>${escapeHtml(details["ISBN-10"])}
        <dt>ISBN-13:</dt>${escapeHtml(details["ISBN-13"])}
      </dl>
`;
  } else {
    detailsHtml = `      <h4 class="text-center text-primary">Error fetching product details!</h4>\n`;
    if (details.error !== undefined) detailsHtml += `      <p>${escapeHtml(details.error)}</p>\n`;
  }

  let reviewsHtml: string;
  if (args.reviewsStatus === 200) {
    reviewsHtml = `      <h4 class="text-center text-primary">Book Reviews</h4>\n`;
    const list = Array.isArray(reviews.reviews) ? (reviews.reviews as unknown[]) : [];
    for (const r of list) reviewsHtml += renderReview(r);
  } else {
    reviewsHtml = `      <h4 class="text-center text-primary">Error fetching product reviews!</h4>\n`;
    if (reviews.error !== undefined) reviewsHtml += `      <p>${escapeHtml(reviews.error)}</p>\n`;
  }

  const content = `<nav class="navbar navbar-inverse navbar-static-top">
  <div class="container">
    <div class="navbar-header">
      <a class="navbar-brand" href="#">BookInfo Sample</a>
    </div>
${nav}
  </div>
</nav>

<div id="login-modal" class="modal fade" role="dialog">
  <div class="modal-dialog">
    <div class="modal-content">
      <div class="modal-header">
        <a class="close" href="#">&times;</a>
        <h4 class="modal-title">Please sign in</h4>
      </div>
      <div class="modal-body">
        <form method="post" action='login' name="login_form">
          <p><input type="text" class="form-control" name="username" id="username" placeholder="User Name"></p>
          <p><input type="password" class="form-control" name="passwd" placeholder="Password"></p>
          <p>
            <button type="submit" class="btn btn-primary">Sign in</button>
            <a class="btn btn-default" href="#">Cancel</a>
          </p>
        </form>
      </div>
    </div>
  </div>
</div>

<div class="container-fluid">
  <div class="row">
    <div class="col-md-12">
      <h3 class="text-center text-primary">${escapeHtml(product?.title)}</h3>
      <p>Summary: ${product?.descriptionHtml ?? ""}</p>
    </div>
  </div>

  <div class="row">
    <div class="col-md-6">
${detailsHtml}    </div>

    <div class="col-md-6">
${reviewsHtml}    </div>
  </div>
</div>`;
  return page("Simple Bookstore App", content);
}

/** A json2html-style rendering of the service tree for the index page. */
function jsonTable(value: unknown): string {
  const attrs = `class="table table-condensed table-bordered table-hover"`;
  if (Array.isArray(value)) {
    if (value.length === 0) return "";
    if (value.every(isRecord)) {
      const keys = Object.keys(value[0]);
      const head = keys.map((k) => `<th>${escapeHtml(k)}</th>`).join("");
      const rows = value.map((v) => `<tr>${keys.map((k) => `<td>${jsonTable(v[k])}</td>`).join("")}</tr>`).join("");
      return `<table ${attrs}><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
    }
    return `<ul>${value.map((v) => `<li>${jsonTable(v)}</li>`).join("")}</ul>`;
  }
  if (isRecord(value)) {
    const rows = Object.entries(value).map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${jsonTable(v)}</td></tr>`);
    return `<table ${attrs}>${rows.join("")}</table>`;
  }
  return escapeHtml(value);
}

function renderIndex(serviceTree: ServiceNode): string {
  return page(
    "Simple Bookstore App",
    `    <p><h3>Hello! This is a simple bookstore application consisting of three services as shown below</h3></p>
    ${jsonTable(serviceTree)}
    <p><h4>Click on one of the links below to auto generate a request to the backend as a real user or a tester
    </h4></p>
    <p><a href="/productpage?u=normal">Normal user</a></p>
    <p><a href="/productpage?u=test">Test user</a></p>`,
  );
}

function redirect(location: string, extraHeaders: Record<string, string | string[]> = {}): Response {
  const href = escapeHtml(location);
  return {
    status: 302,
    headers: { "content-type": "text/html; charset=utf-8", location, ...extraHeaders },
    body: `<!doctype html>
<html lang=en>
<title>Redirecting...</title>
<h1>Redirecting...</h1>
<p>You should be redirected automatically to the target URL: <a href="${href}">${href}</a>. If not, click the link.
`,
  };
}

function html(status: number, body: string): Response {
  return { status, headers: { "content-type": "text/html; charset=utf-8" }, body };
}

const NOT_FOUND = html(
  404,
  `<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n`,
);
const METHOD_NOT_ALLOWED = html(
  405,
  `<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n`,
);

// --- app ----------------------------------------------------------------------------------------

interface Fetched {
  status: number;
  body: unknown;
}

export const productpage: AppMain = async (ctx) => {
  const cfg = productpageConfig(ctx.env);
  // "We intentionally do not pool so that we can easily test load distribution across many
  // versions of our backends": a fresh connection per upstream request.
  const client = new HttpClient(ctx.env, { connections: "fresh" });

  const forwardHeaders = (req: Request): Record<string, string> => {
    // B3 (the original re-injects the incoming B3 context), then end-user from the session, then
    // the listed incoming headers verbatim.
    const headers: Record<string, string> = pickHeaders(req.headers, B3_HEADERS);
    const user = sessionUser(req);
    if (user) headers["end-user"] = user;
    Object.assign(headers, pickHeaders(req.headers, PRODUCTPAGE_FORWARD_HEADERS));
    return headers;
  };

  /** One GET; a 200 with a JSON body is success, anything else (status, error, timeout) is not. */
  const fetchOnce = async (service: ServiceNode, productId: string, headers: Record<string, string>): Promise<Fetched | undefined> => {
    const url = `${service.name}/${service.endpoint}/${encodeURIComponent(productId)}`;
    try {
      const res = await client.get(url, { headers, timeoutMs: UPSTREAM_TIMEOUT_MS });
      if (res.status === 200) {
        const body = parseJson(res.body);
        if (body !== undefined) return { status: 200, body };
        ctx.log(`upstream ${url}: 200 with a body that is not JSON`);
        return { status: 500, body: undefined };
      }
      return { status: res.status, body: undefined };
    } catch (err) {
      ctx.log(`upstream ${url}: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  };

  const getProductDetails = async (productId: string, headers: Record<string, string>): Promise<Fetched> => {
    const r = await fetchOnce(cfg.details, productId, headers);
    if (r?.status === 200) return r;
    return { status: r?.status || 500, body: { error: DETAILS_ERROR } };
  };

  const getProductReviews = async (productId: string, headers: Record<string, string>): Promise<Fetched> => {
    // "Do not remove. Bug introduced explicitly for illustration in fault injection task":
    // two attempts, each with its own 3 s timeout.
    let r: Fetched | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      r = await fetchOnce(cfg.reviews, productId, headers);
      if (r?.status === 200) return r;
    }
    return { status: r?.status || 500, body: { error: REVIEWS_ERROR } };
  };

  const getProductRatings = async (productId: string, headers: Record<string, string>): Promise<Fetched> => {
    const r = await fetchOnce(cfg.ratings, productId, headers);
    if (r?.status === 200) return r;
    return { status: r?.status || 500, body: { error: RATINGS_ERROR } };
  };

  const apiJson = (f: Fetched): Response => json(f.status, f.body);

  const handler = async (req: Request): Promise<Response> => {
    const p = req.path;
    const isGet = req.method === "GET" || req.method === "HEAD";
    if (p === "/login") {
      if (req.method !== "POST") return METHOD_NOT_ALLOWED;
      const form = new URLSearchParams(req.body.toString("utf8"));
      const user = req.query.get("username") ?? form.get("username") ?? "";
      const back = typeof req.headers.referer === "string" && req.headers.referer !== "" ? req.headers.referer : "productpage";
      const cookie = user
        ? `user=${encodeURIComponent(user)}; Path=/`
        : "user=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/";
      return redirect(back, { "set-cookie": cookie });
    }
    if (!isGet) {
      const known = ["/", "/index.html", "/health", "/logout", "/productpage", "/api/v1/products"];
      return known.includes(p) || p.startsWith("/api/v1/products/") ? METHOD_NOT_ALLOWED : NOT_FOUND;
    }
    if (p === "/" || p === "/index.html") return html(200, renderIndex(cfg.productpage));
    if (p === "/health") return html(200, "Product page is healthy");
    if (p === "/logout") {
      const back = typeof req.headers.referer === "string" && req.headers.referer !== "" ? req.headers.referer : "productpage";
      return redirect(back, { "set-cookie": "user=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/" });
    }
    if (p === "/productpage") {
      const productId = 0;
      const headers = forwardHeaders(req);
      const details = await getProductDetails(String(productId), headers);
      if (cfg.floodFactor > 0) {
        await Promise.all(Array.from({ length: cfg.floodFactor }, () => getProductReviews(String(productId), headers)));
      }
      const reviews = await getProductReviews(String(productId), headers);
      return html(
        200,
        renderProductPage({
          user: sessionUser(req),
          product: getProducts()[productId],
          detailsStatus: details.status,
          details: details.body,
          reviewsStatus: reviews.status,
          reviews: reviews.body,
        }),
      );
    }
    if (p === "/api/v1/products") return json(200, getProducts());
    const m = /^\/api\/v1\/products\/([^/]+)(?:\/(reviews|ratings))?$/.exec(p);
    if (m) {
      const productId = decodeURIComponent(m[1]);
      const headers = forwardHeaders(req);
      if (m[2] === "reviews") return apiJson(await getProductReviews(productId, headers));
      if (m[2] === "ratings") return apiJson(await getProductRatings(productId, headers));
      return apiJson(await getProductDetails(productId, headers));
    }
    return NOT_FOUND;
  };

  return serve({ ctx, defaultPort: 9080, portArg: true, handler, onClose: () => client.close() });
};
