import { type KeyObject, createPublicKey, createSecretKey } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload } from 'jose';
import { RtError } from '@rt/protocol';
import { type Grants, grantsProblem } from './grants.js';

/** A verification key: an HMAC secret (string or bytes), a PEM public key or certificate, or a Node `KeyObject`. */
export type JwtKey = string | Uint8Array | KeyObject;

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
  key: KeyObject;
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

function toKeyObject(key: JwtKey, which: string): KeyObject {
  if (typeof key === 'string') {
    if (key.includes('-----BEGIN')) {
      try {
        return createPublicKey(key);
      } catch (e) {
        throw new TypeError(`jwt.${which} is not a PEM key rt can read: ${(e as Error).message}`);
      }
    }
    if (key.length === 0) throw new TypeError(`jwt.${which} is empty`);
    return createSecretKey(Buffer.from(key, 'utf8'));
  }
  if (key instanceof Uint8Array) return createSecretKey(key);
  return key.type === 'private' ? createPublicKey(key) : key;
}

function algorithmsFor(key: KeyObject, wanted: readonly string[] | undefined, which: string): string[] {
  const family =
    key.type === 'secret'
      ? FAMILIES.secret!
      : key.asymmetricKeyType === 'ec'
        ? [CURVES[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? ''].filter((a) => a !== '')
        : (FAMILIES[key.asymmetricKeyType ?? ''] ?? []);
  const algorithms = wanted ? family.filter((a) => wanted.includes(a)) : family;
  if (algorithms.length === 0) {
    throw new TypeError(
      `jwt.${which}: no accepted algorithm fits this key (${key.asymmetricKeyType ?? key.type}${wanted ? `; asked for ${wanted.join(', ')}` : ''})`,
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
    const key = toKeyObject(raw, which);
    this.keys.push({ key, algorithms: algorithmsFor(key, this.options.algorithms, which), roles });
  }

  /** True when an HMAC key is shorter than the 32 bytes HS256 needs to be safe. */
  get weakSecret(): boolean {
    return this.keys.some((k) => k.key.type === 'secret' && (k.key.symmetricKeySize ?? 0) < 32);
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
        const result = await jwtVerify(token, k.key, {
          algorithms: k.algorithms,
          ...(this.options.issuer !== undefined ? { issuer: this.options.issuer as string | string[] } : {}),
          ...(this.options.audience !== undefined ? { audience: this.options.audience as string | string[] } : {}),
          clockTolerance: this.options.clockToleranceSec ?? 0,
        });
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
