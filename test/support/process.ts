import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { cleanEnv, ROOT } from './cli';

export interface ServerProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the text once `pattern` appears in stdout or stderr. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `node dist/src/main.js` as a real process, the way `npm start` does. */
export function startServerProcess(env: Record<string, string | undefined>): ServerProcess {
  return startNodeProcess(join(ROOT, 'dist', 'src', 'main.js'), env);
}

/** Another server process on a database and emulator the test already runs (see appProcess.ts). */
export async function startAppProcess(env: {
  DATABASE_URL: string;
  EMULATOR_URL: string;
  WEBHOOK_SECRET: string;
  [name: `EVENTS_${string}` | `WEBHOOK_${string}`]: string;
}): Promise<ServerProcess & { url: string }> {
  const proc = startNodeProcess(join(__dirname, 'appProcess.js'), env);
  const line = await proc.waitFor(/listening (\S+)/, 30_000);
  return Object.assign(proc, { url: line.split(' ')[1] });
}

/** Runs a compiled script with node as a child process, capturing its output. */
export function startNodeProcess(script: string, env: Record<string, string | undefined>): ServerProcess {
  return startCommand(process.execPath, [script], env);
}

/** `npm start` in the project folder, exactly as a person runs it (npm, its shell, then node). */
export function startNpmStart(env: Record<string, string | undefined>): ServerProcess {
  return startCommand('npm', ['start', '--silent'], env);
}

/** Runs a command in the project folder as a child process, capturing its output. */
export function startCommand(command: string, args: string[], env: Record<string, string | undefined>): ServerProcess {
  const child = spawn(command, args, { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 90_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = pattern.exec(text);
          if (m) {
            cleanup();
            resolve(m[0]);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${text}`));
        }, timeoutMs);
        const onExit = () => {
          check();
          cleanup();
          reject(new Error(`process exited before ${pattern} appeared; output:\n${text}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
        };
        listeners.add(check);
        child.once('exit', onExit);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
