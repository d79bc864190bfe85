// Trust domain aliases for AuthorizationPolicy principals (Istio's pilot/pkg/security/trustdomain):
// a principal naming the mesh's trust domain, one of its aliases or "cluster.local" is widened to
// the same identity under every trust domain of the bundle, so policies keep working across a
// trust domain migration; `trustDomains` values are expanded to the whole bundle.

export class TrustDomainBundle {
  /** The mesh's trust domain first, then its aliases. */
  readonly trustDomains: readonly string[];

  constructor(trustDomain: string, aliases: readonly string[] = []) {
    this.trustDomains = [trustDomain, ...aliases];
  }

  /**
   * Istio's ReplaceTrustDomainAliases: each `TD/ns/NS/sa/SA` principal whose trust domain is in the
   * bundle (or is cluster.local) becomes one principal per trust domain; others are kept as written.
   */
  replaceTrustDomainAliases(principals: readonly string[]): string[] {
    const out: string[] = [];
    for (const p of principals) {
      const parts = p.split("/");
      if (parts.length !== 5 || parts[0] === "*") {
        out.push(p);
        continue;
      }
      const td = parts[0];
      if (!stringMatch(td, this.trustDomains) && td !== "cluster.local") {
        out.push(p);
        continue;
      }
      const forAliases: string[] = [];
      for (const alias of this.trustDomains) {
        const np = suffixMatch(alias, td) ? p : `${alias}/${parts.slice(1).join("/")}`;
        if (!forAliases.includes(np)) forAliases.push(np);
      }
      out.push(...forAliases);
    }
    return out;
  }

  /** Istio's ExpandTrustDomainAliases: a value that is one of the bundle's domains becomes all of them. */
  expandTrustDomainAliases(values: readonly string[]): string[] {
    const out: string[] = [];
    for (const v of values) {
      for (const x of this.trustDomains.includes(v) ? this.trustDomains : [v]) if (!out.includes(x)) out.push(x);
    }
    return out;
  }
}

function prefixMatch(a: string, pattern: string): boolean {
  return pattern.endsWith("*") && a.startsWith(pattern.slice(0, -1));
}

function suffixMatch(a: string, pattern: string): boolean {
  return pattern.startsWith("*") && a.endsWith(pattern.slice(1));
}

function stringMatch(a: string, list: readonly string[]): boolean {
  return list.some((s) => a === s || s === "*" || prefixMatch(a, s) || prefixMatch(s, a) || suffixMatch(a, s) || suffixMatch(s, a));
}
