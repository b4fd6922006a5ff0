/**
 * An actor logic (a statechart with its implementations provided) built at its first use. XState's
 * `machine.provide(…)` builds the whole statechart again; a torrent provides its peer, metadata-peer and
 * web-seed statecharts with its own effects, though none of them runs before the first peer or web
 * seed — after the first announce. Wrapped in `lazyLogic`, each is built when the torrent first spawns
 * one (docs/performance.md, Profiles, start-up). The wrapper forwards every property to the built logic
 * (methods bound to it), so XState, `xstate/graph` and the inspector see the statechart itself; the
 * snapshots it makes refer to the built machine.
 *
 * @example
 * const peer = lazyLogic(() => peerMachine.provide({ actors: { wire, reader } }));
 * torrentMachine.provide({ actors: { peer } }); // peerMachine.provide runs at the first spawn('peer')
 */
export function lazyLogic<T extends object>(build: () => T): T {
  let built: T | undefined;
  const real = (): T => (built ??= build());
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy({} as T, {
    get(_, key) {
      const logic = real();
      const value: unknown = Reflect.get(logic, key, logic);
      if (typeof value !== 'function') return value;
      let fn = bound.get(key);
      if (fn === undefined) bound.set(key, (fn = (value as (...args: unknown[]) => unknown).bind(logic)));
      return fn;
    },
    set(_, key, value) {
      bound.delete(key);
      return Reflect.set(real(), key, value);
    },
    has: (_, key) => Reflect.has(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor(_, key) {
      const d = Reflect.getOwnPropertyDescriptor(real(), key);
      // The target is an empty object: a property it lacks may only be reported configurable.
      return d && { ...d, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(real()),
  });
}
