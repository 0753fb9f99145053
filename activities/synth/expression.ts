/**
 * A small, safe expression language for derived columns and formulas (never `eval`):
 *   numbers, 'strings' or "strings", column names (or `quoted names`), + - * / % **, comparisons
 *   == != < <= > >=, and/or/not (also && || !), parentheses, and functions:
 *   min max abs round floor ceil sqrt log exp pow if coalesce concat upper lower len str num.
 * A missing value (null) makes arithmetic and functions other than coalesce/if return null.
 */

export type Value = number | string | boolean | null;
export type Lookup = (name: string) => Value;

export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
}

type Node =
  | { kind: 'literal'; value: Value }
  | { kind: 'column'; name: string }
  | { kind: 'unary'; op: string; operand: Node }
  | { kind: 'binary'; op: string; left: Node; right: Node }
  | { kind: 'call'; name: string; args: Node[] };

interface Token {
  kind: 'number' | 'string' | 'name' | 'quoted-name' | 'op' | 'end';
  text: string;
  position: number;
}

const OPERATORS = ['**', '==', '!=', '<=', '>=', '&&', '||', '+', '-', '*', '/', '%', '<', '>', '!', '(', ')', ','];

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const char = source[i]!;
    if (/\s/.test(char)) {
      i += 1;
      continue;
    }
    const start = i;
    if (/[0-9.]/.test(char)) {
      const match = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(source.slice(i));
      if (!match) throw new ExpressionError(`unexpected "${char}" at ${i}`);
      tokens.push({ kind: 'number', text: match[0], position: start });
      i += match[0].length;
    } else if (char === "'" || char === '"' || char === '`') {
      const end = source.indexOf(char, i + 1);
      if (end < 0) throw new ExpressionError(`unterminated ${char === '`' ? 'name' : 'string'} at ${i}`);
      tokens.push({ kind: char === '`' ? 'quoted-name' : 'string', text: source.slice(i + 1, end), position: start });
      i = end + 1;
    } else if (/[A-Za-z_]/.test(char)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))!;
      tokens.push({ kind: 'name', text: match[0], position: start });
      i += match[0].length;
    } else {
      const op = OPERATORS.find((candidate) => source.startsWith(candidate, i));
      if (!op) throw new ExpressionError(`unexpected "${char}" at ${i}`);
      tokens.push({ kind: 'op', text: op, position: start });
      i += op.length;
    }
  }
  tokens.push({ kind: 'end', text: '', position: source.length });
  return tokens;
}

const BINARY_PRECEDENCE: Record<string, number> = {
  or: 1, '||': 1,
  and: 2, '&&': 2,
  '==': 3, '!=': 3,
  '<': 4, '<=': 4, '>': 4, '>=': 4,
  '+': 5, '-': 5,
  '*': 6, '/': 6, '%': 6,
  '**': 8,
};

const FUNCTIONS: Record<string, { arity: [number, number]; nullSafe?: boolean; apply: (...args: Value[]) => Value }> = {
  min: { arity: [1, 99], apply: (...a) => Math.min(...a.map(Number)) },
  max: { arity: [1, 99], apply: (...a) => Math.max(...a.map(Number)) },
  abs: { arity: [1, 1], apply: (a) => Math.abs(Number(a)) },
  round: { arity: [1, 2], apply: (a, d) => { const f = 10 ** Number(d ?? 0); return Math.round(Number(a) * f) / f; } },
  floor: { arity: [1, 1], apply: (a) => Math.floor(Number(a)) },
  ceil: { arity: [1, 1], apply: (a) => Math.ceil(Number(a)) },
  sqrt: { arity: [1, 1], apply: (a) => Math.sqrt(Number(a)) },
  log: { arity: [1, 1], apply: (a) => Math.log(Number(a)) },
  exp: { arity: [1, 1], apply: (a) => Math.exp(Number(a)) },
  pow: { arity: [2, 2], apply: (a, b) => Number(a) ** Number(b) },
  int: { arity: [1, 1], apply: (a) => Math.trunc(Number(a)) },
  num: { arity: [1, 1], apply: (a) => Number(a) },
  str: { arity: [1, 1], apply: (a) => String(a) },
  upper: { arity: [1, 1], apply: (a) => String(a).toUpperCase() },
  lower: { arity: [1, 1], apply: (a) => String(a).toLowerCase() },
  len: { arity: [1, 1], apply: (a) => String(a).length },
  concat: { arity: [1, 99], apply: (...a) => a.map(String).join('') },
  if: { arity: [3, 3], nullSafe: true, apply: (c, a, b) => (c ? a : b) },
  coalesce: { arity: [1, 99], nullSafe: true, apply: (...a) => a.find((v) => v !== null) ?? null },
};

class Parser {
  private index = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.index]!;
  }

  private take(): Token {
    return this.tokens[this.index++]!;
  }

  private expect(text: string): void {
    const token = this.take();
    if (token.text !== text) throw new ExpressionError(`expected "${text}" at ${token.position}, found "${token.text || 'end'}"`);
  }

  parseAll(): Node {
    const node = this.parse(0);
    const rest = this.peek();
    if (rest.kind !== 'end') throw new ExpressionError(`unexpected "${rest.text}" at ${rest.position}`);
    return node;
  }

  private binaryOperator(token: Token): string | undefined {
    if (token.kind === 'op' && token.text in BINARY_PRECEDENCE) return token.text;
    if (token.kind === 'name' && (token.text === 'and' || token.text === 'or')) return token.text;
    return undefined;
  }

  private parse(minPrecedence: number): Node {
    let left = this.parsePrefix();
    for (;;) {
      const op = this.binaryOperator(this.peek());
      if (!op) return left;
      const precedence = BINARY_PRECEDENCE[op]!;
      if (precedence < minPrecedence) return left;
      this.take();
      // ** is right-associative; everything else left-associative.
      const right = this.parse(op === '**' ? precedence : precedence + 1);
      left = { kind: 'binary', op, left, right };
    }
  }

  private parsePrefix(): Node {
    const token = this.take();
    if (token.kind === 'number') return { kind: 'literal', value: Number(token.text) };
    if (token.kind === 'string') return { kind: 'literal', value: token.text };
    if (token.kind === 'op' && (token.text === '-' || token.text === '+' || token.text === '!')) {
      return { kind: 'unary', op: token.text, operand: this.parse(7) };
    }
    if (token.kind === 'op' && token.text === '(') {
      const inner = this.parse(0);
      this.expect(')');
      return inner;
    }
    if (token.kind === 'quoted-name') return { kind: 'column', name: token.text };
    if (token.kind === 'name') {
      if (token.text === 'not') return { kind: 'unary', op: '!', operand: this.parse(7) };
      if (token.text === 'true' || token.text === 'false') return { kind: 'literal', value: token.text === 'true' };
      if (token.text === 'null') return { kind: 'literal', value: null };
      if (this.peek().text === '(') {
        this.take();
        const args: Node[] = [];
        if (this.peek().text !== ')') {
          do args.push(this.parse(0));
          while (this.peek().text === ',' && this.take());
        }
        this.expect(')');
        const fn = FUNCTIONS[token.text];
        if (!fn) throw new ExpressionError(`unknown function "${token.text}" at ${token.position}`);
        if (args.length < fn.arity[0] || args.length > fn.arity[1]) {
          throw new ExpressionError(`${token.text}() takes ${fn.arity[0]}${fn.arity[1] > fn.arity[0] ? '+' : ''} arguments, got ${args.length}`);
        }
        return { kind: 'call', name: token.text, args };
      }
      return { kind: 'column', name: token.text };
    }
    throw new ExpressionError(`unexpected "${token.text || 'end'}" at ${token.position}`);
  }
}

function arithmetic(op: string, a: Value, b: Value): Value {
  if (a === null || b === null) return null;
  switch (op) {
    case '+':
      return typeof a === 'string' || typeof b === 'string' ? String(a) + String(b) : Number(a) + Number(b);
    case '-': return Number(a) - Number(b);
    case '*': return Number(a) * Number(b);
    case '/': return Number(a) / Number(b);
    case '%': return Number(a) % Number(b);
    case '**': return Number(a) ** Number(b);
    case '==': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
    default: throw new ExpressionError(`unknown operator ${op}`);
  }
}

function compileNode(node: Node): (lookup: Lookup) => Value {
  switch (node.kind) {
    case 'literal': {
      const value = node.value;
      return () => value;
    }
    case 'column': {
      const name = node.name;
      return (lookup) => lookup(name);
    }
    case 'unary': {
      const operand = compileNode(node.operand);
      if (node.op === '!') return (lookup) => { const v = operand(lookup); return v === null ? null : !v; };
      if (node.op === '-') return (lookup) => { const v = operand(lookup); return v === null ? null : -Number(v); };
      return (lookup) => { const v = operand(lookup); return v === null ? null : Number(v); };
    }
    case 'binary': {
      const left = compileNode(node.left);
      const right = compileNode(node.right);
      const op = node.op;
      if (op === 'and' || op === '&&') return (lookup) => Boolean(left(lookup)) && Boolean(right(lookup));
      if (op === 'or' || op === '||') return (lookup) => Boolean(left(lookup)) || Boolean(right(lookup));
      return (lookup) => arithmetic(op, left(lookup), right(lookup));
    }
    case 'call': {
      const fn = FUNCTIONS[node.name]!;
      const args = node.args.map(compileNode);
      if (fn.nullSafe) {
        if (node.name === 'if') {
          const [condition, then, otherwise] = args as [typeof args[0], typeof args[0], typeof args[0]];
          return (lookup) => (condition!(lookup) ? then!(lookup) : otherwise!(lookup));
        }
        return (lookup) => fn.apply(...args.map((arg) => arg(lookup)));
      }
      return (lookup) => {
        const values = args.map((arg) => arg(lookup));
        return values.includes(null) ? null : fn.apply(...values);
      };
    }
  }
}

function columnsOf(node: Node, into: Set<string>): Set<string> {
  if (node.kind === 'column') into.add(node.name);
  else if (node.kind === 'unary') columnsOf(node.operand, into);
  else if (node.kind === 'binary') {
    columnsOf(node.left, into);
    columnsOf(node.right, into);
  } else if (node.kind === 'call') node.args.forEach((arg) => columnsOf(arg, into));
  return into;
}

export interface CompiledExpression {
  source: string;
  /** Column (or variable) names the expression reads. */
  columns: string[];
  evaluate(lookup: Lookup): Value;
}

export function compileExpression(source: string): CompiledExpression {
  const ast = new Parser(tokenize(source)).parseAll();
  return { source, columns: [...columnsOf(ast, new Set())], evaluate: compileNode(ast) };
}

/** Evaluates a formula of named numbers, e.g. a group size `max(5, min(rows / 50, 250))`. */
export function evaluateFormula(source: string, variables: Record<string, number>): number {
  const expression = compileExpression(source);
  const unknown = expression.columns.filter((name) => !(name in variables));
  if (unknown.length > 0) throw new ExpressionError(`unknown name${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${Object.keys(variables).join(', ')})`);
  const value = expression.evaluate((name) => variables[name] ?? null);
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ExpressionError(`"${source}" is not a finite number`);
  return value;
}
