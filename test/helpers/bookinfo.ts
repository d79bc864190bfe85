// What Istio's bookinfo task pages look at: which reviews version answered (star colour), over
// many requests, and logging in as a user through the gateway.
import assert from "node:assert/strict";
import type { TestMesh } from "./mesh.js";

export type Stars = "none" | "black" | "red";

/** What the product page shows for reviews: Istio's task pages tell versions by star colour. */
export function stars(html: string): Stars {
  // A full star inside the <font> element (Istio's template puts comments between them).
  const red = /<font color="red">(?:(?!<\/font>)[\s\S])*?<span class="glyphicon glyphicon-star"><\/span>/.test(html);
  const black = /<font color="black">(?:(?!<\/font>)[\s\S])*?<span class="glyphicon glyphicon-star"><\/span>/.test(html);
  assert.ok(!(red && black), "one reviews version per page");
  return red ? "red" : black ? "black" : "none";
}

export async function tally(mesh: TestMesh, n: number, headers: Record<string, string> = {}): Promise<Record<Stars, number>> {
  const counts: Record<Stars, number> = { none: 0, black: 0, red: 0 };
  for (let i = 0; i < n; i++) {
    const r = await mesh.gateway("/productpage", { headers });
    assert.equal(r.status, 200, r.body.slice(0, 300));
    assert.match(r.body, /Reviewer1/);
    counts[stars(r.body)]++;
  }
  return counts;
}

/** Logs in through the gateway as Istio's task does (form POST to /login) and returns the session cookie. */
export async function login(mesh: TestMesh, user: string): Promise<string> {
  const r = await mesh.gateway("/login", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `username=${user}&passwd=password` });
  assert.ok(r.status === 302 || r.status === 200, `login: ${r.status} ${r.body.slice(0, 200)}`);
  const cookies = (r.headers["set-cookie"] ?? []).map((c) => c.split(";")[0]);
  assert.ok(cookies.length > 0, "login sets a cookie");
  return cookies.join("; ");
}

