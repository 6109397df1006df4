// Reading what a Parley process logged: its JSON lines, and keys that a line repeats (JSON.parse
// keeps only the last of them, so they are found on the text).

/** The keys that appear more than once in one object of a JSON text, at any depth. */
export function duplicateKeys(json: string): string[] {
  const found: string[] = [];
  const objects: (Set<string> | null)[] = []; // null: an array
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (end < json.length && json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      const top = objects[objects.length - 1];
      if (expectKey && top) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (top.has(key)) found.push(key);
        top.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{') {
      objects.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      objects.push(null);
    } else if (c === '}' || c === ']') {
      objects.pop();
    } else if (c === ',') {
      expectKey = objects[objects.length - 1] !== null && objects.length > 0;
    }
  }
  return found;
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** Every line of `output` that is a JSON object, parsed. */
export function jsonLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}
