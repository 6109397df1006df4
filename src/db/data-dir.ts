// PARLEY_DATA_DIR: made and checked before anything is written into it, so that a path that
// cannot work fails at once with the setting to change. Folders are made one level at a time:
// Node's recursive mkdir never returns under /proc (ENOENT for a folder whose parent exists
// makes it try the parent again, for ever).
import fs from 'node:fs';
import path from 'node:path';

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a file is in the way',
  EEXIST: 'a file is in the way',
  ENOENT: 'the file system does not allow folders there',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the path is too long',
};

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return REASONS[code] ?? ((error as Error).message || code || 'unknown error');
}

export class DataDirError extends Error {}

function fail(dataDir: string, what: string): never {
  throw new DataDirError(`PARLEY_DATA_DIR ${dataDir} ${what}; set PARLEY_DATA_DIR to a folder this process can create and write`);
}

/** Creates `dataDir` (and missing parents) and checks that it can be written. */
export function ensureDataDir(dataDir: string): void {
  const missing: string[] = [];
  let current = dataDir;
  for (;;) {
    let stat: fs.Stats | null = null;
    try {
      stat = fs.statSync(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ENOTDIR: a file further up, which the walk up names.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') fail(dataDir, `cannot be reached (${reason(error)} at ${current})`);
    }
    if (stat) {
      if (!stat.isDirectory()) fail(dataDir, current === dataDir ? 'is a file, not a folder' : `cannot be created: ${current} is a file, not a folder`);
      break;
    }
    missing.unshift(current);
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const dir of missing) {
    try {
      fs.mkdirSync(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(dir).isDirectory()) continue; // made meanwhile
      fail(dataDir, `cannot be created (${reason(error)} at ${dir})`);
    }
  }
  const probe = path.join(dataDir, `.write-test-${process.pid}`);
  try {
    fs.writeFileSync(probe, '');
  } catch (error) {
    fail(dataDir, `is not writable (${reason(error)})`);
  }
  fs.rmSync(probe, { force: true });
}
