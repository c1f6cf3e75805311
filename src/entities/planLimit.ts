import { Entity, ManyToOne, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';
import { Plan } from './plan';

/** A plan's daily allowance of one metric (`minutes`, `megabytes`, ...); perDay null = unlimited. */
@Entity({ tableName: 'plan_limit' })
@Unique({ properties: ['plan', 'metric'] })
export class PlanLimit extends BaseEntity {
  @ManyToOne(() => Plan, { deleteRule: 'cascade' })
  plan!: Plan;

  @Property({ type: 'text' })
  metric!: string;

  @Property({ type: 'integer', nullable: true })
  perDay!: number | null;
}
