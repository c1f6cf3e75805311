import { Migration } from '@mikro-orm/migrations';

/**
 * Server processes remember who a token or key is (src/auth/credentialCache.ts). These triggers notify
 * `tollgate_credentials` when a change that could alter who a credential is commits, whichever code made
 * it (a revocation through GraphQL, a command, a hand-written statement), and every process forgets what it
 * remembers. Changes that alter no Principal (a key's last_used_at, a user's Stripe customer) notify nothing,
 * and neither do new tokens and keys (a refused credential is never remembered).
 */
export class Migration20261206160000_credentialNotices extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create function "credentials_changed"() returns trigger language plpgsql as $$
      begin
        perform pg_notify('tollgate_credentials', '');
        return null;
      end $$;`);
    // A new user may be the one a service key's Tollgate-User header named before it existed.
    this.addSql(`create trigger "app_user_credentials_inserted" after insert or delete on "app_user"
      for each row execute function "credentials_changed"();`);
    this.addSql(`create trigger "app_user_credentials_updated" after update on "app_user" for each row
      when ((old."id", old."email", old."role", old."timezone", old."external_id", old."name")
            is distinct from (new."id", new."email", new."role", new."timezone", new."external_id", new."name"))
      execute function "credentials_changed"();`);
    this.addSql(`create trigger "user_token_credentials_changed" after update or delete on "user_token"
      for each row execute function "credentials_changed"();`);
    this.addSql(
      `create trigger "api_key_credentials_deleted" after delete on "api_key" for each row execute function "credentials_changed"();`,
    );
    this.addSql(`create trigger "api_key_credentials_updated" after update on "api_key" for each row
      when ((old."id", old."name", old."key_hash", old."scopes", old."revoked_at")
            is distinct from (new."id", new."name", new."key_hash", new."scopes", new."revoked_at"))
      execute function "credentials_changed"();`);
    for (const table of ['app_user', 'user_token', 'api_key']) {
      this.addSql(`create trigger "${table}_credentials_truncated" after truncate on "${table}"
        for each statement execute function "credentials_changed"();`);
    }
  }

  override async down(): Promise<void> {
    this.addSql(`drop function if exists "credentials_changed"() cascade;`);
  }
}
