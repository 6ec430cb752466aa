/**
 * A handle's `ready` promise and the function that settles it (resolve, or reject with the
 * error). The promise never counts as an unhandled rejection: a refusal also reaches the
 * handle's `error` event, and an app that listens to neither must not crash.
 */
export function readyLatch(): { ready: Promise<void>; settle: (error?: Error) => void } {
  let settle!: (error?: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  ready.catch(() => undefined);
  return { ready, settle };
}
