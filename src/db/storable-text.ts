// PostgreSQL text cannot hold U+0000, and an error message may quote one (a remote answer, a
// malformed body): errors are stored through this, so recording a failure cannot fail on it.

/** An error message as a text column takes it: without NUL, at most `max` characters. */
export const storableText = (text: string, max = 2000): string => text.replace(/\u0000/g, '').slice(0, max);
