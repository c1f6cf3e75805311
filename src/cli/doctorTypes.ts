/**
 * What one check of `npm run doctor` reports, in a file of its own so that doctorChecks.ts and
 * doctorStripeChecks.ts can share it without importing each other.
 */
export type CheckStatus = 'ok' | 'info' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  summary: string;
  details?: string[];
  fix?: string;
}
