import { forbidden } from '../../kernel/errors.js';
import type { AuthConfig } from './config.js';
import { compileModelPattern, type ModelPattern } from './model-pattern.js';
import type { AccessPolicy, Principal } from './principal.js';

interface CompiledRule {
  user?: string;
  team?: string;
  allow: ModelPattern[];
  deny: ModelPattern[];
}

/**
 * Per-user and per-team model rules. Of the rules that apply to a principal (its user id, its
 * team, or `user: '*'`): any matching deny forbids; else any matching allow permits; else, if
 * some applicable rule lists allows, the principal is confined to them; else the default policy.
 */
export function createAccessPolicy(config: AuthConfig['access']): AccessPolicy {
  const rules: CompiledRule[] = config.rules.map((r) => ({
    user: r.user,
    team: r.team,
    allow: r.allow.map(compileModelPattern),
    deny: r.deny.map(compileModelPattern),
  }));
  const applies = (rule: CompiledRule, p: Principal) =>
    (rule.user !== undefined && (rule.user === '*' || rule.user === p.id)) ||
    (rule.team !== undefined && p.team !== undefined && rule.team === p.team);

  return {
    assertModelAllowed(principal, model) {
      let confined = false;
      let allowed = false;
      for (const rule of rules) {
        if (!applies(rule, principal)) continue;
        const denied = rule.deny.find((d) => d.matches(model));
        if (denied) throw refusal(principal, model, `denied by '${denied.source}'`);
        if (rule.allow.length > 0) confined = true;
        if (rule.allow.some((a) => a.matches(model))) allowed = true;
      }
      if (allowed) return;
      if (confined || config.defaultPolicy === 'deny')
        throw refusal(principal, model, 'not in its allowed models');
    },
  };
}

function refusal(principal: Principal, model: { id: string; type: string }, why: string) {
  return forbidden(
    'model_forbidden',
    `${principal.id}${principal.team ? ` (team ${principal.team})` : ''} may not use model '${model.id}' (type ${model.type}): ${why}`,
  );
}
