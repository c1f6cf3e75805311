import { Migration } from '@mikro-orm/migrations';

/**
 * Webhooks are acknowledged once stored and processed by a worker in every server process. An event is
 * due at `next_attempt_at` (null: nothing left to do, it is processed, ignored or given up), so retries
 * wait out their backoff; the partial index is the workers' queue. Every new pending event notifies
 * listening servers (LISTEN tollgate_webhooks), which PostgreSQL does once its transaction commits.
 */
export class Migration20261206150000_webhookWorker extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "stripe_event" add column "next_attempt_at" timestamptz null;`);
    // Events stored before the worker existed, still to do, are due now.
    this.addSql(`update "stripe_event" set "next_attempt_at" = now() where "status" in ('pending', 'failed');`);
    this.addSql(`drop index "stripe_event_unprocessed_idx";`);
    this.addSql(`create index "stripe_event_due_idx" on "stripe_event" ("next_attempt_at") where "status" in ('pending', 'failed');`);
    this.addSql(`create function "stripe_event_notify"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('tollgate_webhooks', '');
        return null;
      end $$;`);
    this.addSql(
      `create trigger "stripe_event_notify" after insert on "stripe_event" for each row when (new."status" = 'pending') execute function "stripe_event_notify"();`,
    );
  }

  override async down(): Promise<void> {
    this.addSql(`drop trigger if exists "stripe_event_notify" on "stripe_event";`);
    this.addSql(`drop function if exists "stripe_event_notify"();`);
    this.addSql(`drop index if exists "stripe_event_due_idx";`);
    this.addSql(`create index "stripe_event_unprocessed_idx" on "stripe_event" ("received_at") where "status" in ('pending', 'failed');`);
    this.addSql(`alter table "stripe_event" drop column "next_attempt_at";`);
  }
}
