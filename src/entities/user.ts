import { Entity, Enum, Opt, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';

export enum UserRole {
  USER = 'user',
  ADMIN = 'admin',
}

@Entity({ tableName: 'app_user' })
export class User extends BaseEntity {
  @Property({ type: 'text' })
  @Unique()
  email!: string;

  @Enum({ items: () => UserRole, default: UserRole.USER })
  role: Opt<UserRole> = UserRole.USER;

  /** IANA time zone; the user's "today" for daily limits. */
  @Property({ type: 'text', default: 'UTC' })
  timezone: Opt<string> = 'UTC';

  /** sha256 of the API token; the token itself is never stored. */
  @Property({ type: 'text', hidden: true })
  @Unique()
  tokenHash!: string;

  @Property({ type: 'text', nullable: true })
  @Unique()
  stripeCustomerId?: string | null;
}
