import { Migration } from '@mikro-orm/migrations';

/** Invoices: a synced copy of each Stripe invoice of our customers, read newest first per user and per subscription. */
export class Migration20261206120000_invoices extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "invoice" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "user_id" uuid not null, "subscription_id" uuid null, "stripe_invoice_id" text not null, "number" text null, "status" text check ("status" in ('draft', 'open', 'paid', 'uncollectible', 'void')) not null, "currency" char(3) not null, "total_amount_minor" int not null, "paid_amount_minor" int not null, "due_amount_minor" int not null, "remaining_amount_minor" int not null, "period_start" timestamptz not null, "period_end" timestamptz not null, "hosted_invoice_url" text null, "invoice_pdf_url" text null, "stripe_created_at" timestamptz not null, "stripe_synced_at" timestamptz null, constraint "invoice_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "invoice" add constraint "invoice_stripe_invoice_id_unique" unique ("stripe_invoice_id");`);
    this.addSql(
      `create index "invoice_subscription_id_stripe_created_at_id_index" on "invoice" ("subscription_id", "stripe_created_at", "id");`,
    );
    this.addSql(`create index "invoice_user_id_stripe_created_at_id_index" on "invoice" ("user_id", "stripe_created_at", "id");`);
    this.addSql(
      `alter table "invoice" add constraint "invoice_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "invoice" add constraint "invoice_subscription_id_foreign" foreign key ("subscription_id") references "subscription" ("id") on update cascade on delete set null;`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "invoice" cascade;`);
  }
}
