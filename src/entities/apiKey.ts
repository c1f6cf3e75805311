import { Entity, Index, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';

/** What a service API key may do; `admin` may do everything. */
export enum ApiKeyScope {
  USAGE = 'usage',
  BILLING = 'billing',
  USERS = 'users',
  ADMIN = 'admin',
}

/**
 * A service API key (`tg_sk_...`): the product's backend. Stored hashed with a short visible prefix to
 * tell keys apart; a name is unique among the keys not revoked.
 */
@Entity({ tableName: 'api_key' })
@Index({
  name: 'api_key_active_name',
  expression: `create unique index "api_key_active_name" on "api_key" ("name") where "revoked_at" is null`,
})
export class ApiKey extends BaseEntity {
  @Property({ type: 'text' })
  name!: string;

  /** The first characters of the key (`tg_sk_` and 8 more), shown in lists to tell keys apart. */
  @Property({ type: 'text' })
  prefix!: string;

  /** sha256 of the key; the key itself is shown once, when it is made. */
  @Property({ type: 'text', hidden: true })
  @Unique()
  keyHash!: string;

  @Property({ type: 'text[]' })
  scopes!: ApiKeyScope[];

  /** Set at most once a minute, so authenticating stays one statement that rarely writes. */
  @Property({ type: 'timestamptz', nullable: true })
  lastUsedAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  revokedAt?: Date | null;
}
