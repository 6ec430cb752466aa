/**
 * Test helpers for the security suites: a shared HMAC secret and signed tokens.
 */
import { SignJWT } from 'jose';

/** The HMAC secret the security suites' brokers verify tokens with. */
export const SECRET = 'security-test-secret-of-32-bytes!!';
const KEY = new TextEncoder().encode(SECRET);

/** A signed HS256 token with `claims`; `exp`/`nbf` in seconds from now. */
export function token(
  claims: Record<string, unknown>,
  { exp = 60, nbf, key = KEY }: { exp?: number; nbf?: number; key?: Uint8Array } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now + exp);
  if (nbf !== undefined) jwt.setNotBefore(now + nbf);
  return jwt.sign(key);
}
