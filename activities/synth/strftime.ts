/**
 * strftime / strptime for the codes summary-statistics files use (BIT's library writes `%Y-%m-%d`,
 * `%X` and `%Y-%m-%d %X`, and takes any Python format a user gives), in UTC and the C locale:
 *   %Y %y %m %d %e %j %H %I %p %M %S %f %b %h %B %a %A %z %Z %%
 *   and the composites %X = %H:%M:%S, %T = %H:%M:%S, %R = %H:%M, %F = %Y-%m-%d, %x = %D = %m/%d/%y,
 *   %c = %a %b %e %H:%M:%S %Y.
 * Generated instants are whole seconds, so %f writes 000000 (and reads 1 to 6 digits).
 */

const COMPOSITES: Record<string, string> = { X: '%H:%M:%S', T: '%H:%M:%S', R: '%H:%M', F: '%Y-%m-%d', x: '%m/%d/%y', D: '%m/%d/%y', c: '%a %b %e %H:%M:%S %Y' };
const SIMPLE_CODES = 'YymdejHIpMSfbhBaAzZ%';
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** The codes a format uses that this module does not know (empty when it can be used). */
export function unknownStrftimeCodes(format: string): string[] {
  const unknown = new Set<string>();
  for (const match of format.matchAll(/%(.?)/g)) {
    const code = match[1]!;
    if (!(code in COMPOSITES) && (code === '' || !SIMPLE_CODES.includes(code))) unknown.add(`%${code}`);
  }
  return [...unknown];
}

function expand(format: string): string {
  return format.replace(/%([XTRFxDc%])/g, (whole, code: string) => (code === '%' ? whole : COMPOSITES[code]!));
}

const pad = (value: number, width: number, fill = '0'): string => String(value).padStart(width, fill);

type Piece = string | ((date: Date, time: number) => string);

function fieldWriter(code: string): Piece | undefined {
  switch (code) {
    case 'Y': return (date) => pad(date.getUTCFullYear(), 4);
    case 'y': return (date) => pad(date.getUTCFullYear() % 100, 2);
    case 'm': return (date) => pad(date.getUTCMonth() + 1, 2);
    case 'd': return (date) => pad(date.getUTCDate(), 2);
    case 'e': return (date) => pad(date.getUTCDate(), 2, ' ');
    case 'j': return (date, time) => pad(Math.floor((time - Date.UTC(date.getUTCFullYear(), 0, 1)) / 86_400_000) + 1, 3);
    case 'H': return (date) => pad(date.getUTCHours(), 2);
    case 'I': return (date) => pad(date.getUTCHours() % 12 === 0 ? 12 : date.getUTCHours() % 12, 2);
    case 'p': return (date) => (date.getUTCHours() < 12 ? 'AM' : 'PM');
    case 'M': return (date) => pad(date.getUTCMinutes(), 2);
    case 'S': return (date) => pad(date.getUTCSeconds(), 2);
    case 'f': return (date) => pad(date.getUTCMilliseconds() * 1000, 6);
    case 'b':
    case 'h': return (date) => MONTHS[date.getUTCMonth()]!.slice(0, 3);
    case 'B': return (date) => MONTHS[date.getUTCMonth()]!;
    case 'a': return (date) => WEEKDAYS[date.getUTCDay()]!.slice(0, 3);
    case 'A': return (date) => WEEKDAYS[date.getUTCDay()]!;
    case 'z': return '+0000';
    case 'Z': return 'UTC';
    case '%': return '%';
    default: return undefined;
  }
}

const compiled = new Map<string, Piece[]>();

function compile(format: string): Piece[] {
  let pieces = compiled.get(format);
  if (pieces) return pieces;
  pieces = [];
  const expanded = expand(format);
  let literal = '';
  for (let i = 0; i < expanded.length; i++) {
    const writer = expanded[i] === '%' && i + 1 < expanded.length ? fieldWriter(expanded[i + 1]!) : undefined;
    if (writer === undefined) literal += expanded[i];
    else {
      i += 1;
      if (typeof writer === 'string') literal += writer;
      else {
        if (literal) pieces.push(literal);
        literal = '';
        pieces.push(writer);
      }
    }
  }
  if (literal) pieces.push(literal);
  if (compiled.size < 1000) compiled.set(format, pieces);
  return pieces;
}

/** `time` (ms since the epoch, UTC) written with a strftime format; unknown codes are written as they are. */
export function formatStrftime(time: number, format: string): string {
  const date = new Date(time);
  let text = '';
  for (const piece of compile(format)) text += typeof piece === 'string' ? piece : piece(date, time);
  return text;
}

const FIELD_PATTERNS: Record<string, string> = {
  Y: '(\\d{4})', y: '(\\d{2})', m: '(\\d{1,2})', d: '(\\d{1,2})', e: ' ?(\\d{1,2})', j: '(\\d{1,3})',
  H: '(\\d{1,2})', I: '(\\d{1,2})', p: '(AM|PM|am|pm)', M: '(\\d{1,2})', S: '(\\d{1,2})', f: '(\\d{1,6})',
  b: '([A-Za-z]{3})', h: '([A-Za-z]{3})', B: '([A-Za-z]+)', a: '([A-Za-z]{3})', A: '([A-Za-z]+)', z: '([+-]\\d{2}:?\\d{2}|Z)', Z: '([A-Za-z]*)',
};

const monthOf = (name: string): number => MONTHS.findIndex((month) => month.toLowerCase().startsWith(name.toLowerCase()) && (name.length === 3 || month.length === name.length));

/**
 * Reads text written with a strftime format (as Python's strptime does: missing fields default to
 * 1900-01-01 00:00:00), as ms since the epoch in UTC; undefined when the text does not match or names
 * an impossible date.
 */
export function parseStrftime(text: string, format: string): number | undefined {
  const codes: string[] = [];
  let pattern = '';
  const expanded = expand(format);
  for (let i = 0; i < expanded.length; i++) {
    const char = expanded[i]!;
    if (char === '%' && i + 1 < expanded.length) {
      const code = expanded[++i]!;
      if (code === '%') pattern += '%';
      else if (FIELD_PATTERNS[code]) {
        pattern += FIELD_PATTERNS[code];
        codes.push(code);
      } else return undefined;
    } else pattern += /\s/.test(char) ? '\\s+' : char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  const match = new RegExp(`^\\s*${pattern}\\s*$`).exec(text);
  if (!match) return undefined;
  let [year, month, day, hour, minute, second, millisecond, offsetMinutes] = [1900, 0, 1, 0, 0, 0, 0, 0];
  let dayOfYear: number | undefined;
  let pm: boolean | undefined;
  let twelveHour = false;
  for (const [k, code] of codes.entries()) {
    const field = match[k + 1]!;
    const n = Number(field);
    switch (code) {
      case 'Y': year = n; break;
      case 'y': year = n < 69 ? 2000 + n : 1900 + n; break;
      case 'm': month = n - 1; break;
      case 'd':
      case 'e': day = n; break;
      case 'j': dayOfYear = n; break;
      case 'H': hour = n; break;
      case 'I': hour = n % 12; twelveHour = true; break;
      case 'p': pm = field.toUpperCase() === 'PM'; break;
      case 'M': minute = n; break;
      case 'S': second = n; break;
      case 'f': millisecond = Math.floor(Number(field.padEnd(6, '0')) / 1000); break;
      case 'b':
      case 'h':
      case 'B': {
        const index = monthOf(field);
        if (index < 0) return undefined;
        month = index;
        break;
      }
      case 'z': {
        if (field !== 'Z') {
          const digits = field.replace(':', '');
          offsetMinutes = (field.startsWith('-') ? -1 : 1) * (Number(digits.slice(1, 3)) * 60 + Number(digits.slice(3, 5)));
        }
        break;
      }
      default: break; // %a %A %Z: read, not used
    }
  }
  if (twelveHour && pm) hour += 12;
  if (month > 11 || hour > 23 || minute > 59 || second > 61) return undefined;
  let time: number;
  if (dayOfYear !== undefined) time = Date.UTC(year, 0, dayOfYear, hour, minute, second, millisecond);
  else {
    time = Date.UTC(year, month, day, hour, minute, second, millisecond);
    const check = new Date(time);
    if (check.getUTCDate() !== day || check.getUTCMonth() !== month) return undefined;
  }
  return time - offsetMinutes * 60_000;
}
