// The access log file's batching: nothing is written per request; lines leave together after the
// flush interval, at once when 64 KiB are buffered, and on close. Lines stay whole and in order.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { AccessLog, FLAG_BIT } from "../../src/proxy/access-log.js";
import { defaultAccessLogFormatter } from "../../src/proxy/observability/access-log-format.js";
import { eventually } from "../helpers/eventually.js";
import { httpInfo } from "./observability/stream-info-fixtures.js";

const entry = (i: number, ua = "curl/8"): string =>
  defaultAccessLogFormatter().format(
    httpInfo({
      startTime: Date.UTC(2026, 10, 22, 9, 0, 0, 5),
      path: `/item/${i}`,
      responseCode: 200,
      flags: i % 2 ? FLAG_BIT.UF : 0,
      bytesSent: 10,
      durationMs: 1.4,
      requestHeaders: { "user-agent": ua, "x-request-id": `id-${i}` },
      responseHeaders: {},
      authority: "details:9080",
      upstreamHost: "127.0.3.1:9080",
    }),
  );

describe("access log file batching", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsmesh-access-log-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const read = (f: string) => {
    try {
      return readFileSync(f, "utf8");
    } catch {
      return "";
    }
  };

  it("writes nothing per request, then every line after the flush interval", async () => {
    const file = join(dir, "a.log");
    const log = new AccessLog(file, 200);
    for (let i = 0; i < 5; i++) log.write(entry(i));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(read(file), "");
    const text = await eventually("flushed", () => (read(file).split("\n").length === 6 ? read(file) : undefined));
    const lines = text.trimEnd().split("\n");
    assert.match(lines[0], /^\[2026-11-22T09:00:00\.005Z\] "GET \/item\/0 HTTP\/1\.1" 200 - 0 10 1 - "-" "curl\/8" "id-0" "details:9080" "127\.0\.3\.1:9080"$/);
    assert.match(lines[1], /" 200 UF 0 10 /);
    assert.deepEqual(lines.map((l) => /\/item\/(\d+)/.exec(l)![1]), ["0", "1", "2", "3", "4"]);
    log.close();
  });

  it("flushes at once past 64 KiB, keeps multi-byte lines whole, and flushes the rest on close", async () => {
    const file = join(dir, "b.log");
    const log = new AccessLog(file, 60_000);
    const n = 1000; // ~150 bytes each: more than 64 KiB
    for (let i = 0; i < n; i++) log.write(entry(i, i === 7 ? "agent ✓ ünïcode" : "curl/8"));
    await eventually("first 64 KiB on disk before the interval", () => read(file).length > 0);
    log.close();
    const text = await eventually("all lines", () => (read(file).split("\n").length === n + 1 ? read(file) : undefined));
    const lines = text.trimEnd().split("\n");
    assert.equal(lines.length, n);
    assert.ok(lines[7].includes('"agent ✓ ünïcode"'));
    for (let i = 0; i < n; i++) assert.ok(lines[i].includes(`"id-${i}"`), `line ${i} in order and whole`);
  });
});
