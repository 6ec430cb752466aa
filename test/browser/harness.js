// Runs inside the test pages (plain JS): one rt client, and what it received, for the test to
// drive with page.evaluate('harness.…') and read back. Uses the global `rt` of either bundle.
window.harness = (() => {
  const got = { sub: [], bus: [], job: [], held: [], gaps: [], states: [], restored: [] };
  const buses = new Map();
  let client;
  let presence;
  return {
    got,
    start(transport, options = {}) {
      client = rt.connect(location.origin, {
        transports: [transport],
        reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
        ...options,
      });
      client.on('state', ({ to }) => got.states.push(to));
      client.on('restored', (counts) => got.restored.push(counts));
      return client.ready();
    },
    state: () => client.state,
    // This tab's part in the connection its browser context shares: leader, follower, or own.
    role: () => rt.shareRole(client) ?? 'own',
    // A round trip: once answered, what the client re-sent first thing on open (subscriptions,
    // joins, pullers) is in place on the broker, since a connection's frames are handled in order.
    barrier: () => client.call('__barrier__').catch(() => undefined),
    transport: () => client.transport,
    subscribe(topic) {
      const sub = client.topic(topic).subscribe((data, meta) => got.sub.push([topic, meta.topic, data]));
      sub.on('gap', (gap) => got.gaps.push(gap));
      return sub.ready;
    },
    publish: (topic, data) => client.topic(topic).publish(data),
    join(topic) {
      const bus = client.topic(topic).bus();
      bus.on('message', ({ data }) => got.bus.push(data));
      buses.set(topic, bus);
      return bus.ready;
    },
    send: (topic, data) => buses.get(topic).send(data),
    pull(topic) {
      return client.topic(topic).pull((data) => void got.job.push(data)).ready;
    },
    // A puller whose handler never finishes: its jobs stay held until the page goes away.
    hold(topic) {
      return client.topic(topic).pull((data) => {
        got.held.push(data);
        return new Promise(() => {});
      }).ready;
    },
    push: (topic, data) => client.topic(topic).push(data),
    call: (name, data) => client.call(name, data),
    // Joins the presence of `topic` with `info`; resolves with this tab's clientId.
    presence(topic, info) {
      presence = client.topic(topic).presence({ info });
      return presence.ready.then(() => presence.self);
    },
    members: () => presence.members.map((m) => m.info),
  };
})();
