import { Migration } from '@mikro-orm/migrations';

/**
 * Events to the product: the outbox, the endpoints that receive it and one delivery per (event, endpoint).
 * A trigger fans every new event out to the enabled endpoints that want its type, in the transaction that
 * writes the event (whichever code wrote it: the ORM or a hand-written statement), and notifies listening
 * servers (LISTEN tollgate_events), which PostgreSQL does only once that transaction commits.
 */
export class Migration20261206080000_events extends Migration {
  override async up(): Promise<void> {
    this.addSql(
      `create table "event_endpoint" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "url" text not null, "events" text[] not null, "secret" text not null, "disabled_at" timestamptz null, constraint "event_endpoint_pkey" primary key ("id"));`,
    );

    this.addSql(
      `create table "outbox_event" ("seq" bigserial primary key, "id" text not null, "type" text not null, "user_id" uuid not null, "data" jsonb not null, "created_at" timestamptz not null);`,
    );
    this.addSql(`alter table "outbox_event" add constraint "outbox_event_id_unique" unique ("id");`);
    this.addSql(`create index "outbox_event_user_id_index" on "outbox_event" ("user_id");`);
    this.addSql(`create index "outbox_event_created_at_index" on "outbox_event" ("created_at");`);

    this.addSql(
      `create table "event_delivery" ("id" bigserial primary key, "endpoint_id" uuid not null, "event_seq" bigint not null, "user_id" uuid not null, "status" text check ("status" in ('pending', 'delivered', 'failed')) not null default 'pending', "attempts" int not null default 0, "next_attempt_at" timestamptz not null, "last_status" int null, "last_error" text null, "last_duration_ms" int null, "last_attempt_at" timestamptz null, "delivered_at" timestamptz null, "created_at" timestamptz not null);`,
    );
    this.addSql(`create index "event_delivery_event_seq_index" on "event_delivery" ("event_seq");`);
    this.addSql(
      `create index "event_delivery_queue_idx" on "event_delivery" ("endpoint_id", "user_id", "event_seq") where "status" = 'pending';`,
    );
    this.addSql(`create index "event_delivery_due_idx" on "event_delivery" ("next_attempt_at") where "status" = 'pending';`);
    this.addSql(
      `alter table "event_delivery" add constraint "event_delivery_endpoint_id_foreign" foreign key ("endpoint_id") references "event_endpoint" ("id") on update cascade on delete cascade;`,
    );
    this.addSql(
      `alter table "event_delivery" add constraint "event_delivery_event_seq_foreign" foreign key ("event_seq") references "outbox_event" ("seq") on update cascade on delete cascade;`,
    );

    this.addSql(`create function "outbox_event_fan_out"() returns trigger language plpgsql as $$
      begin
        insert into "event_delivery" ("endpoint_id", "event_seq", "user_id", "next_attempt_at", "created_at")
        select e."id", new."seq", new."user_id", now(), now() from "event_endpoint" e
         where e."disabled_at" is null
           and (new."type" = any(e."events") or split_part(new."type", '.', 1) || '.*' = any(e."events") or '*' = any(e."events"));
        perform pg_notify('tollgate_events', json_build_object('seq', new."seq", 'type', new."type", 'userId', new."user_id")::text);
        return null;
      end $$;`);
    this.addSql(
      `create trigger "outbox_event_fan_out" after insert on "outbox_event" for each row execute function "outbox_event_fan_out"();`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "event_delivery";`);
    this.addSql(`drop table if exists "outbox_event";`);
    this.addSql(`drop function if exists "outbox_event_fan_out"();`);
    this.addSql(`drop table if exists "event_endpoint";`);
  }
}
