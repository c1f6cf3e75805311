import { Entity, ManyToOne, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';
import { User } from './user';

/** A user's API token (`tg_...`). A user may hold several; revoking deletes the row. */
@Entity({ tableName: 'user_token' })
export class UserToken extends BaseEntity {
  @ManyToOne(() => User, { deleteRule: 'cascade' })
  user!: User;

  /** sha256 of the token; the token itself is never stored. */
  @Property({ type: 'text', hidden: true })
  @Unique()
  tokenHash!: string;

  /** Set at most once a minute, so authenticating stays one statement that rarely writes. */
  @Property({ type: 'timestamptz', nullable: true })
  lastUsedAt?: Date | null;
}
