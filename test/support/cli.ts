import { execFile } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..', '..');

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a compiled command-line script (dist/src/cli/NAME.js) as a real process. */
export function runScript(name: string, args: string[], env: Record<string, string | undefined>): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'dist', 'src', 'cli', `${name}.js`), ...args],
      { cwd: ROOT, env: cleanEnv(env), timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The test process's environment without anything Tollgate reads, plus `env`. */
export function cleanEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      /^(DATABASE_URL|TEST_DATABASE_URL|PORT|HOST|EMBEDDED_PG_|STRIPE_|LOG_LEVEL|NODE_ENV|PUBLIC_URL|GRAPHQL_|DEMO_USER_|AUTH_|EVENTS_|HTTPS?_PROXY|NO_PROXY)/i.test(
        k,
      )
    )
      continue;
    base[k] = v;
  }
  // A local-mode server keeps the emulator's state in memory unless a test gives it a file of its own.
  base.STRIPE_EMULATOR_DATA = 'none';
  for (const [k, v] of Object.entries(env)) if (v !== undefined) base[k] = v;
  return base;
}
