import { isBinary } from '@rt/protocol';

/** Deepest nesting of arrays and objects a payload may have. */
const MAX_PAYLOAD_DEPTH = 512;

/**
 * Why `data` cannot travel faithfully as an rt payload, or `null` when it can. A payload is
 * bytes (`Uint8Array`, Node `Buffer`, `ArrayBuffer`) at the top level, or a JSON value: `null`,
 * booleans, finite numbers, strings, arrays and plain objects of those. Everything JSON would
 * silently change or cannot encode is refused, naming where it sits (`data.a[2]`):
 * `undefined`, functions, symbols, BigInt, `NaN`/`Infinity`, cycles, sparse arrays, and
 * objects that are not plain (`Map`, `Set`, `Date`, typed arrays inside a value, class
 * instances) — convert those first (`Object.fromEntries(map)`, `[...set]`, `date.toISOString()`).
 * Walks iteratively, so a deep value cannot overflow the stack.
 */
export function payloadProblem(data: unknown): string | null {
  if (isBinary(data)) return null;
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: data, path: 'data', depth: 0 }];
  // The objects on the path from the root to the value being looked at: a cycle revisits one.
  const ancestors: object[] = [];
  const depths: number[] = [];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    while (depths.length > 0 && depths[depths.length - 1]! >= depth) {
      depths.pop();
      ancestors.pop();
    }
    const problem = scalarProblem(value, path);
    if (problem !== undefined) {
      if (problem === null) continue;
      return problem;
    }
    const object = value as object;
    if (ancestors.includes(object)) return `${path} refers back to an object that contains it (a cycle)`;
    if (depth >= MAX_PAYLOAD_DEPTH) return `${path} is nested deeper than ${MAX_PAYLOAD_DEPTH} levels`;
    ancestors.push(object);
    depths.push(depth);
    if (Array.isArray(object)) {
      for (let i = object.length - 1; i >= 0; i--) {
        if (!(i in object)) return `${path}[${i}] is a hole (a sparse array): JSON would make it null`;
        stack.push({ value: object[i], path: `${path}[${i}]`, depth: depth + 1 });
      }
      continue;
    }
    // Plain: made by `{}` or `Object.create(null)`, in this realm or another (a vm context, an
    // iframe), whose Object.prototype is another object with no prototype of its own.
    const proto: object | null = Object.getPrototypeOf(object);
    if (proto !== null && Object.getPrototypeOf(proto) !== null)
      return `${path} is ${kindOf(object)}: ${advice(object)}`;
    if (Object.getOwnPropertySymbols(object).length > 0) return `${path} has symbol keys, which JSON drops`;
    const entries = Object.entries(object);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, v] = entries[i]!;
      stack.push({
        value: v,
        path: `${path}${/^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`}`,
        depth: depth + 1,
      });
    }
  }
  return null;
}

/** `null` for a value that is fine as it is, a problem for one that cannot go, `undefined` for an object to look into. */
function scalarProblem(value: unknown, path: string): string | null | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      return Number.isFinite(value) ? null : `${path} is ${value}, which JSON turns into null`;
    case 'bigint':
      return `${path} is a BigInt, which JSON cannot encode: send it as a string`;
    case 'undefined':
      return `${path} is undefined, which JSON drops (use null)`;
    case 'function':
      return `${path} is a function, which JSON cannot carry`;
    case 'symbol':
      return `${path} is a symbol, which JSON cannot carry`;
    default:
      return value === null ? null : undefined;
  }
}

function kindOf(object: object): string {
  const name: unknown = object.constructor?.name;
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a custom prototype';
}

function advice(object: object): string {
  if (object instanceof Map) return 'JSON has no Map (send Object.fromEntries(map) or [...map])';
  if (object instanceof Set) return 'JSON has no Set (send [...set])';
  if (object instanceof Date) return 'send date.toISOString() or date.getTime()';
  if (ArrayBuffer.isView(object)) return 'bytes travel only as the whole payload (a Uint8Array), not inside a value';
  return 'only plain objects travel (copy its fields into one)';
}
