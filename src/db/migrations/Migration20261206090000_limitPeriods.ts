import { Migration } from '@mikro-orm/migrations';

const PERIODS = `('day', 'week', 'month', 'billing_period', 'total')`;

/**
 * Limits get a period (the daily ones so far become DAY), plans get features, and counters are keyed by
 * (user, metric, period, window start): a day's counter starts at the user's local midnight.
 */
export class Migration20261206090000_limitPeriods extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "plan" add column "features" text[] not null default '{}';`);

    this.addSql(`alter table "plan_limit" drop constraint "plan_limit_plan_id_metric_unique";`);
    this.addSql(`alter table "plan_limit" add column "period" text check ("period" in ${PERIODS}) not null default 'day';`);
    this.addSql(`alter table "plan_limit" rename column "per_day" to "allowance";`);
    this.addSql(
      `alter table "plan_limit" add constraint "plan_limit_plan_id_metric_period_unique" unique ("plan_id", "metric", "period");`,
    );

    this.addSql(`alter table "usage_counter" drop constraint "usage_counter_pkey";`);
    this.addSql(`alter table "usage_counter" add column "period" text check ("period" in ${PERIODS}) not null default 'day';`);
    this.addSql(`alter table "usage_counter" add column "window_start" timestamptz null;`);
    this.addSql(
      `update "usage_counter" c set "window_start" = (c."day"::timestamp at time zone u."timezone") from "app_user" u where u."id" = c."user_id";`,
    );
    this.addSql(`alter table "usage_counter" alter column "window_start" set not null, alter column "period" drop default;`);
    this.addSql(`alter table "usage_counter" drop column "day";`);
    this.addSql(
      `alter table "usage_counter" add constraint "usage_counter_pkey" primary key ("user_id", "metric", "period", "window_start");`,
    );

    this.addSql(`alter table "usage_record" add column "period_after" text null, add column "resets_at_after" timestamptz null;`);

    // A consume touches one counter per limited period; when one of them refuses, this undoes the whole
    // statement (plain SQL cannot raise). SQLSTATE TG429 tells billing/limits it was a refusal.
    this.addSql(`create function "tollgate_usage_refused"() returns int language plpgsql as $$
      begin raise exception 'usage refused by a limit' using errcode = 'TG429'; end $$;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop function "tollgate_usage_refused"();`);
    this.addSql(`alter table "usage_record" drop column "period_after", drop column "resets_at_after";`);
    this.addSql(`delete from "usage_counter" where "period" <> 'day';`);
    this.addSql(`alter table "usage_counter" drop constraint "usage_counter_pkey";`);
    this.addSql(`alter table "usage_counter" add column "day" date null;`);
    this.addSql(
      `update "usage_counter" c set "day" = (c."window_start" at time zone u."timezone")::date from "app_user" u where u."id" = c."user_id";`,
    );
    this.addSql(`alter table "usage_counter" drop column "window_start", drop column "period", alter column "day" set not null;`);
    this.addSql(`alter table "usage_counter" add constraint "usage_counter_pkey" primary key ("user_id", "metric", "day");`);
    this.addSql(`delete from "plan_limit" where "period" <> 'day';`);
    this.addSql(`alter table "plan_limit" drop constraint "plan_limit_plan_id_metric_period_unique";`);
    this.addSql(`alter table "plan_limit" rename column "allowance" to "per_day";`);
    this.addSql(`alter table "plan_limit" drop column "period";`);
    this.addSql(`alter table "plan_limit" add constraint "plan_limit_plan_id_metric_unique" unique ("plan_id", "metric");`);
    this.addSql(`alter table "plan" drop column "features";`);
  }
}
