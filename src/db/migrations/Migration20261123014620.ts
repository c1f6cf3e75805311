import { Migration } from '@mikro-orm/migrations';

export class Migration20261123014620 extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `alter table "subscription" add column "idempotency_key" text null, add column "success_url" text null, add column "cancel_url" text null;`,
    );
    this.addSql(
      `alter table "subscription" add constraint "subscription_user_id_idempotency_key_unique" unique ("user_id", "idempotency_key");`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "subscription" drop constraint "subscription_user_id_idempotency_key_unique";`);
    this.addSql(`alter table "subscription" drop column "idempotency_key", drop column "success_url", drop column "cancel_url";`);
  }
}
