// Acceptance ranges for counts of random outcomes (fault percentages, weighted splits): wide enough
// that a correct implementation fails by chance less often than `falseFailure`, so a test that
// samples a random process stays deterministic in practice, yet narrow enough to catch a wrong rate.

/**
 * The range [lo, hi] that Binomial(n, p) falls outside of with probability below `falseFailure`
 * (half in each tail), from the exact distribution rather than a normal approximation.
 */
export function binomialRange(n: number, p: number, falseFailure = 1e-9): [number, number] {
  if (!(p > 0 && p < 1) || !Number.isInteger(n) || n <= 0) throw new Error(`binomialRange: n=${n}, p=${p}`);
  // Probabilities from logs: (1-p)^n underflows a double long before n does.
  const logPmf: number[] = [n * Math.log1p(-p)];
  for (let k = 0; k < n; k++) logPmf.push(logPmf[k] + Math.log((n - k) / (k + 1)) + Math.log(p / (1 - p)));
  const pmf = logPmf.map(Math.exp);
  const tail = falseFailure / 2;
  let lo = 0;
  for (let below = pmf[0]; below < tail; below += pmf[++lo]);
  let hi = n;
  for (let above = pmf[n]; above < tail; above += pmf[--hi]);
  return [lo, hi];
}
