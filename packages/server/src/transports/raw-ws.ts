import type { Transport } from './index.js';
/** placeholder */
export class RawWsTransport implements Transport {
  setup(): void {}
  attach(): void {}
  async close(): Promise<void> {}
}
