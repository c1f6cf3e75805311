import { Migration } from '@mikro-orm/migrations';

export class Migration20261201203243 extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "usage_record" add column "per_day_after" int null;`);
    // Uses recorded before this column existed were answered again with the limit in force at the time of
    // the retry; they keep the one in force now.
    this.addSql(`update "usage_record" r set "per_day_after" = (
      select pl."per_day" from "plan_limit" pl
       where pl."metric" = r."metric"
         and pl."plan_id" = coalesce(
           (select s."plan_id" from "subscription" s
             where s."user_id" = r."user_id" and s."status" in ('active', 'trialing') and s."ended_at" is null
               and (s."current_period_end" is null or s."current_period_end" > now())
             order by s."current_period_end" desc nulls first limit 1),
           (select p."id" from "plan" p where p."is_default")));`);
  }

  override async down(): Promise<void> {
    this.addSql(`alter table "usage_record" drop column "per_day_after";`);
  }
}
