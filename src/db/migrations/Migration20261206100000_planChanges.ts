import { Migration } from '@mikro-orm/migrations';

/**
 * Plan changes: a subscription shows the downgrade scheduled for its period end (the pricing option, when,
 * and the Stripe schedule holding it), and remembers the idempotency key of its latest change.
 */
export class Migration20261206100000_planChanges extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "subscription" add column "scheduled_pricing_id" uuid null, add column "scheduled_change_at" timestamptz null, add column "stripe_schedule_id" text null, add column "change_idempotency_key" text null, add column "change_pricing_id" uuid null;`,
    );
    this.addSql(`alter table "subscription" add constraint "subscription_stripe_schedule_id_unique" unique ("stripe_schedule_id");`);
    this.addSql(
      `alter table "subscription" add constraint "subscription_scheduled_pricing_id_foreign" foreign key ("scheduled_pricing_id") references "plan_pricing" ("id") on update cascade on delete set null;`,
    );
    this.addSql(
      `alter table "subscription" add constraint "subscription_change_pricing_id_foreign" foreign key ("change_pricing_id") references "plan_pricing" ("id") on update cascade on delete set null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "subscription" drop constraint "subscription_stripe_schedule_id_unique";`);
    this.addSql(`alter table "subscription" drop constraint "subscription_scheduled_pricing_id_foreign";`);
    this.addSql(`alter table "subscription" drop constraint "subscription_change_pricing_id_foreign";`);
    this.addSql(
      `alter table "subscription" drop column "scheduled_pricing_id", drop column "scheduled_change_at", drop column "stripe_schedule_id", drop column "change_idempotency_key", drop column "change_pricing_id";`,
    );
  }
}
