#!/usr/bin/env node
// Launcher for the `parley` command: runs the compiled entry point in dist/, which `npm install`
// builds (the `prepare` script; `npm run build` builds it again). `npm run dev` runs the
// TypeScript sources through tsx instead.
import fs from 'node:fs';

const entry = new URL('../dist/main.js', import.meta.url);
if (!fs.existsSync(entry)) {
  process.stderr.write('parley: dist/main.js is missing: run "npm install" (or "npm run build") in the Parley checkout first\n');
  process.exit(1);
}
await import(entry.href);
