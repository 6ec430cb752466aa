import { type Payload, isBinary } from '@rt/protocol';

/**
 * A payload as plain clients get it: strings as they are, bytes as bytes, any other JSON
 * value as its JSON text.
 */
export function barePayload(data: Payload | undefined): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (isBinary(data)) return data instanceof Uint8Array ? data : new Uint8Array(data);
  return JSON.stringify(data ?? null);
}
