import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Headless Chromium for the hosted Checkout page. On a developer machine without Chromium the browser
 * tests are skipped with a warning; in CI (CI=true, where .ci/run installs it) a missing browser is a
 * failure, never a silent skip.
 */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);

/** `describe`, or `describe.skip` with a warning when there is no Chromium outside CI. */
export function describeInBrowser(name: string): jest.Describe {
  if (!haveChromium)
    console.warn(`no Chromium at ${CHROMIUM} (apt-get install -y chromium): ${name} tests ${process.env.CI ? 'fail' : 'skipped'}`);
  return haveChromium || process.env.CI ? describe : describe.skip;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Fills the hosted Checkout form as a person would. */
export async function fillCard(page: Page, number: string, email?: string): Promise<void> {
  if (email) await page.fill('#email', email);
  await page.fill('#cardNumber', number);
  await page.fill('#cardExpiry', '12 / 34');
  await page.fill('#cardCvc', '123');
  await page.fill('#billingName', 'Ada Lovelace');
}

export async function expectText(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForSelector(selector);
  expect(await page.textContent(selector)).toContain(text);
}

/** The merchant's site: answers every page with its path, so tests see where the browser landed. */
export async function startShop(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(`<!doctype html><title>shop</title><p id="path">${(req.url ?? '').replace(/</g, '&lt;')}</p>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
