import type { PromotionRule } from './config.js';

/** A rule that did not pass, in words a person can act on. */
export interface RuleFailure {
  rule: string;
  reason: string;
}

/** The rule as people write it: `accuracy > 0.95`, `accuracy improves on the holder by > 0.01`. */
export function describeRule(rule: PromotionRule): string {
  const parts: string[] = [];
  if (rule.greaterThan !== undefined) parts.push(`${rule.metric} > ${rule.greaterThan}`);
  if (rule.improvesBy !== undefined)
    parts.push(`${rule.metric} improves on the alias holder by > ${rule.improvesBy}`);
  if (parts.length === 0) parts.push(`${rule.metric} is recorded`);
  return parts.join(' and ');
}

/**
 * Checks a candidate version's metrics against every rule that applies to `alias`.
 * `holder` is the metrics of the version the alias points at now (none: improvement rules pass).
 */
export function checkPromotion(
  rules: PromotionRule[],
  alias: string,
  candidate: { version: number; metrics: Record<string, number> },
  holder?: { version: number; metrics: Record<string, number> },
): RuleFailure[] {
  const failures: RuleFailure[] = [];
  for (const rule of rules) {
    if (rule.aliases && !rule.aliases.includes(alias)) continue;
    const rule_ = describeRule(rule);
    const value = candidate.metrics[rule.metric];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      failures.push({ rule: rule_, reason: `version ${candidate.version} has no ${rule.metric} metric` });
      continue;
    }
    if (rule.greaterThan !== undefined && !(value > rule.greaterThan)) {
      failures.push({ rule: rule_, reason: `version ${candidate.version} has ${rule.metric} ${value}` });
      continue;
    }
    const held = holder?.metrics[rule.metric];
    if (
      rule.improvesBy !== undefined &&
      holder &&
      typeof held === 'number' &&
      !(value - held > rule.improvesBy)
    ) {
      failures.push({
        rule: rule_,
        reason: `version ${candidate.version} has ${rule.metric} ${value}; the holder, version ${holder.version}, has ${held}`,
      });
    }
  }
  return failures;
}
