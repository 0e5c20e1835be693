import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { ConfigError } from '../kernel/config.js';

// The token file and the loopback test, apart from the rest of the credentials so the CLI can
// read the file without loading the gateway.

/** A new platform token: 32 random bytes, 43 characters of base64url. */
export function newPlatformToken(): string {
  return randomBytes(32).toString('base64url');
}

/** True for an address only this host can reach: 127.0.0.0/8, ::1, `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./.test(bare);
  return false;
}

/** The token in `file`, or a new one written there (exclusively: two starts at once keep one token). */
export function readOrCreateToken(file: string): { token: string; created: boolean } {
  const existing = readTokenFile(file);
  if (existing !== undefined) return { token: existing, created: false };
  mkdirSync(dirname(file), { recursive: true });
  const token = newPlatformToken();
  try {
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600); // the mode of `wx` is masked by the umask only downwards; this states it
    return { token, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const raced = readTokenFile(file);
    if (raced === undefined) throw badTokenFile(file);
    return { token: raced, created: false };
  }
}

/** The token a token file holds; undefined when there is no file. */
export function readTokenFile(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token)) throw badTokenFile(file);
  return token;
}

function badTokenFile(file: string): ConfigError {
  return new ConfigError([
    {
      path: '/server/adminTokenFile',
      expected: `a file holding one token of 16+ characters (delete ${file} to have a new one made)`,
      got: file,
    },
  ]);
}
