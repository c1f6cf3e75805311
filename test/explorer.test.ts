import type { Browser, BrowserContext } from 'playwright-core';
import { describeInBrowser, launchChromium } from './support/browser';
import { startTestServer, type TestServer } from './support/server';

/** A browser on a machine with no internet: every request that leaves this machine fails. */
async function offlineContext(browser: Browser): Promise<{ context: BrowserContext; blocked: string[] }> {
  const context = await browser.newContext();
  const blocked: string[] = [];
  await context.route(/.*/, (route) => {
    const url = route.request().url();
    const host = new URL(url).hostname;
    if (host === '127.0.0.1' || host === 'localhost') return route.continue();
    blocked.push(url);
    return route.abort('internetdisconnected');
  });
  return { context, blocked };
}

describeInBrowser('the GraphQL explorer')('the GraphQL explorer', () => {
  let server: TestServer;
  let browser: Browser;
  let demo: { token: string; email: string };

  beforeAll(async () => {
    server = await startTestServer({ demo: true });
    demo = server.demo!;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('answers a query typed into /graphql with no internet, as the demo user', async () => {
    const { context, blocked } = await offlineContext(browser);
    const tab = await context.newPage();
    await tab.goto(`${server.url}/graphql`);
    // Apollo Sandbox cannot load from its CDN: the page moves on to the local explorer.
    await tab.waitForURL(`${server.url}/explorer`, { timeout: 15000 });
    expect(blocked.some((url) => url.includes('apollographql.com'))).toBe(true);

    const editor = tab.locator('.graphiql-query-editor .CodeMirror');
    await editor.click();
    await tab.keyboard.press('Control+A');
    await tab.keyboard.press('Delete');
    await tab.keyboard.type('{ me { email } plans { name } }');
    await tab.click('.graphiql-execute-button');
    const response = tab.locator('.graphiql-response .CodeMirror');
    await expect(waitForText(response, '"email"')).resolves.toContain(demo.email);
    expect(await response.innerText()).toContain('Premium');
    await context.close();
  });

  it('gives the demo header to a browser on this machine only', async () => {
    const local = await fetch(`${server.url}/explorer/headers.json`);
    expect(await local.json()).toEqual({ Authorization: `Bearer ${demo.token}` });
    const landing = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(landing.status).toBe(200);
    expect(await landing.text()).not.toContain(demo.token);
  });
});

async function waitForText(locator: import('playwright-core').Locator, text: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const shown = await locator.innerText();
    if (shown.includes(text)) return shown;
    await new Promise((r) => setTimeout(r, 100));
  }
  return locator.innerText();
}
