import { Migration } from '@mikro-orm/migrations';

export class Migration20261123000000_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "plan" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "code" text not null, "name" text not null, "description" text not null default '', "is_default" boolean not null default false, "active" boolean not null default true, "sort_order" int not null default 0, "stripe_product_id" text null, constraint "plan_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "plan" add constraint "plan_code_unique" unique ("code");`);
    this.addSql(`alter table "plan" add constraint "plan_stripe_product_id_unique" unique ("stripe_product_id");`);
    // Exactly one default plan: the partial unique index allows at most one, the deferred trigger
    // (checked at commit) requires one whenever plans exist.
    this.addSql(`create unique index "plan_single_default" on "plan" ((true)) where "is_default";`);
    this.addSql(`create function "plan_require_default"() returns trigger language plpgsql as $$
      begin
        if exists (select 1 from "plan") and not exists (select 1 from "plan" where "is_default") then
          raise exception 'exactly one plan must be the default plan' using errcode = '23514';
        end if;
        return null;
      end $$;`);
    this.addSql(
      `create constraint trigger "plan_default_required" after insert or update or delete on "plan" deferrable initially deferred for each row execute function "plan_require_default"();`,
    );

    this.addSql(
      `create table "plan_limit" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "plan_id" uuid not null, "metric" text not null, "per_day" int null, constraint "plan_limit_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "plan_limit" add constraint "plan_limit_plan_id_metric_unique" unique ("plan_id", "metric");`);

    this.addSql(
      `create table "plan_pricing" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "plan_id" uuid not null, "lookup_key" text not null, "amount_minor" int not null, "currency" char(3) not null, "interval" text check ("interval" in ('day', 'month', 'year', 'one_time')) not null, "interval_count" int not null default 1, "auto_renew" boolean not null default true, "active" boolean not null default true, "stripe_price_id" text null, constraint "plan_pricing_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "plan_pricing_plan_id_index" on "plan_pricing" ("plan_id");`);
    this.addSql(`alter table "plan_pricing" add constraint "plan_pricing_lookup_key_unique" unique ("lookup_key");`);
    this.addSql(`alter table "plan_pricing" add constraint "plan_pricing_stripe_price_id_unique" unique ("stripe_price_id");`);

    this.addSql(
      `create table "stripe_event" ("id" text not null, "type" text not null, "status" text check ("status" in ('pending', 'processed', 'ignored', 'failed')) not null default 'pending', "attempts" int not null default 0, "last_error" text null, "payload" jsonb not null, "livemode" boolean not null default false, "stripe_created_at" timestamptz not null, "received_at" timestamptz not null, "processed_at" timestamptz null, constraint "stripe_event_pkey" primary key ("id"));`,
    );
    this.addSql(`create index "stripe_event_type_index" on "stripe_event" ("type");`);
    this.addSql(`create index "stripe_event_unprocessed_idx" on "stripe_event" ("received_at") where "status" in ('pending', 'failed');`);

    this.addSql(
      `create table "app_user" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "email" text not null, "role" text check ("role" in ('user', 'admin')) not null default 'user', "timezone" text not null default 'UTC', "token_hash" text not null, "stripe_customer_id" text null, constraint "app_user_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "app_user" add constraint "app_user_email_unique" unique ("email");`);
    this.addSql(`alter table "app_user" add constraint "app_user_token_hash_unique" unique ("token_hash");`);
    this.addSql(`alter table "app_user" add constraint "app_user_stripe_customer_id_unique" unique ("stripe_customer_id");`);

    this.addSql(
      `create table "usage_record" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "user_id" uuid not null, "idempotency_key" text not null, "metric" text not null, "day" date not null, "amount" int not null, "used_after" int not null, constraint "usage_record_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "usage_record" add constraint "usage_record_user_id_idempotency_key_unique" unique ("user_id", "idempotency_key");`,
    );

    this.addSql(
      `create table "usage_counter" ("user_id" uuid not null, "metric" text not null, "day" date not null, "used" int not null default 0, "updated_at" timestamptz not null, constraint "usage_counter_pkey" primary key ("user_id", "metric", "day"));`,
    );

    this.addSql(
      `create table "subscription" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "user_id" uuid not null, "plan_id" uuid not null, "pricing_id" uuid not null, "stripe_subscription_id" text null, "stripe_checkout_session_id" text null, "status" text check ("status" in ('active', 'trialing', 'incomplete', 'incomplete_expired', 'past_due', 'unpaid', 'paused', 'canceled')) not null, "current_period_start" timestamptz null, "current_period_end" timestamptz null, "cancel_at_period_end" boolean not null default false, "canceled_at" timestamptz null, "ended_at" timestamptz null, "stripe_synced_at" timestamptz null, constraint "subscription_pkey" primary key ("id"));`,
    );
    this.addSql(
      `alter table "subscription" add constraint "subscription_stripe_subscription_id_unique" unique ("stripe_subscription_id");`,
    );
    this.addSql(
      `alter table "subscription" add constraint "subscription_stripe_checkout_session_id_unique" unique ("stripe_checkout_session_id");`,
    );
    this.addSql(`create index "subscription_user_id_status_index" on "subscription" ("user_id", "status");`);

    this.addSql(
      `create table "payment" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "user_id" uuid not null, "amount_minor" int not null, "currency" char(3) not null, "status" text check ("status" in ('waiting', 'preauth', 'confirmed', 'partially_refunded', 'refunded', 'rejected', 'canceled', 'disputed', 'error')) not null default 'waiting', "capture_method" text check ("capture_method" in ('automatic', 'manual')) not null default 'automatic', "description" text null, "order_id" text null, "metadata" jsonb null, "captured_amount_minor" int not null default 0, "refunded_amount_minor" int not null default 0, "failure_code" text null, "failure_message" text null, "idempotency_key" text null, "stripe_payment_intent_id" text null, "stripe_checkout_session_id" text null, "success_url" text null, "cancel_url" text null, constraint "payment_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "payment" add constraint "payment_stripe_payment_intent_id_unique" unique ("stripe_payment_intent_id");`);
    this.addSql(`alter table "payment" add constraint "payment_stripe_checkout_session_id_unique" unique ("stripe_checkout_session_id");`);
    this.addSql(`create index "payment_user_id_created_at_id_index" on "payment" ("user_id", "created_at", "id");`);
    this.addSql(`alter table "payment" add constraint "payment_user_id_idempotency_key_unique" unique ("user_id", "idempotency_key");`);

    this.addSql(
      `create table "payment_log" ("id" bigserial primary key, "payment_id" uuid not null, "event" text not null, "message" text not null, "data" jsonb null, "created_at" timestamptz not null);`,
    );
    this.addSql(`create index "payment_log_payment_id_id_index" on "payment_log" ("payment_id", "id");`);

    this.addSql(
      `alter table "plan_limit" add constraint "plan_limit_plan_id_foreign" foreign key ("plan_id") references "plan" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "plan_pricing" add constraint "plan_pricing_plan_id_foreign" foreign key ("plan_id") references "plan" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "usage_record" add constraint "usage_record_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "usage_counter" add constraint "usage_counter_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "subscription" add constraint "subscription_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "subscription" add constraint "subscription_plan_id_foreign" foreign key ("plan_id") references "plan" ("id") on update cascade;`,
    );
    this.addSql(
      `alter table "subscription" add constraint "subscription_pricing_id_foreign" foreign key ("pricing_id") references "plan_pricing" ("id") on update cascade;`,
    );

    this.addSql(
      `alter table "payment" add constraint "payment_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );

    this.addSql(
      `alter table "payment_log" add constraint "payment_log_payment_id_foreign" foreign key ("payment_id") references "payment" ("id") on update cascade on delete cascade;`,
    );
  }
}
