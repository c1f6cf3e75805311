import { Migration } from '@mikro-orm/migrations';

/**
 * Subscriptions remember when they were first in force, so an attempt canceled before its first payment
 * is told apart from a subscription that ran and ended. Rows from before keep being listed: every one
 * that got past its first payment, or whose history is unknown (canceled), counts as once in force.
 */
export class Migration20261206095000_inForceSince extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "subscription" add column "in_force_since" timestamptz null;`);
    this.addSql(
      `update "subscription" set "in_force_since" = coalesce("current_period_start", "created_at") where "status" not in ('incomplete', 'incomplete_expired');`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "subscription" drop column "in_force_since";`);
  }
}
