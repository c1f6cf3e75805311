import { Migration } from '@mikro-orm/migrations';

/**
 * Free trials: a pricing option's trial length in days (0: none), and on a subscription the end of its trial
 * and the trial end the product was last told about (`subscription.trial_will_end`).
 */
export class Migration20261206110000_trials extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "plan_pricing" add column "trial_days" int not null default 0;`);
    this.addSql(`alter table "subscription" add column "trial_end" timestamptz null, add column "trial_end_notice_for" timestamptz null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "subscription" drop column "trial_end", drop column "trial_end_notice_for";`);
    this.addSql(`alter table "plan_pricing" drop column "trial_days";`);
  }
}
