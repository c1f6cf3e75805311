import { Migration } from '@mikro-orm/migrations';

export class Migration20261123015445 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "stripe_event" add column "outcome" text null, add column "own_request" boolean null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "stripe_event" drop column "outcome", drop column "own_request";`);
  }
}
