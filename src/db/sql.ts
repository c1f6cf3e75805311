import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Runs hand-written SQL written with PostgreSQL's $1..$n placeholders through the EntityManager, so it
 * joins the EntityManager's transaction when there is one. (The ORM's driver takes `?` placeholders;
 * $n keeps statements readable when a parameter is used more than once.)
 */
export function query<T = Record<string, any>>(em: EntityManager, text: string, params: unknown[] = []): Promise<T[]> {
  const bindings: unknown[] = [];
  const sql = text.replace(/\$(\d+)/g, (_, n: string) => {
    const index = Number(n) - 1;
    if (index < 0 || index >= params.length) throw new Error(`SQL parameter $${n} has no value`);
    bindings.push(params[index]);
    return '?';
  });
  return em.execute(sql, bindings) as Promise<T[]>;
}
