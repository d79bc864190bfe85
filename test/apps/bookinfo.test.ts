// Bookinfo in TypeScript, end to end on loopback: the four apps run in-process on 127.0.0.1 port 0
// and reach each other BY NAME through a tiny test HTTP proxy (HTTP_PROXY) that records the
// absolute-form requests it receives and forwards them to the app registered under that name.
// Each test builds its own little world so the slow one (reviews hangs: 3 s + 1 retry) runs
// alongside the others.
import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import { describe, it } from "node:test";
import { details } from "../../src/apps/bookinfo/details.js";
import { productpage, DETAILS_ERROR, REVIEWS_ERROR } from "../../src/apps/bookinfo/productpage.js";
import { ratings } from "../../src/apps/bookinfo/ratings.js";
import { reviews } from "../../src/apps/bookinfo/reviews.js";
import { HttpClient, HttpTimeoutError, noProxyMatches, proxyFor } from "../../src/apps/bookinfo/common.js";
import type { AppMain, RunningApp } from "../../src/apps/types.js";
import { REFUSED_ADDRESS } from "../helpers/sockets.js";

// --- helpers -----------------------------------------------------------------------------------

interface Recorded {
  method: string;
  /** The request target as received: absolute-form. */
  url: string;
  host: string;
  headers: http.IncomingHttpHeaders;
}

/** An HTTP proxy serving absolute-form requests, routing by host name to registered addresses. */
class TestProxy {
  readonly routes = new Map<string, string>();
  readonly log: Recorded[] = [];
  private readonly server: http.Server;
  address = "";

  constructor() {
    this.server = http.createServer((req, res) => {
      const target = req.url ?? "";
      this.log.push({ method: req.method ?? "", url: target, host: String(req.headers.host), headers: req.headers });
      let u: URL;
      try {
        u = new URL(target);
      } catch {
        res.writeHead(400).end("absolute-form required\n");
        return;
      }
      const to = this.routes.get(u.hostname);
      if (!to) {
        res.writeHead(503, { "content-type": "text/plain" }).end("no healthy upstream");
        return;
      }
      const [host, port] = to.split(":");
      const headers = { ...req.headers };
      delete headers["proxy-authorization"];
      const up = http.request({ host, port: Number(port), method: req.method, path: `${u.pathname}${u.search}`, headers, agent: false });
      up.on("response", (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on("error", () => {
        if (!res.headersSent) res.writeHead(503, { "content-type": "text/plain" }).end("upstream connect error");
        else res.destroy();
      });
      res.on("close", () => up.destroy());
      req.pipe(up);
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.address = `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    return this.address;
  }

  requestsFor(host: string): Recorded[] {
    return this.log.filter((r) => new URL(r.url).hostname === host);
  }

  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}

interface Started {
  app: RunningApp;
  addr: string;
  logs: string[];
}

async function start(main: AppMain, env: Record<string, string>, argv: string[] = []): Promise<Started> {
  const logs: string[] = [];
  const app = await main({ argv, env: { HOST: "127.0.0.1", PORT: "0", ...env }, log: (l) => logs.push(l) });
  return { app, addr: app.addresses[0], logs };
}

interface World {
  proxy: TestProxy;
  env: Record<string, string>;
  page: Started;
  apps: Started[];
  url: string;
  close(): Promise<void>;
}

/** ratings, details, reviews (one version), productpage, all behind the test proxy. */
async function world(opts: { reviewsVersion?: string; without?: string[] } = {}): Promise<World> {
  const proxy = new TestProxy();
  const env = { HTTP_PROXY: `http://${await proxy.start()}`, NO_PROXY: "localhost" };
  const apps: Started[] = [];
  const without = new Set(opts.without ?? []);
  if (!without.has("ratings")) {
    const s = await start(ratings, env, ["0"]);
    apps.push(s);
    proxy.routes.set("ratings", s.addr);
  }
  if (!without.has("details")) {
    const s = await start(details, env, ["0"]);
    apps.push(s);
    proxy.routes.set("details", s.addr);
  }
  if (!without.has("reviews")) {
    const s = await start(reviews, { ...env, SERVICE_VERSION: opts.reviewsVersion ?? "v1" });
    apps.push(s);
    proxy.routes.set("reviews", s.addr);
  }
  const page = await start(productpage, env, ["0"]);
  apps.push(page);
  return {
    proxy,
    env,
    page,
    apps,
    url: `http://${page.addr}`,
    async close() {
      await Promise.all(apps.map((a) => a.app.close()));
      await proxy.close();
    },
  };
}

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? "GET", headers: opts.headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

// --- tests -------------------------------------------------------------------------------------

describe("bookinfo apps", { concurrency: true }, () => {
  it("reviews v1 shows no stars, v2 black stars, v3 red stars", async () => {
    for (const [version, color] of [["v1", ""], ["v2", "black"], ["v3", "red"]] as const) {
      const w = await world({ reviewsVersion: version });
      try {
        const res = await request(`${w.url}/productpage`);
        assert.equal(res.status, 200);
        assert.match(res.body, /The Comedy of Errors/);
        assert.match(res.body, /Reviewer1/);
        assert.match(res.body, /Reviewer2/);
        assert.match(res.body, /An extremely entertaining play by Shakespeare/);
        assert.match(res.body, /<dt>Publisher:<\/dt>PublisherA/);
        assert.match(res.body, /<dt>ISBN-13:<\/dt>123-1234567890/);
        if (color === "") {
          assert.equal(count(res.body, "glyphicon glyphicon-star"), 0, version);
          assert.doesNotMatch(res.body, /<font color=/);
          assert.equal(w.proxy.requestsFor("ratings").length, 0, "v1 does not call ratings");
        } else {
          assert.equal(count(res.body, `<font color="${color}">`), 2, version);
          assert.doesNotMatch(res.body, new RegExp(`<font color="${color === "red" ? "black" : "red"}">`));
          // Reviewer1: 5 full; Reviewer2: 4 full + 1 empty.
          assert.equal(count(res.body, `<span class="glyphicon glyphicon-star"></span>`), 9);
          assert.equal(count(res.body, `<span class="glyphicon glyphicon-star-empty"></span>`), 1);
          const r = w.proxy.requestsFor("ratings");
          assert.equal(r.length, 1);
          assert.equal(r[0].url, "http://ratings:9080/ratings/0");
        }
        // productpage reached details and reviews by name, absolute-form, through the proxy.
        const d = w.proxy.requestsFor("details");
        assert.equal(d.length, 1);
        assert.equal(d[0].url, "http://details:9080/details/0");
        assert.equal(d[0].host, "details:9080");
        assert.equal(w.proxy.requestsFor("reviews")[0].url, "http://reviews:9080/reviews/0");
        assert.ok(w.page.logs.some((l) => l.startsWith("GET /productpage 200")), w.page.logs.join("\n"));
      } finally {
        await w.close();
      }
    }
  });

  it("login as jason sets the user cookie and upstream calls carry end-user: jason", async () => {
    const w = await world({ reviewsVersion: "v2" });
    try {
      const anon = await request(`${w.url}/productpage`);
      assert.match(anon.body, /href="#login-modal">Sign in/);
      assert.ok(w.proxy.log.every((r) => r.headers["end-user"] === undefined), "no end-user before login");

      const login = await request(`${w.url}/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", referer: `${w.url}/productpage` },
        body: "username=jason&passwd=",
      });
      assert.equal(login.status, 302);
      assert.equal(login.headers.location, `${w.url}/productpage`);
      const setCookie = login.headers["set-cookie"] ?? [];
      assert.ok(setCookie.some((c) => c.startsWith("user=jason")), String(setCookie));

      w.proxy.log.length = 0;
      const page = await request(`${w.url}/productpage`, { headers: { cookie: "user=jason" } });
      assert.equal(page.status, 200);
      assert.match(page.body, /jason \( <a href="logout">sign out<\/a> \)/);
      for (const host of ["details", "reviews", "ratings"]) {
        const calls = w.proxy.requestsFor(host);
        assert.equal(calls.length, 1, host);
        assert.equal(calls[0].headers["end-user"], "jason", host);
      }

      const logout = await request(`${w.url}/logout`, { headers: { cookie: "user=jason", referer: `${w.url}/productpage` } });
      assert.equal(logout.status, 302);
      assert.ok((logout.headers["set-cookie"] ?? []).some((c) => /^user=;.*Max-Age=0/.test(c)));
      assert.equal((await request(`${w.url}/login`)).status, 405);
    } finally {
      await w.close();
    }
  });

  it("details down: the page says so and still shows reviews", async () => {
    const w = await world({ reviewsVersion: "v3", without: ["details"] });
    try {
      w.proxy.routes.set("details", REFUSED_ADDRESS);
      const res = await request(`${w.url}/productpage`);
      assert.equal(res.status, 200);
      assert.match(res.body, /Error fetching product details!/);
      assert.ok(res.body.includes(DETAILS_ERROR));
      assert.match(res.body, /Book Reviews/);
      assert.equal(count(res.body, `<font color="red">`), 2);
      const api = await request(`${w.url}/api/v1/products/0`);
      assert.equal(api.status, 503);
      assert.deepEqual(JSON.parse(api.body), { error: DETAILS_ERROR });
    } finally {
      await w.close();
    }
  });

  it("reviews hangs: 3 s timeout, exactly 2 attempts, then the unavailable text", async () => {
    const w = await world({ without: ["reviews"] });
    let attempts = 0;
    const hanging = http.createServer(() => {
      attempts++; // never answers
    });
    await new Promise<void>((r) => hanging.listen(0, "127.0.0.1", r));
    w.proxy.routes.set("reviews", `127.0.0.1:${(hanging.address() as net.AddressInfo).port}`);
    try {
      const t0 = Date.now();
      const res = await request(`${w.url}/productpage`);
      const elapsed = Date.now() - t0;
      assert.equal(res.status, 200);
      assert.ok(res.body.includes(REVIEWS_ERROR));
      assert.match(res.body, /Error fetching product reviews!/);
      assert.match(res.body, /Book Details/);
      assert.equal(attempts, 2);
      assert.equal(w.proxy.requestsFor("reviews").length, 2);
      // Two tries of 3 s: below what a longer per-try timeout or a third try (9 s) would take.
      assert.ok(elapsed >= 5900 && elapsed < 9000, `took ${elapsed}ms, want ~6s`);
    } finally {
      hanging.closeAllConnections();
      await new Promise<void>((r) => hanging.close(() => r()));
      await w.close();
    }
  });

  it("reviews failing fast is retried once; the API reports the last status", async () => {
    const w = await world({ without: ["reviews"] });
    try {
      const res = await request(`${w.url}/api/v1/products/0/reviews`);
      assert.equal(res.status, 503);
      assert.deepEqual(JSON.parse(res.body), { error: REVIEWS_ERROR });
      assert.equal(w.proxy.requestsFor("reviews").length, 2);
    } finally {
      await w.close();
    }
  });

  it("ratings down: reviews v2/v3 say the ratings service is unavailable", async () => {
    const w = await world({ reviewsVersion: "v3", without: ["ratings"] });
    try {
      const res = await request(`${w.url}/productpage`);
      assert.equal(res.status, 200);
      assert.equal(count(res.body, "<p><i>Ratings service is currently unavailable</i></p>"), 2);
      assert.equal(count(res.body, "glyphicon glyphicon-star"), 0);
      const api = JSON.parse((await request(`${w.url}/api/v1/products/0/reviews`)).body) as { reviews: Array<{ rating: unknown }> };
      assert.deepEqual(api.reviews[0].rating, { error: "Ratings service is currently unavailable" });
    } finally {
      await w.close();
    }
  });

  it("propagates x-request-id, B3, W3C and end-user from productpage through reviews to ratings", async () => {
    const w = await world({ reviewsVersion: "v2" });
    const incoming = {
      "x-request-id": "req-123",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      tracestate: "congo=t61rcWkgMzE",
      b3: "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1",
      "x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7",
      "x-b3-spanid": "e457b5a2e4d86bd1",
      "x-b3-parentspanid": "05e3ac9a4f6e3b90",
      "x-b3-sampled": "1",
      "x-datadog-trace-id": "42",
      "x-ot-span-context": "ot",
      "user-agent": "curl/8.0",
      cookie: "user=jason",
    };
    try {
      const res = await request(`${w.url}/productpage`, { headers: incoming });
      assert.equal(res.status, 200);
      const expected: Record<string, string> = { ...incoming, "end-user": "jason" };
      for (const host of ["details", "reviews", "ratings"]) {
        const [call] = w.proxy.requestsFor(host);
        assert.ok(call, `${host} called`);
        for (const [k, v] of Object.entries(expected)) assert.equal(call.headers[k], v, `${host}: ${k}`);
      }
      // The end-user header productpage did not set itself is not forwarded from outside.
      w.proxy.log.length = 0;
      await request(`${w.url}/productpage`, { headers: { "end-user": "mallory" } });
      assert.equal(w.proxy.requestsFor("reviews")[0].headers["end-user"], undefined);
    } finally {
      await w.close();
    }
  });

  it("details, reviews, ratings and productpage APIs answer like the originals", async () => {
    const w = await world({ reviewsVersion: "v3" });
    const [rt, dt, rv] = w.apps;
    try {
      const d = await request(`http://${dt.addr}/details/0`);
      assert.equal(d.headers["content-type"], "application/json");
      assert.deepEqual(JSON.parse(d.body), {
        id: 0,
        author: "William Shakespeare",
        year: 1595,
        type: "paperback",
        pages: 200,
        publisher: "PublisherA",
        language: "English",
        "ISBN-10": "1234567890",
        "ISBN-13": "123-1234567890",
      });
      assert.equal((await request(`http://${dt.addr}/details/abc`)).status, 400);
      assert.deepEqual(JSON.parse((await request(`http://${dt.addr}/health`)).body), { status: "Details is healthy" });

      assert.deepEqual(JSON.parse((await request(`http://${rt.addr}/ratings/0`)).body), {
        id: 0,
        ratings: { Reviewer1: 5, Reviewer2: 4 },
      });
      const post = await request(`http://${rt.addr}/ratings/7`, { method: "POST", body: JSON.stringify({ Reviewer1: 1, Reviewer2: 2 }) });
      assert.equal(post.status, 200);
      assert.deepEqual(JSON.parse((await request(`http://${rt.addr}/ratings/7`)).body), { id: 7, ratings: { Reviewer1: 1, Reviewer2: 2 } });
      assert.equal((await request(`http://${rt.addr}/ratings/7`, { method: "POST", body: "{" })).status, 400);
      assert.deepEqual(JSON.parse((await request(`http://${rt.addr}/health`)).body), { status: "Ratings is healthy" });

      const r = JSON.parse((await request(`http://${rv.addr}/reviews/0`)).body) as Record<string, unknown>;
      assert.equal(r.id, "0");
      assert.equal(typeof r.podname, "string");
      assert.equal(r.clustername, "null");
      assert.deepEqual(r.reviews, [
        {
          reviewer: "Reviewer1",
          text: "An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!",
          rating: { stars: 5, color: "red" },
        },
        {
          reviewer: "Reviewer2",
          text: "Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.",
          rating: { stars: 4, color: "red" },
        },
      ]);
      assert.deepEqual(JSON.parse((await request(`http://${rv.addr}/health`)).body), { status: "Reviews is healthy" });

      const products = JSON.parse((await request(`${w.url}/api/v1/products`)).body) as Array<{ id: number; title: string }>;
      assert.equal(products[0].title, "The Comedy of Errors");
      assert.equal(JSON.parse((await request(`${w.url}/api/v1/products/0`)).body).publisher, "PublisherA");
      assert.deepEqual(JSON.parse((await request(`${w.url}/api/v1/products/0/ratings`)).body).ratings, { Reviewer1: 5, Reviewer2: 4 });
      assert.equal((await request(`${w.url}/health`)).body, "Product page is healthy");
      const index = await request(`${w.url}/`);
      assert.match(index.body, /simple bookstore application/);
      assert.match(index.body, /http:\/\/reviews:9080/);
      assert.equal((await request(`${w.url}/nope`)).status, 404);
    } finally {
      await w.close();
    }
  });

  it("service names and ports come from the environment as in the originals", async () => {
    const proxy = new TestProxy();
    const env = {
      HTTP_PROXY: `http://${await proxy.start()}`,
      SERVICES_DOMAIN: "bookinfo.svc",
      DETAILS_HOSTNAME: "dt",
      DETAILS_SERVICE_PORT: "9081",
      REVIEWS_HOSTNAME: "rv",
      REVIEWS_SERVICE_PORT: "9082",
      RATINGS_HOSTNAME: "rt",
      RATINGS_SERVICE_PORT: "9083",
    };
    const page = await start(productpage, env, ["0"]);
    const rev = await start(reviews, { ...env, SERVICE_VERSION: "v2" });
    proxy.routes.set("rv.bookinfo.svc", rev.addr);
    try {
      await request(`http://${page.addr}/productpage`);
      await request(`http://${page.addr}/api/v1/products/0/ratings`);
      const urls = proxy.log.map((r) => r.url);
      assert.ok(urls.includes("http://dt.bookinfo.svc:9081/details/0"), urls.join(" "));
      assert.ok(urls.includes("http://rv.bookinfo.svc:9082/reviews/0"), urls.join(" "));
      assert.ok(urls.includes("http://rt.bookinfo.svc:9083/ratings/0"), urls.join(" "));
    } finally {
      await Promise.all([page.app.close(), rev.app.close()]);
      await proxy.close();
    }
  });

  it("client: absolute-form through HTTP_PROXY, direct when NO_PROXY matches, per-call timeout", async () => {
    // A raw proxy that captures the exact request head.
    let head = "";
    const raw = net.createServer((sock) => {
      sock.once("data", (d) => {
        head = d.toString("latin1");
        sock.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
      });
    });
    await new Promise<void>((r) => raw.listen(0, "127.0.0.1", r));
    const rawPort = (raw.address() as net.AddressInfo).port;
    const direct = http.createServer((req, res) => res.end(`direct ${req.url}`));
    await new Promise<void>((r) => direct.listen(0, "127.0.0.1", r));
    const directPort = (direct.address() as net.AddressInfo).port;
    const hang = http.createServer(() => undefined);
    await new Promise<void>((r) => hang.listen(0, "127.0.0.1", r));
    const hangPort = (hang.address() as net.AddressInfo).port;
    const clients: HttpClient[] = [];
    try {
      const viaProxy = new HttpClient({ http_proxy: `127.0.0.1:${rawPort}`, HTTP_PROXY: "http://127.0.0.1:1" });
      clients.push(viaProxy);
      const res = await viaProxy.get("http://details:9080/details/0", { headers: { "x-request-id": "abc" } });
      assert.equal(res.body.toString(), "ok");
      const lines = head.split("\r\n");
      assert.equal(lines[0], "GET http://details:9080/details/0 HTTP/1.1");
      assert.ok(lines.includes("host: details:9080"), head);
      assert.ok(lines.includes("x-request-id: abc"), head);

      const bypass = new HttpClient({ HTTP_PROXY: `http://${REFUSED_ADDRESS}`, NO_PROXY: "example.com, 127.0.0.1" });
      clients.push(bypass);
      assert.equal((await bypass.get(`http://127.0.0.1:${directPort}/x?y=1`)).body.toString(), "direct /x?y=1");
      await assert.rejects(bypass.get("http://other.test:9080/"), /ECONNREFUSED/);

      const plain = new HttpClient({}, { connections: "keepalive" });
      clients.push(plain);
      assert.equal((await plain.get(`http://127.0.0.1:${directPort}/a`)).body.toString(), "direct /a");
      assert.equal((await plain.get(`http://127.0.0.1:${directPort}/b`)).body.toString(), "direct /b");

      const t0 = Date.now();
      await assert.rejects(plain.get(`http://127.0.0.1:${hangPort}/`, { timeoutMs: 200 }), HttpTimeoutError);
      assert.ok(Date.now() - t0 < 5000, "the 200 ms timeout, not some longer one");
    } finally {
      for (const c of clients) c.close();
      hang.closeAllConnections();
      direct.closeAllConnections();
      await Promise.all([raw, direct, hang].map((s) => new Promise<void>((r) => s.close(() => r()))));
    }
  });

  it("client: NO_PROXY and proxy variable precedence like curl", () => {
    const table: Array<[string, string, boolean]> = [
      ["details", "details", true],
      ["details", "DETAILS", true],
      ["details", "reviews,details", true],
      ["details", " reviews , details ", true],
      ["details", "reviews details", true],
      ["details", "detail", false],
      ["details", "", false],
      ["anything", "*", true],
      ["www.example.com", "example.com", true],
      ["www.example.com", ".example.com", true],
      ["example.com", ".example.com", true],
      ["badexample.com", "example.com", false],
      ["example.com.", "example.com", true],
      ["example.com", "www.example.com", false],
      ["127.0.0.1", "127.0.0.1", true],
      ["127.0.0.1", "127.0.0.0/8", true],
      ["10.1.2.3", "127.0.0.0/8", false],
      ["127.0.0.1", "0.0.1", false],
      ["[::1]", "::1", true],
      ["[::1]", "::/0", true],
      ["[2001:db8::5]", "2001:db8::/32", true],
      ["[2001:db9::5]", "2001:db8::/32", false],
      ["localhost", "localhost,127.0.0.1,::1", true],
      ["reviews", "localhost,127.0.0.1,::1", false],
    ];
    for (const [host, list, want] of table) {
      assert.equal(noProxyMatches(host, list), want, `${host} vs "${list}"`);
    }

    const u = new URL("http://reviews:9080/reviews/0");
    assert.equal(proxyFor(u, {}), null);
    assert.deepEqual(proxyFor(u, { HTTP_PROXY: "http://127.0.0.1:15001" }), { host: "127.0.0.1", port: 15001 });
    assert.deepEqual(proxyFor(u, { http_proxy: "http://127.0.0.2:1", HTTP_PROXY: "http://127.0.0.1:2" }), { host: "127.0.0.2", port: 1 });
    assert.deepEqual(proxyFor(u, { http_proxy: "", HTTP_PROXY: "http://127.0.0.1:2" }), { host: "127.0.0.1", port: 2 });
    assert.deepEqual(proxyFor(u, { ALL_PROXY: "127.0.0.3" }), { host: "127.0.0.3", port: 1080 });
    assert.deepEqual(proxyFor(u, { HTTP_PROXY: "http://u:p%40ss@[::1]:3128" }), {
      host: "::1",
      port: 3128,
      authorization: `Basic ${Buffer.from("u:p@ss").toString("base64")}`,
    });
    assert.equal(proxyFor(u, { HTTP_PROXY: "http://p:1", NO_PROXY: "reviews" }), null);
    // Lower-case no_proxy wins, even over a matching upper-case one.
    assert.notEqual(proxyFor(u, { HTTP_PROXY: "http://p:1", no_proxy: "details", NO_PROXY: "reviews" }), null);
    assert.equal(proxyFor(u, { HTTP_PROXY: "http://p:1", NO_PROXY: "*" }), null);
  });

  it("reviews reads SERVICE_VERSION / ENABLE_RATINGS / STAR_COLOR like its images", async () => {
    const proxy = new TestProxy();
    const env = { HTTP_PROXY: `http://${await proxy.start()}` };
    const rt = await start(ratings, env, ["0"]);
    proxy.routes.set("ratings", rt.addr);
    const started: Started[] = [rt];
    try {
      const cases: Array<[Record<string, string>, unknown]> = [
        [{ SERVICE_VERSION: "v1" }, undefined],
        [{ SERVICE_VERSION: "v2" }, { stars: 5, color: "black" }],
        [{ SERVICE_VERSION: "v3" }, { stars: 5, color: "red" }],
        [{ SERVICE_VERSION: "v2", ENABLE_RATINGS: "false" }, undefined],
        [{ SERVICE_VERSION: "v1", ENABLE_RATINGS: "TRUE", STAR_COLOR: "green" }, { stars: 5, color: "green" }],
      ];
      for (const [extra, want] of cases) {
        const rv = await start(reviews, { ...env, ...extra, HOSTNAME: "reviews-pod", CLUSTER_NAME: "c1" });
        started.push(rv);
        const body = JSON.parse((await request(`http://${rv.addr}/reviews/0`)).body) as {
          podname: string;
          clustername: string;
          reviews: Array<{ rating?: unknown }>;
        };
        assert.equal(body.podname, "reviews-pod");
        assert.equal(body.clustername, "c1");
        assert.deepEqual(body.reviews[0].rating, want, JSON.stringify(extra));
        assert.ok(rv.logs.some((l) => l.startsWith("GET /reviews/0 200")));
      }
    } finally {
      await Promise.all(started.map((s) => s.app.close()));
      await proxy.close();
    }
  });

  it("close() stops listening and ends open connections", async () => {
    const s = await start(ratings, {}, ["0"]);
    // An idle keep-alive connection must not keep close() waiting.
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get(`http://${s.addr}/health`, { agent }, (res) => {
        res.resume();
        res.on("end", resolve);
      }).on("error", reject);
    });
    const t0 = Date.now();
    await s.app.close();
    // Well under node's 5 s keep-alive timeout, which a close() that waited for the idle connection would take.
    assert.ok(Date.now() - t0 < 4000, `close took ${Date.now() - t0} ms`);
    await assert.rejects(request(`http://${s.addr}/health`), /ECONNREFUSED/);
    agent.destroy();
  });
});
