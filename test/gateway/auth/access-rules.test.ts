import { describe, expect, it } from 'vitest';
import { AuthConfig, createAccessPolicy, type Principal } from '../../../src/gateway/auth/index.js';
import { readSection } from '../../../src/kernel/config.js';

const policyOf = (access: unknown) => createAccessPolicy(readSection(AuthConfig, { access }).access);
const bob: Principal = { id: 'bob', team: 'research', roles: ['caller'], via: 'api-key' };
const chat = (id: string) => ({ id, type: 'chat' });

function verdict(
  policy: ReturnType<typeof policyOf>,
  principal: Principal,
  model: { id: string; type: string },
) {
  try {
    policy.assertModelAllowed(principal, model);
    return 'allowed';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

describe('Access rules across several rules', () => {
  it('lets a deny in one rule win over an allow in another, whichever comes first', () => {
    const allowFirst = policyOf({
      rules: [
        { user: 'bob', allow: ['gpt-*'] },
        { team: 'research', deny: ['gpt-4o-large'] },
      ],
    });
    const denyFirst = policyOf({
      rules: [
        { team: 'research', deny: ['gpt-4o-large'] },
        { user: 'bob', allow: ['gpt-*'] },
      ],
    });
    for (const policy of [allowFirst, denyFirst]) {
      expect(verdict(policy, bob, chat('gpt-4o-large'))).toBe('model_forbidden');
      expect(verdict(policy, bob, chat('gpt-4o-mini'))).toBe('allowed');
    }
  });

  it('lets a deny for everyone win over a user’s allow in an earlier rule', () => {
    const policy = policyOf({
      rules: [
        { user: 'bob', allow: ['*'] },
        { user: '*', deny: ['type:embedding'] },
      ],
    });
    expect(verdict(policy, bob, { id: 'bge', type: 'embedding' })).toBe('model_forbidden');
    expect(verdict(policy, bob, chat('anything'))).toBe('allowed');
  });

  it('names the deny pattern that refused', () => {
    const policy = policyOf({
      rules: [
        { user: 'bob', allow: ['m*'] },
        { team: 'research', deny: ['m2', 'm1'] },
      ],
    });
    expect(() => policy.assertModelAllowed(bob, chat('m1'))).toThrow(
      "bob (team research) may not use model 'm1' (type chat): denied by 'm1'",
    );
  });

  it('allows a model that any applicable rule allows, once confined', () => {
    const policy = policyOf({
      rules: [
        { user: 'bob', allow: ['a'] },
        { team: 'research', allow: ['b'] },
        { user: 'carol', allow: ['c'] },
      ],
    });
    expect(verdict(policy, bob, chat('a'))).toBe('allowed');
    expect(verdict(policy, bob, chat('b'))).toBe('allowed');
    expect(verdict(policy, bob, chat('c'))).toBe('model_forbidden');
    // carol's rule does not confine bob's teammates who have no rule of their own.
    expect(verdict(policy, { id: 'dave', roles: ['caller'], via: 'jwt' }, chat('c'))).toBe('allowed');
  });

  it('applies rules only to their user or team: a principal without a team matches no team rule', () => {
    const policy = policyOf({
      rules: [
        { team: 'research', deny: ['*'] },
        { user: 'zed', deny: ['*'] },
      ],
    });
    expect(verdict(policy, { id: 'eve', roles: ['caller'], via: 'jwt' }, chat('m'))).toBe('allowed');
    expect(verdict(policy, { id: 'eve', team: 'ops', roles: ['caller'], via: 'jwt' }, chat('m'))).toBe(
      'allowed',
    );
    expect(verdict(policy, { id: 'eve', team: 'research', roles: ['caller'], via: 'jwt' }, chat('m'))).toBe(
      'model_forbidden',
    );
    expect(verdict(policy, { id: 'zed', roles: ['caller'], via: 'jwt' }, chat('m'))).toBe('model_forbidden');
  });

  it('allows by default and denies unlisted models under defaultPolicy deny', () => {
    expect(readSection(AuthConfig, {}).access.defaultPolicy).toBe('allow');
    expect(verdict(policyOf({}), bob, chat('m'))).toBe('allowed');
    expect(verdict(policyOf({ defaultPolicy: 'deny' }), bob, chat('m'))).toBe('model_forbidden');
  });

  it('does not confine a principal whose applicable rules only deny', () => {
    const policy = policyOf({ rules: [{ team: 'research', deny: ['secret-*'] }] });
    expect(verdict(policy, bob, chat('gpt-4o'))).toBe('allowed');
    expect(verdict(policy, bob, chat('secret-1'))).toBe('model_forbidden');
  });

  it('allows a model that one of a rule’s several allows matches', () => {
    const policy = policyOf({ rules: [{ user: 'bob', allow: ['a-*', 'b-*'] }] });
    expect(verdict(policy, bob, chat('a-1'))).toBe('allowed');
    expect(verdict(policy, bob, chat('b-1'))).toBe('allowed');
    expect(() => policy.assertModelAllowed(bob, chat('c-1'))).toThrow(
      "bob (team research) may not use model 'c-1' (type chat): not in its allowed models",
    );
  });

  it('names a principal without a team by its id alone', () => {
    const policy = policyOf({ defaultPolicy: 'deny' });
    expect(() =>
      policy.assertModelAllowed({ id: 'eve', roles: ['caller'], via: 'jwt' }, { id: 'm', type: 'embedding' }),
    ).toThrow(
      expect.objectContaining({
        status: 403,
        message: "eve may not use model 'm' (type embedding): not in its allowed models",
      }),
    );
  });
});
