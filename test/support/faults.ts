import type { EmulatorModule } from '../../src/emulator';

/**
 * An emulator module that makes Stripe fail with HTTP 500 once, right after the next event of a type is
 * emitted (so the object was made, and its answer is lost), each time the test arms that type.
 * `failures` maps event types to what the injected failure says.
 */
export function oneShotFaults(failures: Record<string, string>) {
  const armed = new Set<string>();
  const module: EmulatorModule = {
    name: 'faults',
    register(_router, ctx) {
      for (const [type, message] of Object.entries(failures)) {
        ctx.on(type, () => {
          if (armed.delete(type)) throw new Error(`injected failure: ${message}`);
        });
      }
    },
  };
  return {
    module,
    /** The next event of `type` fails the request that caused it. */
    arm: (type: string) => void armed.add(type),
    /** Whether an armed failure of `type` is still waiting for its event. */
    armed: (type: string) => armed.has(type),
  };
}
