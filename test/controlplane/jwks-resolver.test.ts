// istiod's JWKS resolver against real local HTTP servers: a push never waits (the fail-closed JWKS
// is answered at once, even while the server hangs), slow / down / oversized / non-JWKS / non-2xx
// answers fail with a reason and keep the fail-closed JWKS (or the last good one), a server that
// recovers or whose keys change triggers a push, a reordered key set does not, link-local hosts are
// refused, redirects are followed.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { blockedAddress, fetchBounded } from "../../src/controlplane/jwks-fetch.js";
import { checkJwksFormat, jwksDiffer, JwksResolver } from "../../src/controlplane/jwks-resolver.js";
import { PUBLIC_ONLY_JWKS } from "../../src/xds/gen/authn.js";

const KEY_A = { kty: "RSA", kid: "a", e: "AQAB", n: "0xObjM0U" };
const KEY_B = { kty: "RSA", kid: "b", e: "AQAB", n: "xAE7eB6q" };
const jwks = (...keys: object[]) => JSON.stringify({ keys });

const servers: Server[] = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ base: string; hits: () => number }> {
  let hits = 0;
  const s = createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return { base: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hits: () => hits };
}

/** Resolves on the next call of the returned callback (generous bound: the machine is shared). */
function nextCall<T>(): { fn: (v: T) => void; next: () => Promise<T> } {
  let waiters: Array<(v: T) => void> = [];
  return {
    fn: (v) => {
      const w = waiters;
      waiters = [];
      for (const r of w) r(v);
    },
    next: () =>
      new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no call within 20 s")), 20_000);
        waiters.push((v) => {
          clearTimeout(t);
          resolve(v);
        });
      }),
  };
}

describe("JwksResolver failures", () => {
  it("a server that never answers: localJwks answers the fail-closed JWKS at once; the fetch fails at its timeout", async () => {
    const { base } = await serve(() => {
      /* hold the request */
    });
    const r = new JwksResolver({ refreshRetries: 0, refreshIntervalMs: 3_600_000 });
    try {
      assert.equal(r.localJwks("iss", `${base}/jwks`, 300), PUBLIC_ONLY_JWKS);
      assert.equal(r.status("iss", `${base}/jwks`)?.state, "pending");
      const st = await r.check("iss", `${base}/jwks`, 300);
      assert.equal(st.state, "failed");
      assert.match(st.error ?? "", /no complete answer within/);
    } finally {
      r.close();
    }
  });

  const table: Array<{ name: string; handler: (req: IncomingMessage, res: ServerResponse) => void; error: RegExp }> = [
    { name: "non-2xx (Istio's message)", handler: (_q, s) => s.writeHead(503).end("upstream down"), error: /status 503, message "upstream down"/ },
    { name: "not JSON", handler: (_q, s) => s.end("<html>"), error: /not a valid JWKS: not valid JSON/ },
    { name: "JSON without keys", handler: (_q, s) => s.end('{"secret":"x"}'), error: /missing "keys" field/ },
    { name: "declared too big", handler: (_q, s) => s.end("x".repeat(5000)), error: /response of 5000 bytes is larger than 1000/ },
    {
      name: "streamed too big (no content-length)",
      handler: (_q, s) => {
        s.writeHead(200, { "transfer-encoding": "chunked" });
        for (let i = 0; i < 10; i++) s.write("y".repeat(500));
        s.end();
      },
      error: /response is larger than 1000 bytes/,
    },
  ];
  for (const c of table) {
    it(c.name, async () => {
      const { base } = await serve(c.handler);
      const lines: string[] = [];
      const r = new JwksResolver({ refreshRetries: 0, maxBytes: 1000, refreshIntervalMs: 3_600_000, log: (l) => lines.push(l) });
      try {
        const st = await r.check("iss", `${base}/jwks`, 5_000);
        assert.equal(st.state, "failed");
        assert.match(st.error ?? "", c.error);
        assert.equal(r.localJwks("iss", `${base}/jwks`, 5_000), PUBLIC_ONLY_JWKS);
        assert.match(lines.join("\n"), /failed to fetch the JWKS of issuer "iss".*tokens of this issuer are rejected/);
      } finally {
        r.close();
      }
    });
  }

  it("a server that is down (connection refused)", async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    const r = new JwksResolver({ refreshRetries: 0, refreshIntervalMs: 3_600_000 });
    try {
      const st = await r.check("iss", `http://127.0.0.1:${port}/jwks`, 5_000);
      assert.equal(st.state, "failed");
      assert.match(st.error ?? "", /ECONNREFUSED/);
    } finally {
      r.close();
    }
  });

  it("link-local hosts are refused before any connection (cloud metadata)", async () => {
    await assert.rejects(fetchBounded("http://169.254.169.254/latest/meta-data", 1_000), /connection blocked/);
    await assert.rejects(fetchBounded("ftp://example.com/jwks", 1_000), /URI scheme "ftp" is not supported/);
    assert.equal(blockedAddress("fe80::1"), true);
    assert.equal(blockedAddress("::ffff:169.254.1.1"), true);
    assert.equal(blockedAddress("127.0.0.1"), false);
  });

  it("redirects are followed (as Go's client)", async () => {
    const { base } = await serve((req, res) => {
      if (req.url === "/old") res.writeHead(302, { location: "/new" }).end();
      else res.end(jwks(KEY_A));
    });
    assert.equal(await fetchBounded(`${base}/old`, 5_000), jwks(KEY_A));
  });
});

describe("JwksResolver refresh and pushes", () => {
  it("changed keys push; the same keys reordered do not; a failed refresh keeps the last good JWKS", async () => {
    let body = jwks(KEY_A);
    let status = 200;
    const { base, hits } = await serve((_q, s) => s.writeHead(status).end(body));
    const calls = nextCall<ReadonlyArray<{ issuer: string; jwksUri: string }>>();
    let changes = 0;
    const r = new JwksResolver({
      refreshIntervalMs: 50,
      refreshIntervalOnFailureMs: 50,
      refreshRetries: 0,
      onChange: (c) => {
        changes++;
        calls.fn(c);
      },
    });
    const uri = `${base}/jwks`;
    try {
      const first = calls.next();
      assert.equal(r.localJwks("iss", uri, 5_000), PUBLIC_ONLY_JWKS);
      assert.deepEqual(await first, [{ issuer: "iss", jwksUri: uri }]);
      assert.equal(r.localJwks("iss", uri, 5_000), jwks(KEY_A));

      const second = calls.next();
      body = jwks(KEY_A, KEY_B);
      await second;
      assert.equal(r.localJwks("iss", uri, 5_000), jwks(KEY_A, KEY_B));

      // Same keys, other order and spacing: refreshed, not pushed.
      const before = changes;
      body = JSON.stringify({ keys: [KEY_B, KEY_A] }, null, 1);
      const seen = hits();
      while (hits() < seen + 3) await new Promise((res) => setTimeout(res, 20));
      assert.equal(changes, before);

      // The server fails: the last good JWKS stays; it recovers with new keys: pushed.
      status = 500;
      const failedAt = hits();
      while (hits() < failedAt + 2) await new Promise((res) => setTimeout(res, 20));
      assert.equal(r.status("iss", uri)?.state, "failed");
      assert.equal(r.localJwks("iss", uri, 5_000), JSON.stringify({ keys: [KEY_B, KEY_A] }, null, 1));
      const recovered = calls.next();
      body = jwks(KEY_B);
      status = 200;
      await recovered;
      assert.equal(r.localJwks("iss", uri, 5_000), jwks(KEY_B));
    } finally {
      r.close();
    }
  });

  it("a server down at first is retried in the background and pushes when it comes up", async () => {
    let up = false;
    const { base } = await serve((_q, s) => (up ? s.end(jwks(KEY_A)) : s.writeHead(503).end("starting")));
    const calls = nextCall<unknown>();
    const r = new JwksResolver({ refreshIntervalMs: 3_600_000, refreshIntervalOnFailureMs: 50, refreshRetries: 1, retryIntervalMs: 20, onChange: calls.fn });
    try {
      const pushed = calls.next();
      assert.equal(r.localJwks("iss", `${base}/k`, 5_000), PUBLIC_ONLY_JWKS);
      await r.settled();
      assert.equal(r.status("iss", `${base}/k`)?.state, "failed");
      up = true;
      await pushed;
      assert.equal(r.localJwks("iss", `${base}/k`, 5_000), jwks(KEY_A));
    } finally {
      r.close();
    }
  });
});

describe("JWKS helpers", () => {
  it("checkJwksFormat (Istio's validateJWKSFormat)", () => {
    assert.equal(checkJwksFormat(jwks(KEY_A)), undefined);
    assert.equal(checkJwksFormat('{"keys":[]}'), undefined);
    assert.match(checkJwksFormat('{"keys":{}}') ?? "", /not an array/);
    assert.match(checkJwksFormat("[]") ?? "", /not a JSON object/);
  });

  it("jwksDiffer (Istio's compareJWKSResponse)", () => {
    assert.equal(jwksDiffer(jwks(KEY_A, KEY_B), jwks(KEY_B, KEY_A)), false);
    assert.equal(jwksDiffer(jwks(KEY_A), jwks(KEY_A, KEY_B)), true);
    assert.equal(jwksDiffer(jwks({ ...KEY_A, n: "other" }), jwks(KEY_A)), true);
    assert.equal(jwksDiffer("not json", jwks(KEY_A)), true);
  });
});
