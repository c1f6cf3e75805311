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

  /** The product's own id for this user (unique); null for users made with user:create. */
  @Property({ type: 'text', nullable: true })
  @Unique()
  externalId?: string | null;

  /** A display name, as the product gives it. */
  @Property({ type: 'text', nullable: true })
  name?: string | null;

  @Property({ type: 'text', nullable: true })
  @Unique()
  stripeCustomerId?: string | null;
}
