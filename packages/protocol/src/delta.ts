import type { JsonValue } from './frames.js';

/**
 * The text a delta is made from and rebuilds: a payload's JSON text (`JSON.stringify`) with
 * every character outside ASCII written as a `\uXXXX` escape. It parses to the same value; being
 * ASCII, its Fossil delta is ASCII too, so no edit can split a character in two. Broker and
 * client compute it from the same value, so they agree byte for byte. `json`: the value's
 * `JSON.stringify` text, when the caller has it.
 */
export function deltaText(data: JsonValue, json?: string): string {
  const text = json ?? JSON.stringify(data);
  return NON_ASCII.test(text) ? text.replace(NON_ASCII_ALL, unicodeEscape) : text;
}

const NON_ASCII = /[\u0080-\uffff]/;
const NON_ASCII_ALL = /[\u0080-\uffff]/g;

function unicodeEscape(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}
