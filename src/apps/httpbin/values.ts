// Values go-httpbin parses from paths and query strings: Go durations (/delay), weighted status
// choices (/status/200:0.9,503:0.1) and the seeded random numbers of /bytes and /unstable.
import { parseGoDuration } from "../../core/go-duration.js";
import { HttpError } from "./request.js";

/** go-httpbin's parseDuration: a Go duration, else seconds as a float. Milliseconds, or undefined. */
export function parseDelay(input: string): number | undefined {
  const d = parseGoDuration(input);
  if (d !== undefined) return d;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(input)) return undefined;
  return Math.trunc(Number(input) * 1000);
}

function parseStatusCode(input: string): number {
  if (!/^[+-]?\d+$/.test(input)) throw new HttpError(400, `invalid status code: "${input}": strconv.Atoi: parsing "${input}": invalid syntax`);
  const code = Number(input);
  if (code < 100 || code > 599) throw new HttpError(400, `invalid status code: ${code} not in range [100, 599]`);
  return code;
}

/** `/status/200,503` or `/status/200:0.9,503:0.1`: go-httpbin's weighted random choice (weights default to 1). */
export function chooseStatus(raw: string, random: () => number = Math.random): number {
  if (!raw.includes(",")) return parseStatusCode(raw);
  const choices = raw.split(",").map((pair) => {
    const colon = pair.indexOf(":");
    const rawChoice = colon < 0 ? pair : pair.slice(0, colon);
    let weight = 1;
    if (colon >= 0) {
      const rawWeight = pair.slice(colon + 1);
      weight = Number(rawWeight);
      if (rawWeight.trim() === "" || !Number.isFinite(weight)) throw new HttpError(400, `invalid weight value: "${rawWeight}"`);
    }
    let code: number;
    try {
      code = parseStatusCode(rawChoice);
    } catch {
      throw new HttpError(400, `invalid choice value: "${rawChoice}"`);
    }
    return { code, weight };
  });
  const total = choices.reduce((a, c) => a + c.weight, 0);
  const r = random() * total;
  let acc = 0;
  for (const c of choices) {
    acc += c.weight;
    if (r < acc) return c.code;
  }
  return choices[choices.length - 1].code;
}

/** A small seeded PRNG (mulberry32) for `?seed=` on /bytes and /unstable. */
export function seededRandom(rawSeed: string | null): () => number {
  let seed: number;
  if (rawSeed) {
    if (!/^[+-]?\d+$/.test(rawSeed)) throw new HttpError(400, `invalid seed: strconv.ParseInt: parsing "${rawSeed}": invalid syntax`);
    seed = Number(BigInt.asUintN(32, BigInt(rawSeed)));
  } else {
    seed = (Date.now() ^ (Math.random() * 0x1_0000_0000)) >>> 0;
  }
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
