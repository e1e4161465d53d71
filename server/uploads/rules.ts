/**
 * Uploader rules, pure. The shape is aptly's uploaders.json (groups of keys;
 * rules in order; in each matching rule deny is checked before allow; the
 * first rule that names the key decides; nothing deciding = denied), with the
 * condition written as suite and source globs instead of aptly's query
 * language. Keys are full fingerprints (a short key id can be collided); `*`
 * in allow or deny stands for every key of the uploaders keyring.
 */
import type { RepositoryConfig } from '../config/schema.ts';

export type Uploaders = RepositoryConfig['uploaders'];

export interface RuleDecision {
  allowed: boolean;
  /** The index of the deciding rule, or null (no rule named the key: denied by default). */
  rule: number | null;
}

/** Shell-like glob: `*` any run of characters, everything else literal. */
export function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(value);
}

function names(entry: string, fingerprint: string, groups: Uploaders['groups']): boolean {
  if (entry === '*') return true;
  if (/^[0-9A-Fa-f]{40}$/.test(entry)) return entry.toUpperCase() === fingerprint;
  return (groups[entry] ?? []).some((f) => f.toUpperCase() === fingerprint);
}

export function decide(uploaders: Uploaders, fingerprint: string, suite: string, source: string): RuleDecision {
  const fpr = fingerprint.toUpperCase();
  for (const [i, rule] of uploaders.rules.entries()) {
    if (!rule.suites.some((g) => globMatch(g, suite)) || !rule.sources.some((g) => globMatch(g, source))) continue;
    if (rule.deny.some((e) => names(e, fpr, uploaders.groups))) return { allowed: false, rule: i };
    if (rule.allow.some((e) => names(e, fpr, uploaders.groups))) return { allowed: true, rule: i };
  }
  return { allowed: false, rule: null };
}
