import type { Broker } from '@rt/server';

/**
 * What the broker's node listens to, seen at its engine: the engine is asked to listen to a
 * topic for every new subscription of a connection (`made` counts them), and to stop when the
 * node has no subscriber of it left; the same for bus joins. `()` is how many topics the node
 * has subscribers for.
 */
export function brokerSide(broker: Broker): { (): number; made: number; topics: Set<string>; buses: Set<string> } {
  const engine = broker.engine;
  const watch = Object.assign(() => watch.topics.size, {
    made: 0,
    topics: new Set<string>(),
    buses: new Set<string>(),
  });
  const { listen, unlisten, listenBus, unlistenBus } = engine;
  engine.listen = (topic) => {
    watch.made++;
    watch.topics.add(topic);
    return listen.call(engine, topic);
  };
  engine.unlisten = (topic) => {
    watch.topics.delete(topic);
    return unlisten.call(engine, topic);
  };
  engine.listenBus = (topic) => {
    watch.buses.add(topic);
    return listenBus.call(engine, topic);
  };
  engine.unlistenBus = (topic) => {
    watch.buses.delete(topic);
    return unlistenBus.call(engine, topic);
  };
  return watch;
}
