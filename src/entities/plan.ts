import { Collection, Entity, Index, OneToMany, Opt, Property, Unique } from '@mikro-orm/core';
import { BaseEntity } from './base';
import { PlanLimit } from './planLimit';
import { PlanPricing } from './planPricing';

/** A plan. Exactly one plan is the default (enforced in the database, see the initial migration). */
@Entity({ tableName: 'plan' })
// At most one default plan; the deferred trigger in the initial migration requires at least one.
@Index({ name: 'plan_single_default', expression: `create unique index "plan_single_default" on "plan" ((true)) where "is_default"` })
export class Plan extends BaseEntity {
  @Property({ type: 'text' })
  @Unique()
  code!: string;

  @Property({ type: 'text' })
  name!: string;

  @Property({ type: 'text', default: '' })
  description: Opt<string> = '';

  @Property({ type: 'boolean', default: false })
  isDefault: Opt<boolean> = false;

  @Property({ type: 'boolean', default: true })
  active: Opt<boolean> = true;

  @Property({ type: 'integer', default: 0 })
  sortOrder: Opt<number> = 0;

  /** Boolean features the plan grants, by key (e.g. `export_pdf`). */
  @Property({ type: 'text[]', default: '{}' })
  features: Opt<string[]> = [];

  @Property({ type: 'text', nullable: true })
  @Unique()
  stripeProductId?: string | null;

  @OneToMany(() => PlanLimit, (l) => l.plan)
  limits = new Collection<PlanLimit>(this);

  @OneToMany(() => PlanPricing, (p) => p.plan)
  pricings = new Collection<PlanPricing>(this);
}
