// The connected numbers the proxy resolves, kept per node (per process) so that a send does not
// read phone_numbers each time. Every write to phone_numbers raises a NOTIFY (migration 0014)
// that drops the project's entries on every node; writes through repo.ts drop them on this node
// at once too, and a lost listener connection drops everything. The TTL is only a backstop.
// Empty answers are not kept: a number connected a moment ago must work on its first send.

export const NUMBERS_CHANGED_CHANNEL = 'parley_phone_numbers_changed';

const TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  value: T;
  expires: number;
}

export class NumberCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  /** Bumped by every drop: a read that started before it must not store what it read. */
  private generation = 0;

  async get(projectId: string, id: string, load: () => Promise<T>, isEmpty: (value: T) => boolean): Promise<T> {
    const key = `${projectId}/${id}`;
    const found = this.entries.get(key);
    const now = Date.now();
    if (found && found.expires > now) return found.value;
    const started = this.generation;
    const value = await load();
    if (!isEmpty(value) && started === this.generation) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(key, { value, expires: now + TTL_MS });
    }
    return value;
  }

  forgetProject(projectId: string): void {
    this.generation += 1;
    const prefix = `${projectId}/`;
    for (const key of this.entries.keys()) if (key.startsWith(prefix)) this.entries.delete(key);
  }

  forgetAll(): void {
    this.generation += 1;
    this.entries.clear();
  }
}
