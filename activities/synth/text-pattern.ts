/**
 * Text patterns: a subset of regular expressions that describes generated strings, e.g. `[A-Z]{2}-\d{4}`.
 * Literals, character classes `[a-z0-9_]` (ranges and single characters), `.`, `\d` `\w` `\s`,
 * escapes of special characters, and quantifiers `{n}` `{n,m}` `?` `+` `*` (`+` and `*` stop at 8).
 */

export interface PatternPart {
  /** The characters this part draws from (one character for a literal). */
  alphabet: string;
  min: number;
  max: number;
}

const DIGITS = '0123456789';
const WORD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_';
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
const UNBOUNDED_REPEAT = 8;

function classFromEscape(char: string): string | undefined {
  return ({ d: DIGITS, w: WORD, s: ' ' } as Record<string, string>)[char];
}

export function parseTextPattern(pattern: string): PatternPart[] {
  const parts: PatternPart[] = [];
  let i = 0;
  const fail = (message: string): never => {
    throw new Error(`pattern "${pattern}": ${message} at ${i}`);
  };
  while (i < pattern.length) {
    let alphabet: string;
    const char = pattern[i]!;
    if (char === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) fail('unclosed [');
      const body = pattern.slice(i + 1, end);
      let chars = '';
      for (let j = 0; j < body.length; j++) {
        if (body[j] === '\\' && j + 1 < body.length) {
          chars += classFromEscape(body[j + 1]!) ?? body[j + 1]!;
          j += 1;
        } else if (body[j + 1] === '-' && j + 2 < body.length) {
          const from = body.charCodeAt(j);
          const to = body.charCodeAt(j + 2);
          if (from > to) fail(`range ${body[j]}-${body[j + 2]} is reversed`);
          for (let code = from; code <= to; code++) chars += String.fromCharCode(code);
          j += 2;
        } else chars += body[j]!;
      }
      alphabet = [...new Set(chars)].join('');
      i = end + 1;
    } else if (char === '\\') {
      const next = pattern[i + 1];
      if (next === undefined) fail('trailing \\');
      alphabet = classFromEscape(next!) ?? next!;
      i += 2;
    } else if (char === '.') {
      alphabet = PRINTABLE;
      i += 1;
    } else if ('(){}|^$*+?'.includes(char)) {
      return fail(`"${char}" is not supported here`);
    } else {
      alphabet = char;
      i += 1;
    }
    let min = 1;
    let max = 1;
    const quantifier = pattern[i];
    if (quantifier === '{') {
      const match = /^\{(\d+)(?:,(\d+))?\}/.exec(pattern.slice(i));
      if (!match) fail('bad {n,m} quantifier');
      min = Number(match![1]);
      max = match![2] === undefined ? min : Number(match![2]);
      if (min > max) fail(`{${min},${max}} has min above max`);
      i += match![0].length;
    } else if (quantifier === '?' || quantifier === '+' || quantifier === '*') {
      min = quantifier === '+' ? 1 : 0;
      max = quantifier === '?' ? 1 : UNBOUNDED_REPEAT;
      i += 1;
    }
    parts.push({ alphabet, min, max });
  }
  if (parts.length === 0) fail('empty pattern');
  return parts;
}
