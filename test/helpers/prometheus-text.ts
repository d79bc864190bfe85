// A strict reader of Prometheus' text exposition format, for tests of /stats/prometheus: one TYPE
// line per family, each sample after its family's TYPE line and named for it, labels parsed to the
// closing brace. What Prometheus would refuse to scrape fails an assertion here.
import assert from "node:assert/strict";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export function parseExposition(text: string): Map<string, { type: string; samples: Sample[] }> {
  assert.ok(text.endsWith("\n"), "ends in a newline");
  const fams = new Map<string, { type: string; samples: Sample[] }>();
  let current: { name: string; type: string; samples: Sample[] } | undefined;
  const seen = new Set<string>();
  for (const line of text.slice(0, -1).split("\n")) {
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line);
    if (t) {
      assert.ok(!fams.has(t[1]), `one TYPE line for ${t[1]}`);
      current = { name: t[1], type: t[2], samples: [] };
      fams.set(t[1], current);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (-?[0-9.e+]+|NaN)$/.exec(line);
    assert.ok(m, `a sample line: ${JSON.stringify(line)}`);
    assert.ok(current, "a sample after its TYPE");
    const base = current.type === "histogram" ? m[1].replace(/_(bucket|sum|count)$/, "") : m[1];
    assert.equal(base, current.name, `${m[1]} belongs to ${current.name}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|\})/gy;
      re.lastIndex = 1;
      for (;;) {
        const l = re.exec(m[2]);
        assert.ok(l, `labels parse: ${m[2]}`);
        labels[l[1]] = l[2].replace(/\\(.)/g, (_s, c: string) => (c === "n" ? "\n" : c));
        if (l[3] === "}") break;
      }
      assert.equal(re.lastIndex, m[2].length, "nothing after the labels");
    }
    const series = `${m[1]}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!seen.has(series), `one sample per series: ${series}`);
    seen.add(series);
    current.samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return fams;
}

/** Every sample of an exposition, families in order (read as strictly as parseExposition). */
export function exposedSamples(text: string): Sample[] {
  return [...parseExposition(text).values()].flatMap((f) => f.samples);
}
