/**
 * RFC 6570 URI templates (all four levels) turned into RE2 regular expressions, so that
 * "does this string match this template" runs in time linear in the string, whatever the
 * template: RE2 never backtracks. The regular expression accepts every expansion of the
 * template (every variable may be undefined, or empty), as the reference hub's matcher does.
 *
 * Character classes: a value of `{var}`, `{.var}`, `{/var}`, `{;var}`, `{?var}` and `{&var}`
 * is made of unreserved characters (`A-Z a-z 0-9 - . _ ~`), `%XX` escapes and non-ASCII
 * characters (topics are IRIs); `{+var}` and `{#var}` also allow the reserved characters
 * (`: / ? # [ ] @ ! $ & ' ( ) * + , ; =`).
 */

/** Most expressions in one template; more makes the template invalid (it then matches by equality only). */
const MAX_TEMPLATE_EXPRESSIONS = 16;
/** Most variables in one expression. */
const MAX_EXPRESSION_VARIABLES = 8;
/** Longest prefix modifier honoured (`{var:N}`); a longer one matches like `{var}`. */
const MAX_PREFIX = 1000;

interface Operator {
  first: string;
  sep: string;
  named: boolean;
  /** What follows the name of an empty value (`;`: nothing, `?` and `&`: `=`). */
  ifEmpty: string;
  reserved: boolean;
}

const OPERATORS: Record<string, Operator> = {
  '': { first: '', sep: ',', named: false, ifEmpty: '', reserved: false },
  '+': { first: '', sep: ',', named: false, ifEmpty: '', reserved: true },
  '#': { first: '#', sep: ',', named: false, ifEmpty: '', reserved: true },
  '.': { first: '.', sep: '.', named: false, ifEmpty: '', reserved: false },
  '/': { first: '/', sep: '/', named: false, ifEmpty: '', reserved: false },
  ';': { first: ';', sep: ';', named: true, ifEmpty: '', reserved: false },
  '?': { first: '?', sep: '&', named: true, ifEmpty: '=', reserved: false },
  '&': { first: '&', sep: '&', named: true, ifEmpty: '=', reserved: false },
};

const PCT = '%[0-9A-Fa-f]{2}';
const UNRESERVED = `[A-Za-z0-9\\-._~]|[^\\x00-\\x7F]|${PCT}`;
const RESERVED_TOO = `[A-Za-z0-9\\-._~:/?#\\[\\]@!$&'()*+,;=]|[^\\x00-\\x7F]|${PCT}`;
const VARNAME = /^(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})+(?:\.(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})+)*$/;

/** Quotes `text` for an RE2 regular expression. */
export function quoteRegex(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
}

interface VarSpec {
  name: string;
  explode: boolean;
  prefix: number | undefined;
}

function parseVarSpec(text: string): VarSpec | undefined {
  const m = /^([^:*]+)(?::([1-9][0-9]{0,3})|(\*))?$/.exec(text);
  if (!m || !VARNAME.test(m[1]!)) return undefined;
  return { name: m[1]!, explode: m[3] !== undefined, prefix: m[2] === undefined ? undefined : Number(m[2]) };
}

/** The regular expression of one variable's contribution (without the separator before it). */
function itemRegex(op: Operator, v: VarSpec): string {
  const char = op.reserved ? RESERVED_TOO : UNRESERVED;
  const value =
    v.prefix !== undefined && v.prefix <= MAX_PREFIX
      ? `(?:${char}){0,${v.prefix}}`
      : v.explode
        ? `(?:${char}|=)*`
        : `(?:${char}|,)*`;
  if (!op.named) return v.explode ? `${value}(?:${quoteRegex(op.sep)}${value})*` : value;
  if (v.explode) {
    // name=value pairs (a list repeats the name, an associative array gives its own keys).
    const pair = `(?:${char})+(?:=(?:${char}|,)*)?`;
    return `${pair}(?:${quoteRegex(op.sep)}${pair})*`;
  }
  const name = quoteRegex(v.name);
  return op.ifEmpty === '' ? `${name}(?:=${value})?` : `${name}=${value}`;
}

/**
 * The regular expression of one expression (`{...}` without the braces): the expansions where
 * any subset of its variables is defined, in order, joined by the operator's separator.
 */
function expressionRegex(body: string): string | undefined {
  const opChar = '+#./;?&'.includes(body[0] ?? '') ? body[0]! : '';
  const op = OPERATORS[opChar];
  if (!op) return undefined;
  const specs = body.slice(opChar.length).split(',').map(parseVarSpec);
  if (specs.length > MAX_EXPRESSION_VARIABLES) return undefined;
  const vars: VarSpec[] = [];
  for (const spec of specs) {
    if (!spec) return undefined;
    vars.push(spec);
  }
  const items = vars.map((v) => itemRegex(op, v));
  const sep = quoteRegex(op.sep);
  // Variable i is the first defined one; each later one may follow, preceded by the separator.
  const starts = items.map(
    (item, i) =>
      item +
      items
        .slice(i + 1)
        .map((later) => `(?:${sep}${later})?`)
        .join(''),
  );
  return `(?:${quoteRegex(op.first)}(?:${starts.join('|')}))?`;
}

/**
 * The RE2 regular expression (to match whole strings) of `template`, or `undefined` when it
 * is not a valid RFC 6570 template (an unclosed or nested brace, an unknown operator, a bad
 * variable name) or has more than {@link MAX_TEMPLATE_EXPRESSIONS} expressions.
 */
export function templateRegex(template: string): string | undefined {
  let out = '';
  let expressions = 0;
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    const close = template.indexOf('}', i);
    if (open === -1) {
      if (close !== -1) return undefined;
      out += quoteRegex(template.slice(i));
      break;
    }
    if (close !== -1 && close < open) return undefined;
    const end = template.indexOf('}', open);
    if (end === -1) return undefined;
    const body = template.slice(open + 1, end);
    if (body.includes('{')) return undefined;
    if (++expressions > MAX_TEMPLATE_EXPRESSIONS) return undefined;
    const regex = expressionRegex(body);
    if (regex === undefined) return undefined;
    out += quoteRegex(template.slice(i, open)) + regex;
    i = end + 1;
  }
  return out;
}
