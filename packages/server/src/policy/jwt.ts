import { type JsonWebKey, KeyObject, createPublicKey, createSecretKey } from 'node:crypto';
import {
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
} from 'jose';
import { RtError } from '@rt/protocol';
import { type Grants, grantsProblem } from './grants.js';

/**
 * A verification key, in any of these forms:
 *
 * - a PEM public key or certificate (`-----BEGIN PUBLIC KEY-----…`): RS*, PS*, ES*, EdDSA as
 *   the key's type fits;
 * - a JWK (an object, or its JSON text): a public key (`kty` `RSA`, `EC`, `OKP`) or an `oct`
 *   secret;
 * - a JWK Set (`{ keys: [...] }`, or its JSON text): the token's `kid` picks the key;
 * - a JWKS URL (`https://issuer.example/.well-known/jwks.json`): fetched when first needed,
 *   cached, refetched when a token names an unknown `kid` (at most every 30 s) and every 10
 *   minutes;
 * - an HMAC secret (any other string, or bytes): HS256/384/512;
 * - a Node `KeyObject`.
 *
 * A string that looks like a public key but is none of the above (base64 DER without the PEM
 * lines, an OpenSSH key, a JWK that does not parse) is refused when the broker starts: it is
 * never taken for an HMAC secret, which would let anyone who knows the public key sign tokens.
 */
export type JwtKey = string | Uint8Array | KeyObject | JWK | { keys: JWK[] };

/**
 * JWT verification settings. Give `key` for one key, or `publisherKey` and `subscriberKey`
 * for separate ones, as Mercure has: a token verified by the subscriber key may only read
 * (its `rt.publish` is ignored), one verified by the publisher key may only write.
 */
export interface JwtOptions {
  /** The key for every token: an HMAC secret (HS256/384/512), or a PEM public key (RS256, ES256, ...). */
  key?: JwtKey;
  /** Key of tokens that may publish (defaults to `key`). */
  publisherKey?: JwtKey;
  /** Key of tokens that may subscribe (defaults to `key`). */
  subscriberKey?: JwtKey;
  /** Algorithms accepted (default: every one that fits the key's type, e.g. HS256/384/512 for a secret). */
  algorithms?: readonly string[];
  /** Required `iss`, if any. */
  issuer?: string | readonly string[];
  /** Required `aud`, if any. */
  audience?: string | readonly string[];
  /** Clock skew tolerated on `exp` and `nbf`, in seconds. Default 0. */
  clockToleranceSec?: number;
}

/**
 * The identity a verified token gives: its claims, with `rt` holding what the token may
 * actually do (grants of a role whose key did not verify the token are emptied).
 */
export type JwtIdentity = JWTPayload & { rt: Required<Grants> };

type Role = 'publish' | 'subscribe';

interface VerifyKey {
  key: KeyObject | JWTVerifyGetKey;
  algorithms: string[];
  roles: Role[];
}

const FAMILIES: Record<string, string[]> = {
  secret: ['HS256', 'HS384', 'HS512'],
  rsa: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  'rsa-pss': ['PS256', 'PS384', 'PS512'],
  ed25519: ['EdDSA', 'Ed25519'],
};
const CURVES: Record<string, string> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
/** What a key set may verify: public-key algorithms only (a set is published, so never a secret). */
const KEY_SET_ALGORITHMS = [...FAMILIES.rsa!, 'ES256', 'ES384', 'ES512', ...FAMILIES.ed25519!];

/** How a remote key set is cached: refetched after this long, and at most this often for an unknown `kid`. */
const JWKS_MAX_AGE_MS = 10 * 60_000;
const JWKS_COOLDOWN_MS = 30_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isJwk = (v: unknown): v is JWK => isObject(v) && typeof v.kty === 'string';
const isJwks = (v: unknown): v is { keys: JWK[] } => isObject(v) && Array.isArray(v.keys) && v.keys.every(isJwk);

/** A JWK's key; a private JWK gives its public half. Throws a `TypeError` naming `which`. */
function jwkKey(jwk: JWK, which: string): KeyObject {
  try {
    if (jwk.kty === 'oct') {
      if (typeof jwk.k !== 'string' || jwk.k === '') throw new Error('an "oct" key needs "k"');
      return createSecretKey(Buffer.from(jwk.k, 'base64url'));
    }
    return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch (e) {
    throw new TypeError(`jwt.${which} is not a JWK rt can read: ${(e as Error).message}`);
  }
}

/**
 * Why `text` cannot be an HMAC secret because it looks like a public key in a form rt does
 * not read, or `undefined`.
 */
function publicLooking(text: string): string | undefined {
  const t = text.trim();
  if (/^(?:ssh-(?:rsa|ed25519|dss)|ecdsa-sha2-\S+|sk-\S+@openssh\.com) /.test(t)) return 'an OpenSSH public key';
  if (t.startsWith('{') || t.startsWith('[')) return 'JSON that is neither a JWK nor a JWK Set';
  const compact = t.replace(/\s+/g, '');
  if (compact.length >= 40 && /^[A-Za-z0-9+/_-]+={0,2}$/.test(compact) && isDerSequence(Buffer.from(compact, 'base64')))
    return 'a base64 DER key without its PEM lines';
  return undefined;
}

/** True when `der` is exactly one ASN.1 SEQUENCE: what SPKI, PKCS#1, PKCS#8 and certificates are. */
function isDerSequence(der: Buffer): boolean {
  if (der[0] !== 0x30 || der.length < 2) return false;
  const first = der[1]!;
  if (first < 0x80) return first + 2 === der.length;
  const n = first & 0x7f;
  if (n === 0 || n > 3) return false;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + (der[2 + i] ?? 0);
  return length + 2 + n === der.length;
}

/** Reads a key given as a string, bytes, a JWK, a JWK Set or a `KeyObject` (see {@link JwtKey}). */
function readKey(key: JwtKey, which: string): KeyObject | { set: JWTVerifyGetKey } {
  if (typeof key === 'string') {
    if (key.length === 0) throw new TypeError(`jwt.${which} is empty`);
    if (key.includes('-----BEGIN')) {
      try {
        return createPublicKey(key);
      } catch (e) {
        throw new TypeError(`jwt.${which} is not a PEM key rt can read: ${(e as Error).message}`);
      }
    }
    if (/^https?:\/\/\S+$/.test(key.trim())) {
      const url = new URL(key.trim());
      return {
        set: createRemoteJWKSet(url, { cacheMaxAge: JWKS_MAX_AGE_MS, cooldownDuration: JWKS_COOLDOWN_MS }),
      };
    }
    if (key.trim().startsWith('{')) {
      let json: unknown;
      try {
        json = JSON.parse(key);
      } catch {
        json = undefined;
      }
      if (isJwk(json) || isJwks(json)) return readKey(json, which);
    }
    const looks = publicLooking(key);
    if (looks !== undefined)
      throw new TypeError(
        `jwt.${which} looks like ${looks}: rt never uses a public key as an HMAC secret. ` +
          'Give a PEM key (-----BEGIN PUBLIC KEY-----), a JWK or JWK Set, or a JWKS URL',
      );
    return createSecretKey(Buffer.from(key, 'utf8'));
  }
  if (key instanceof Uint8Array) return createSecretKey(key);
  if (isJwks(key)) {
    // Every key must read: a typo should fail at start, not at the first token.
    for (const jwk of key.keys) jwkKey(jwk, which);
    return { set: createLocalJWKSet(key) };
  }
  if (isJwk(key)) return jwkKey(key, which);
  if (key instanceof KeyObject) return key.type === 'private' ? createPublicKey(key) : key;
  throw new TypeError(`jwt.${which} must be a secret, a PEM key, a JWK, a JWK Set, a JWKS URL or a KeyObject`);
}

function algorithmsFor(key: KeyObject, wanted: readonly string[] | undefined, which: string): string[] {
  const family =
    key.type === 'secret'
      ? FAMILIES.secret!
      : key.asymmetricKeyType === 'ec'
        ? [CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? ''].filter((a) => a !== '')
        : (FAMILIES[key.asymmetricKeyType ?? ''] ?? []);
  return pick(family, wanted, which, key.asymmetricKeyType ?? key.type);
}

function pick(family: string[], wanted: readonly string[] | undefined, which: string, what: string): string[] {
  const algorithms = wanted ? family.filter((a) => wanted.includes(a)) : family;
  if (algorithms.length === 0) {
    throw new TypeError(
      `jwt.${which}: no accepted algorithm fits this key (${what}${wanted ? `; asked for ${wanted.join(', ')}` : ''})`,
    );
  }
  return algorithms;
}

/** Why jose refused a token, in words fit for a log line (never the token or the key). */
function reason(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'token expired';
  if (e instanceof errors.JWTClaimValidationFailed) return `claim "${e.claim}" failed: ${e.reason}`;
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (e instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (e instanceof errors.JOSEError) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

/** Verifies JWTs and turns them into identities (see {@link JwtOptions}). */
export class JwtVerifier {
  private readonly keys: VerifyKey[] = [];

  /** Reads the keys; throws a `TypeError` naming a bad one. */
  constructor(private readonly options: JwtOptions) {
    const publisher = options.publisherKey ?? options.key;
    const subscriber = options.subscriberKey ?? options.key;
    if (publisher === undefined && subscriber === undefined)
      throw new TypeError('jwt needs a key, or a publisherKey and/or a subscriberKey');
    if (publisher !== undefined && publisher === subscriber) {
      this.add(publisher, options.key === publisher ? 'key' : 'publisherKey', ['publish', 'subscribe']);
    } else {
      if (publisher !== undefined)
        this.add(publisher, options.publisherKey !== undefined ? 'publisherKey' : 'key', ['publish']);
      if (subscriber !== undefined)
        this.add(subscriber, options.subscriberKey !== undefined ? 'subscriberKey' : 'key', ['subscribe']);
    }
  }

  private add(raw: JwtKey, which: string, roles: Role[]): void {
    const key = readKey(raw, which);
    if ('set' in key) {
      this.keys.push({
        key: key.set,
        algorithms: pick(KEY_SET_ALGORITHMS, this.options.algorithms, which, 'JWK Set'),
        roles,
      });
    } else this.keys.push({ key, algorithms: algorithmsFor(key, this.options.algorithms, which), roles });
  }

  /** True when an HMAC key is shorter than the 32 bytes HS256 needs to be safe. */
  get weakSecret(): boolean {
    return this.keys.some(
      (k) => typeof k.key !== 'function' && k.key.type === 'secret' && (k.key.symmetricKeySize ?? 0) < 32,
    );
  }

  /**
   * Verifies `token` (signature, `exp`, `nbf`, and `iss`/`aud` when configured) and returns its
   * identity; rejects with `unauthorized` and the reason (never the token) when it fails.
   */
  async verify(token: string): Promise<JwtIdentity> {
    let payload: JWTPayload | undefined;
    const roles = new Set<Role>();
    let failure: unknown;
    for (const k of this.keys) {
      try {
        const options = {
          algorithms: k.algorithms,
          ...(this.options.issuer !== undefined ? { issuer: this.options.issuer as string | string[] } : {}),
          ...(this.options.audience !== undefined ? { audience: this.options.audience as string | string[] } : {}),
          clockTolerance: this.options.clockToleranceSec ?? 0,
        };
        const result =
          typeof k.key === 'function' ? await jwtVerify(token, k.key, options) : await jwtVerify(token, k.key, options);
        payload = result.payload;
        for (const role of k.roles) roles.add(role);
      } catch (e) {
        // A token that fails with one key may verify with the other (publisher vs subscriber).
        failure ??= e;
        if (e instanceof errors.JWTExpired || e instanceof errors.JWTClaimValidationFailed) failure = e;
      }
    }
    if (!payload) throw new RtError('unauthorized', `invalid token: ${reason(failure)}`);
    const claim: unknown = payload.rt ?? {};
    const problem = grantsProblem(claim);
    if (problem !== null) throw new RtError('unauthorized', `invalid token: claim "rt" ${problem}`);
    const grants = claim as Grants;
    return {
      ...payload,
      rt: {
        subscribe: roles.has('subscribe') ? [...(grants.subscribe ?? [])] : [],
        publish: roles.has('publish') ? [...(grants.publish ?? [])] : [],
      },
    };
  }
}
