// The recorder's buffer, held as one array per column rather than one object per request: a
// request adds ten array slots and no object, and a batch goes to PostgreSQL as ten arrays (one
// parameter each) without any per-row rebuilding on the way.
/** One request as an object (tests and one-off writes; the hook pushes columns directly). */
export interface ApiLogEntry {
  projectId: string;
  apiKeyId: string | null;
  apiKeyName: string | null;
  /** ISO 8601: when the response was sent. */
  createdAt: string;
  method: string;
  endpoint: string;
  statusCode: number;
  responseTimeMs: number;
  ip: string | null;
  errorMessage: string | null;
}

export class ApiLogColumns {
  projectId: string[] = [];
  apiKeyId: (string | null)[] = [];
  apiKeyName: (string | null)[] = [];
  /** Milliseconds since the epoch: when the response was sent. */
  createdAtMs: number[] = [];
  method: string[] = [];
  endpoint: string[] = [];
  statusCode: number[] = [];
  responseTimeMs: number[] = [];
  ip: (string | null)[] = [];
  errorMessage: (string | null)[] = [];

  get length(): number {
    return this.projectId.length;
  }

  push(
    projectId: string,
    apiKeyId: string | null,
    apiKeyName: string | null,
    createdAtMs: number,
    method: string,
    endpoint: string,
    statusCode: number,
    responseTimeMs: number,
    ip: string | null,
    errorMessage: string | null,
  ): void {
    this.projectId.push(projectId);
    this.apiKeyId.push(apiKeyId);
    this.apiKeyName.push(apiKeyName);
    this.createdAtMs.push(createdAtMs);
    this.method.push(method);
    this.endpoint.push(endpoint);
    this.statusCode.push(statusCode);
    this.responseTimeMs.push(responseTimeMs);
    this.ip.push(ip);
    this.errorMessage.push(errorMessage);
  }

  pushEntry(entry: ApiLogEntry): void {
    this.push(
      entry.projectId,
      entry.apiKeyId,
      entry.apiKeyName,
      Date.parse(entry.createdAt),
      entry.method,
      entry.endpoint,
      entry.statusCode,
      entry.responseTimeMs,
      entry.ip,
      entry.errorMessage,
    );
  }

  /** Removes the `count` oldest rows and returns them as their own columns. */
  takeOldest(count: number): ApiLogColumns {
    const taken = new ApiLogColumns();
    if (count >= this.length) {
      // The common case (the whole buffer fits in one batch): hand the arrays over, copy nothing.
      Object.assign(taken, this);
      this.reset();
      return taken;
    }
    taken.projectId = this.projectId.splice(0, count);
    taken.apiKeyId = this.apiKeyId.splice(0, count);
    taken.apiKeyName = this.apiKeyName.splice(0, count);
    taken.createdAtMs = this.createdAtMs.splice(0, count);
    taken.method = this.method.splice(0, count);
    taken.endpoint = this.endpoint.splice(0, count);
    taken.statusCode = this.statusCode.splice(0, count);
    taken.responseTimeMs = this.responseTimeMs.splice(0, count);
    taken.ip = this.ip.splice(0, count);
    taken.errorMessage = this.errorMessage.splice(0, count);
    return taken;
  }

  /** Puts rows (taken earlier, so older) back in front, oldest first. */
  putBackInFront(older: ApiLogColumns): void {
    this.projectId = older.projectId.concat(this.projectId);
    this.apiKeyId = older.apiKeyId.concat(this.apiKeyId);
    this.apiKeyName = older.apiKeyName.concat(this.apiKeyName);
    this.createdAtMs = older.createdAtMs.concat(this.createdAtMs);
    this.method = older.method.concat(this.method);
    this.endpoint = older.endpoint.concat(this.endpoint);
    this.statusCode = older.statusCode.concat(this.statusCode);
    this.responseTimeMs = older.responseTimeMs.concat(this.responseTimeMs);
    this.ip = older.ip.concat(this.ip);
    this.errorMessage = older.errorMessage.concat(this.errorMessage);
  }

  /** The rows from index `from` on, as their own columns (this one is left as it is). */
  slice(from: number, to = this.length): ApiLogColumns {
    const part = new ApiLogColumns();
    part.projectId = this.projectId.slice(from, to);
    part.apiKeyId = this.apiKeyId.slice(from, to);
    part.apiKeyName = this.apiKeyName.slice(from, to);
    part.createdAtMs = this.createdAtMs.slice(from, to);
    part.method = this.method.slice(from, to);
    part.endpoint = this.endpoint.slice(from, to);
    part.statusCode = this.statusCode.slice(from, to);
    part.responseTimeMs = this.responseTimeMs.slice(from, to);
    part.ip = this.ip.slice(from, to);
    part.errorMessage = this.errorMessage.slice(from, to);
    return part;
  }

  private reset(): void {
    this.projectId = [];
    this.apiKeyId = [];
    this.apiKeyName = [];
    this.createdAtMs = [];
    this.method = [];
    this.endpoint = [];
    this.statusCode = [];
    this.responseTimeMs = [];
    this.ip = [];
    this.errorMessage = [];
  }
}
