import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanEnv, ROOT } from './support/cli';
import { startTestServer, type TestServer } from './support/server';

jest.setTimeout(240_000);

/** The README's command lines whose output is a credential, exactly as written in its shell blocks. */
function readmeCommandLines(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);
  return blocks.flatMap((block) => block.split('\n')).filter((line) => /^npm run .*(user:create|user:token|apikey:create)/.test(line));
}

/** A README line made runnable: its comment and optional [...] parts dropped, this test's email in place of the example. */
const runnable = (line: string, email: string) =>
  line
    .replace(/\s+#.*$/, '')
    .replace(/\s*\[[^\]]*\]/g, '')
    .replace(/ann@example\.com/g, email)
    .replace(/--name backend/, `--name backend-${Date.now()}`);

function shell(command: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', command], { cwd: ROOT, env: cleanEnv(env), timeout: 200_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** `npm run` prints its banner on stdout; the README's lines must print the credential and nothing else, so `$(...)` captures it. */
describe("the README's credential commands", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ seed: false });
  });
  afterAll(() => server.close());

  it('are all written with npm run -s', () => {
    const lines = readmeCommandLines();
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.filter((line) => !line.startsWith('npm run -s '))).toEqual([]);
  });

  it('print exactly one line, the credential, when run as written', async () => {
    const email = `readme-${Date.now()}@example.com`;
    const byScript = new Map(readmeCommandLines().map((line) => [/(user:create|user:token|apikey:create)/.exec(line)![1], line]));
    for (const script of ['user:create', 'user:token', 'apikey:create']) {
      const res = await shell(runnable(byScript.get(script)!, email), { DATABASE_URL: server.databaseUrl });
      expect({ script, code: res.code }).toEqual({ script, code: 0 });
      expect({ script, stdout: res.stdout }).toEqual({ script, stdout: expect.stringMatching(/^tg_(sk_)?[A-Za-z0-9_-]+\n$/) });
    }
  });
});
