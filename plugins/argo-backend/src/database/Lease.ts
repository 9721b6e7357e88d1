import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Knex } from 'knex';

/**
 * A lease in the database: whoever holds `name` and renews it before it
 * expires is the only one doing that work. Taking a free or expired lease
 * and renewing one's own are single conditional statements, so two
 * replicas cannot both win.
 */
export class DatabaseLease {
  constructor(private readonly db: Knex, readonly name: string, readonly holder: string, private readonly ttlMs: number) {}

  /** Takes or renews the lease; true while this holder has it. */
  async tryAcquire(now = new Date()): Promise<boolean> {
    const expiresAt = new Date(now.getTime() + this.ttlMs);
    const renewed = await this.db('reconciler_leases')
      .where('name', this.name)
      .andWhere(q => q.where('holder', this.holder).orWhere('expires_at', '<', now))
      .update({ holder: this.holder, expires_at: expiresAt });
    if (renewed === 1) return true;
    try {
      await this.db('reconciler_leases').insert({ name: this.name, holder: this.holder, expires_at: expiresAt });
      return true;
    } catch {
      return false; // someone else holds it
    }
  }

  /** Gives the lease up at once (a clean shutdown), so another replica need not wait for it to expire. */
  async release(): Promise<void> {
    await this.db('reconciler_leases').where({ name: this.name, holder: this.holder }).delete();
  }
}

/**
 * Runs `lead` while this replica holds the lease and stops it when the
 * lease is lost (or at stop), renewing every third of the lease time.
 */
export class LeaderElection {
  private timer?: NodeJS.Timeout;
  private leading = false;
  private stopped = false;
  private work?: { stop(): Promise<void> };

  constructor(
    private readonly lease: DatabaseLease,
    private readonly lead: () => Promise<{ stop(): Promise<void> }>,
    private readonly options: { logger?: LoggerService; renewMs: number },
  ) {}

  get isLeader() {
    return this.leading;
  }

  async start(): Promise<void> {
    await this.tick();
  }

  private async tick() {
    if (this.stopped) return;
    let held = false;
    try {
      held = await this.lease.tryAcquire();
    } catch (error) {
      this.options.logger?.warn(`Lease ${this.lease.name}: ${error}`);
    }
    if (held && !this.leading) {
      this.leading = true;
      this.options.logger?.info(`Took lease ${this.lease.name}; reconciling here`);
      this.work = await this.lead();
    } else if (!held && this.leading) {
      this.leading = false;
      this.options.logger?.warn(`Lost lease ${this.lease.name}; another replica reconciles now`);
      await this.work?.stop();
      this.work = undefined;
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => void this.tick(), this.options.renewMs);
      this.timer.unref?.();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.work?.stop();
    this.work = undefined;
    if (this.leading) await this.lease.release().catch(() => undefined);
    this.leading = false;
  }
}
