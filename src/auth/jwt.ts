import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { JwtSettings } from '../config';
import { DomainError } from '../errors';
import type { Logger } from '../logger';

/** Who a valid token says the user is. */
export interface JwtIdentity {
  externalId: string;
  email: string | undefined;
  timezone: string | undefined;
}

export type JwtVerifier = (token: string) => Promise<JwtIdentity>;

const ASYMMETRIC = ['RS256', 'ES256', 'EdDSA'];

/** What the token itself gets wrong: the caller is not authenticated. Anything else (keys unreachable) is ours. */
const TOKEN_PROBLEMS = [
  errors.JWTExpired,
  errors.JWTClaimValidationFailed,
  errors.JWTInvalid,
  errors.JWSInvalid,
  errors.JWSSignatureVerificationFailed,
  errors.JOSEAlgNotAllowed,
  errors.JOSENotSupported,
  errors.JWKSNoMatchingKey,
  errors.JWKSMultipleMatchingKeys,
];

/**
 * Verifies the product's JWTs: signature (only the configured algorithms, so `none` and an HS256 token
 * signed with a public key are refused), issuer, audience, exp and nbf with a small clock tolerance.
 * With a JWKS URL the keys are fetched by jose's remote key set, cached, and fetched again when a token
 * names a key id it has not seen (key rotation), at most once per cooldown.
 */
export function createJwtVerifier(settings: JwtSettings, logger?: Logger): JwtVerifier {
  const key: JWTVerifyGetKey | Uint8Array = settings.jwksUrl
    ? createRemoteJWKSet(new URL(settings.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000 })
    : new TextEncoder().encode(settings.secret);
  const options = {
    issuer: settings.issuer,
    audience: settings.audience,
    algorithms: settings.jwksUrl ? ASYMMETRIC : ['HS256'],
    clockTolerance: settings.clockToleranceSeconds,
    requiredClaims: ['sub', 'exp'],
  };
  return async (token) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await (typeof key === 'function' ? jwtVerify(token, key, options) : jwtVerify(token, key, options)));
    } catch (err) {
      const failure = jwtFailure(err, settings);
      // The operator must hear of a key set that cannot be fetched: every JWT user is refused meanwhile.
      if (failure.code === 'SERVICE_UNAVAILABLE') logger?.warn({ reason: failure.extensions.reason }, failure.message);
      throw failure;
    }
    return identityOf(payload, settings);
  };
}

function jwtFailure(err: unknown, settings: JwtSettings): DomainError {
  if (TOKEN_PROBLEMS.some((kind) => err instanceof kind)) {
    return new DomainError('UNAUTHENTICATED', `Invalid token: ${tokenProblem(err as errors.JOSEError)}`);
  }
  const host = settings.jwksUrl ? new URL(settings.jwksUrl).host : 'the key set';
  const why = err instanceof errors.JWKSTimeout ? 'timed out' : err instanceof Error ? err.message : String(err);
  return new DomainError(
    'SERVICE_UNAVAILABLE',
    `The keys that verify sign-in tokens could not be fetched from ${host} (${why}); try again later`,
    {
      reason: 'jwks_unavailable',
    },
  );
}

/** A short reason a client can act on; never the token or the key. */
function tokenProblem(err: errors.JOSEError): string {
  if (err instanceof errors.JWTExpired) return 'it has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'it is not valid yet';
    if (err.claim === 'iss') return 'wrong issuer';
    if (err.claim === 'aud') return 'wrong audience';
    return `the ${err.claim} claim is ${err.reason === 'missing' ? 'missing' : 'invalid'}`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return 'its signing algorithm is not accepted';
  if (err instanceof errors.JWKSNoMatchingKey) return 'it is signed with an unknown key';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  return 'it is not a well-formed JWT';
}

function identityOf(payload: JWTPayload, settings: JwtSettings): JwtIdentity {
  const claim = (name: string) => {
    const value = payload[name];
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  };
  return { externalId: payload.sub!, email: claim(settings.emailClaim), timezone: claim(settings.timezoneClaim) };
}

/** Three base64url parts: worth handing to the verifier rather than the token tables. */
export const looksLikeJwt = (token: string) => /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token);
