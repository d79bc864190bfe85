// Go's duration syntax (time.ParseDuration: "1.5s", "500ms", "1m30s"), which Istio's flags and
// environment variables use (pilot-agent's SECRET_TTL, `--cert-ttl`) and go-httpbin parses from paths.

/** Go's time.ParseDuration ("1.5s", "500ms", "1m30s"); undefined when it is not one. */
export function parseGoDuration(input: string): number | undefined {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let s = input;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") return undefined;
  let total = 0;
  const re = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (s !== "") {
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * units[m[2]];
    s = s.slice(m[0].length);
  }
  return sign * total;
}
