import { listenTo } from '../db/listen';
import type { Logger } from '../logger';
import type { Principal } from './principal';

/**
 * Who a token or key is, remembered for a few seconds so that a busy caller's requests skip the lookup
 * statement (docs/benchmarks.md). Revocation still takes effect in every server process as soon as it hears of it: a trigger
 * on app_user, user_token and api_key (Migration20261206160000_credentialNotices) notifies
 * `tollgate_credentials` when a change that could alter a Principal commits, and every process forgets all it
 * remembers when it hears that. PostgreSQL sends the notice at commit, before the revoking call returns; it
 * reaches the other processes milliseconds later (a request that a process reads before the notice is
 * still answered as the caller was).
 *
 * Nothing is remembered while the notice connection is down (notices could be missed then), a lookup that
 * a notice overtook is not stored, and refused credentials are never stored (so guessing cannot fill it).
 */

export const CREDENTIALS_CHANNEL = 'tollgate_credentials';

/** How long an entry is trusted without a notice: a bound on staleness should a notice ever go astray. */
const TTL_MS = 30_000;
/** Callers in use at once; beyond this the oldest entry makes room. */
const MAX_ENTRIES = 10_000;

export interface CredentialCache {
  /** The remembered Principal for `key`, else `load()`'s (remembered when it succeeds). */
  principal(key: string, load: () => Promise<Principal>): Promise<Principal>;
  /** Resolves once notices are heard (for startup and tests). */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

interface Entry {
  principal: Principal;
  expires: number;
}

export function startCredentialCache(clientUrl: string, logger: Logger): CredentialCache {
  const entries = new Map<string, Entry>();
  let listening = false;
  // Bumped by every notice and every loss of the connection: a lookup started before it is not stored.
  let generation = 0;
  const forget = () => {
    generation++;
    entries.clear();
  };
  const listener = listenTo(
    clientUrl,
    [CREDENTIALS_CHANNEL],
    {
      notice: forget,
      listening: () => {
        forget();
        listening = true;
      },
      lost: () => {
        listening = false;
        forget();
      },
    },
    logger.child({ component: 'credentials' }),
  );

  return {
    async principal(key, load) {
      const now = Date.now();
      const hit = entries.get(key);
      if (hit && hit.expires > now) return hit.principal;
      const started = generation;
      const principal = await load();
      if (listening && started === generation) {
        entries.delete(key);
        if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!);
        entries.set(key, { principal, expires: now + TTL_MS });
      }
      return principal;
    },
    ready: () => listener.ready(),
    stop: () => listener.stop(),
  };
}
