import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload, type KeyLike } from 'jose';

export type JwtAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

/** A key pair the product's sign-in service would sign with, and the public JWK it publishes. */
export interface SigningKey {
  kid: string;
  alg: JwtAlgorithm;
  privateKey: KeyLike;
  publicKey: KeyLike;
  jwk: JWK;
}

export async function signingKey(alg: JwtAlgorithm, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/**
 * A JSON Web Key Set served on 127.0.0.1, as the product's sign-in service would: what it publishes can
 * change (key rotation), it can fail on purpose, and it counts the requests it answers.
 */
export interface JwksServer {
  url: string;
  /** GET requests answered so far, failed ones included. */
  readonly requests: number;
  /** Replaces the published keys. */
  publish(keys: SigningKey[]): void;
  /** Answers every request with this status and body instead of the key set; undefined serves it again. */
  failWith(status: number | undefined, body?: string): void;
  close(): Promise<void>;
}

export async function startJwksServer(keys: SigningKey[]): Promise<JwksServer> {
  let published = keys;
  let failure: { status: number; body: string } | undefined;
  let requests = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    requests++;
    if (failure) {
      res.writeHead(failure.status, { 'content-type': 'application/json' }).end(failure.body);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    get requests() {
      return requests;
    },
    publish(next) {
      published = next;
    },
    failWith(status, body = '{"error":"unavailable"}') {
      failure = status === undefined ? undefined : { status, body };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Seconds since the epoch, as JWT claims count time: from `new Date()`, which a test that moves Date.now leaves alone. */
export const nowSeconds = () => Math.floor(new Date().getTime() / 1000);

/**
 * A JWT signed with `key` carrying exactly `claims` (iat, exp and the rest are the caller's to give or
 * leave out); the header names the key's algorithm and kid unless `header` says otherwise.
 */
export function signJwt(
  key: { privateKey: KeyLike | Uint8Array; alg: string; kid?: string },
  claims: JWTPayload,
  header: { kid?: string } = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: 'JWT', kid: 'kid' in header ? header.kid : key.kid })
    .sign(key.privateKey);
}

/** A JWT with `alg: none` and an empty signature, built by hand as an attacker would. */
export function unsignedJwt(claims: JWTPayload): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}
