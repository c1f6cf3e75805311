import https from 'node:https';
import Stripe from 'stripe';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { startTestProxy, type TestProxy } from './proxy';
import { makeCertificate, type TestCertificate } from './tls';

/**
 * A Stripe that can only be reached through a proxy: the emulator serves HTTPS on loopback with a
 * certificate for api.stripe.test (and api.stripe.com), and a CONNECT proxy that requires credentials
 * maps those host names to it. A process configured with `env()` (STRIPE_API_BASE=https://api.stripe.test,
 * HTTPS_PROXY with the credentials, STRIPE_CA_FILE trusting the certificate) really tunnels: api.stripe.test
 * does not resolve, so a direct attempt fails and cannot reach anything else.
 */
export const STRIPE_TEST_HOST = 'api.stripe.test';
export const PROXY_USER = 'tollgate-user';
export const PROXY_PASSWORD = 'pr0xy-s3cret';
export const PROXY_CREDENTIALS = `${PROXY_USER}:${PROXY_PASSWORD}`;
export const TUNNEL_KEY = 'sk_test_tollgate_tunnel_tests';
export const WEBHOOK_SECRET = 'whsec_tollgateTunnelTestsSecret0123456789';

export interface Tunnel {
  cert: TestCertificate;
  emulator: EmulatorHandle;
  proxy: TestProxy;
  /** The SDK straight to the emulator (trusting its certificate), to look at Stripe's side. */
  stripe: Stripe;
  /** The environment of a Tollgate process that reaches Stripe through the proxy. */
  env(extra?: Record<string, string | undefined>): Record<string, string | undefined>;
  /** Strings that must never appear in any output: the proxy user, password, and their Basic encoding. */
  secrets: string[];
  close(): Promise<void>;
}

export async function startTunnel(): Promise<Tunnel> {
  const cert = makeCertificate([STRIPE_TEST_HOST, 'api.stripe.com']);
  const emulator = await startEmulator({ tls: { key: cert.key, cert: cert.cert } });
  const proxy = await startTestProxy({
    routes: { [`${STRIPE_TEST_HOST}:443`]: emulator.port, 'api.stripe.com:443': emulator.port },
    credentials: PROXY_CREDENTIALS,
  });
  const agent = new https.Agent({ ca: cert.cert });
  const stripe = new Stripe(TUNNEL_KEY, {
    host: '127.0.0.1',
    port: emulator.port,
    protocol: 'https',
    httpAgent: agent,
    maxNetworkRetries: 0,
  });
  return {
    cert,
    emulator,
    proxy,
    stripe,
    env: (extra = {}) => ({
      STRIPE_SECRET_KEY: TUNNEL_KEY,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_BASE: `https://${STRIPE_TEST_HOST}`,
      STRIPE_CA_FILE: cert.certFile,
      HTTPS_PROXY: proxy.url(PROXY_CREDENTIALS),
      STRIPE_MAX_NETWORK_RETRIES: '0',
      ...extra,
    }),
    secrets: [PROXY_USER, PROXY_PASSWORD, Buffer.from(PROXY_CREDENTIALS).toString('base64')],
    close: async () => {
      agent.destroy();
      await proxy.close();
      await emulator.stop();
      cert.remove();
    },
  };
}
