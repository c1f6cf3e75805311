import { Migration } from '@mikro-orm/migrations';

export class Migration20261201155733 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "payment" add column "payment_method" text null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "payment" drop column "payment_method";`);
  }
}
