import { Migration } from '@mikro-orm/migrations';

/** Users get the product's own id and a name; user tokens move to a table of their own (a user may hold several); service API keys. */
export class Migration20261206070000_credentials extends Migration {
  override async up(): Promise<void> {
    this.addSql(`alter table "app_user" add column "external_id" text null, add column "name" text null;`);
    this.addSql(`alter table "app_user" add constraint "app_user_external_id_unique" unique ("external_id");`);

    this.addSql(
      `create table "user_token" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "user_id" uuid not null, "token_hash" text not null, "last_used_at" timestamptz null, constraint "user_token_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "user_token" add constraint "user_token_token_hash_unique" unique ("token_hash");`);
    this.addSql(
      `alter table "user_token" add constraint "user_token_user_id_foreign" foreign key ("user_id") references "app_user" ("id") on update cascade on delete cascade;`,
    );
    // Every token issued so far keeps working.
    this.addSql(
      `insert into "user_token" ("id", "created_at", "updated_at", "user_id", "token_hash") select gen_random_uuid(), "created_at", "updated_at", "id", "token_hash" from "app_user";`,
    );
    this.addSql(`alter table "app_user" drop column "token_hash";`);

    this.addSql(
      `create table "api_key" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "name" text not null, "prefix" text not null, "key_hash" text not null, "scopes" text[] not null, "last_used_at" timestamptz null, "revoked_at" timestamptz null, constraint "api_key_pkey" primary key ("id"));`,
    );
    this.addSql(`alter table "api_key" add constraint "api_key_key_hash_unique" unique ("key_hash");`);
    this.addSql(`create unique index "api_key_active_name" on "api_key" ("name") where "revoked_at" is null;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table "api_key";`);
    this.addSql(`alter table "app_user" add column "token_hash" text null;`);
    this.addSql(
      `update "app_user" u set "token_hash" = (select t."token_hash" from "user_token" t where t."user_id" = u."id" order by t."created_at" desc limit 1);`,
    );
    this.addSql(`drop table "user_token";`);
    this.addSql(`alter table "app_user" drop constraint "app_user_external_id_unique";`);
    this.addSql(`alter table "app_user" drop column "external_id", drop column "name";`);
  }
}
