/** A client transport that notes the frames it hands the client, for tests that check what the broker sent. */
import { type TransportFactory, type TransportName, transports } from '@rt/client';
import type { MsgFrame } from '@rt/protocol';

/** `name`'s transport, with a copy of every `msg` frame it hands the client pushed to `seen` (as the broker sent it). */
export function spying(name: TransportName, seen: MsgFrame[]): TransportFactory {
  const inner = transports[name]!;
  return {
    name,
    available: (context) => inner.available(context),
    create: (context, events) =>
      inner.create(context, {
        frame: (frame) => {
          if (frame.t === 'msg') seen.push({ ...frame });
          events.frame(frame);
        },
        close: (reason) => events.close(reason),
      }),
  };
}
