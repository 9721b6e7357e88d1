import type { Knex } from 'knex';

export interface RolloutRef {
  cluster: string;
  uid: string;
  namespace: string;
  name: string;
}

/**
 * What taking a notice's key found: the Rollout had never been told of
 * (`first`), was told of another state (`changed`), or this state was
 * already told (`unchanged`, also when another replica took it first).
 */
export type NoticeClaim = 'first' | 'changed' | 'unchanged';

/** The state each Rollout's team was last told of (`rollout_notices`). */
export class RolloutNoticeStore {
  constructor(private readonly db: Knex) {}

  /**
   * Records `key` as the Rollout's told state. Each way of changing it is
   * one conditional statement (an update of another key, else an insert a
   * conflict ignores), so of replicas claiming the same state at once
   * exactly one gets `first` or `changed`.
   */
  async claim(rollout: RolloutRef, key: string, at = new Date()): Promise<NoticeClaim> {
    const changed = await this.db('rollout_notices')
      .where({ cluster: rollout.cluster, uid: rollout.uid })
      .whereNot('notice_key', key)
      .update({ notice_key: key, updated_at: at });
    if (changed > 0) return 'changed';
    const inserted = await this.db('rollout_notices')
      .insert({ ...rollout, notice_key: key, updated_at: at })
      .onConflict(['cluster', 'uid'])
      .ignore()
      .returning('name');
    return inserted.length > 0 ? 'first' : 'unchanged';
  }

  /** Forgets a deleted Rollout. */
  async forget(rollout: Pick<RolloutRef, 'cluster' | 'uid'>): Promise<void> {
    await this.db('rollout_notices').where({ cluster: rollout.cluster, uid: rollout.uid }).delete();
  }

  /**
   * Forgets the Rollouts of a cluster that are gone from it (deleted while no
   * replica watched): those not in `present`, the uids a full list found,
   * and last told before `before`, so a row another replica wrote for a
   * Rollout created after the list stays. Returns how many it forgot.
   */
  async forgetAbsent(cluster: string, present: Iterable<string>, before: Date): Promise<number> {
    const keep = new Set(present);
    const rows: Array<{ uid: string }> = await this.db('rollout_notices').where('cluster', cluster).andWhere('updated_at', '<', before).select('uid');
    const gone = rows.map(r => r.uid).filter(uid => !keep.has(uid));
    let forgotten = 0;
    for (let i = 0; i < gone.length; i += 500) {
      // Told of again since the read (another replica's claim), a row stays.
      forgotten += await this.db('rollout_notices').where('cluster', cluster).whereIn('uid', gone.slice(i, i + 500)).andWhere('updated_at', '<', before).delete();
    }
    return forgotten;
  }
}
