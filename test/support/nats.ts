import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { connectNatsBus } from '../../src/adapters/nats/nats-bus.js';
import { type EventBus, subjectMatches } from '../../src/ports/event-bus.js';
import { NATS_URL } from './services.js';

/** A unique stream name and subject prefix for one test run, and a dropper that deletes the stream. */
export function testStream(): { stream: string; subjectPrefix: string; drop(): Promise<void> } {
  const tag = randomBytes(5).toString('hex');
  const stream = `AIMESH_T_${tag}`;
  return {
    stream,
    subjectPrefix: `t${tag}.`,
    async drop() {
      const nc = await connect({ servers: NATS_URL });
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.delete(stream).catch(() => false);
      } finally {
        await nc.close();
      }
    },
  };
}

/** Every message stored in `stream` under `subject` (a filter), in stream order, read directly from JetStream. */
export async function readStream(
  stream: string,
  subject: string,
): Promise<{ subject: string; msgId: string | undefined; data: string }[]> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const out: { subject: string; msgId: string | undefined; data: string }[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => undefined);
      if (!m || !subjectMatches(subject, m.subject)) continue;
      out.push({ subject: m.subject, msgId: m.header?.get('Nats-Msg-Id') || undefined, data: m.string() });
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** How many messages `stream` holds now. */
export async function streamSize(stream: string): Promise<number> {
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(stream)).state.messages;
  } finally {
    await nc.close();
  }
}

/** A JetStream bus on a stream of its own, for a bus contract suite; `cleanup` drops the stream. */
export async function natsTestBus(): Promise<{ bus: EventBus; cleanup: () => Promise<void> }> {
  const test = testStream();
  const bus = await connectNatsBus({
    servers: NATS_URL,
    stream: test.stream,
    subjectPrefix: test.subjectPrefix,
  });
  return { bus, cleanup: test.drop };
}
