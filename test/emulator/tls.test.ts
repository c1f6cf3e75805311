import https from 'node:https';
import Stripe from 'stripe';
import { startEmulator, type EmulatorHandle } from '../../src/emulator';
import { makeCertificate, type TestCertificate } from '../support/tls';

let certificate: TestCertificate;
let key: Buffer;
let cert: Buffer;
let em: EmulatorHandle;

beforeAll(async () => {
  certificate = makeCertificate(['localhost']);
  ({ key, cert } = certificate);
  em = await startEmulator({ tls: { key, cert } });
});
afterAll(async () => {
  await em?.stop();
  certificate?.remove();
});

test('serves HTTPS with the given certificate; the SDK works through an agent trusting it', async () => {
  expect(em.protocol).toBe('https');
  expect(em.url).toBe(`https://127.0.0.1:${em.port}`);
  const agent = new https.Agent({ ca: cert });
  const stripe = new Stripe('sk_test_tls', { host: '127.0.0.1', port: em.port, protocol: 'https', httpAgent: agent, maxNetworkRetries: 0 });
  const c = await stripe.customers.create({ email: 'tls@example.com' });
  expect(c.id).toMatch(/^cus_/);
  const pi = await stripe.paymentIntents.create({
    amount: 1000,
    currency: 'usd',
    payment_method: 'pm_card_authenticationRequired',
    confirm: true,
    return_url: 'https://shop.example/return',
    allowed_payment_method_types: ['card'],
  });
  // URLs the emulator hands out use the scheme it serves
  expect(pi.next_action?.redirect_to_url?.url).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:${em.port}/authenticate/`));
  agent.destroy();
});

test('a client that does not trust the certificate is refused by TLS, not by the API', async () => {
  const stripe = new Stripe('sk_test_tls', { host: '127.0.0.1', port: em.port, protocol: 'https', maxNetworkRetries: 0 });
  const err = await stripe.customers.list().then(
    () => null,
    (e: Stripe.errors.StripeError) => e,
  );
  expect(err).toBeInstanceOf(Stripe.errors.StripeConnectionError);
});
