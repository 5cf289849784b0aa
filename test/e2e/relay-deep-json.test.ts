// Issue 9 item 7: deeply nested JSON data must get an error reply, not a 1011
// and a stack trace (JSON.stringify recurses; JSON.parse does not).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../support/server.js';
import { closeAll, relayClient, type WsClient } from '../support/ws-client.js';

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('relay mode: deeply nested data', () => {
  let server: RunningServer;
  const clients: WsClient[] = [];
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await closeAll(clients.splice(0));
    expect(await server.stop()).toBe(0);
  });

  it('publish, broadcast and send of ~10 KB nested 5,000 deep get bad_command; nothing is relayed, nothing printed', async () => {
    const sender = await relayClient(server.url);
    const bystander = await relayClient(server.url);
    clients.push(sender, bystander);
    expect((await bystander.request({ type: 'join', room: 'deep' })).reply.type).toBe('joined');
    const data = nested(5000);
    const commands = [
      `{"type":"publish","room":"deep","ref":1,"data":${data}}`,
      `{"type":"broadcast","ref":2,"data":${data}}`,
      `{"type":"send","to":${JSON.stringify(bystander.id)},"ref":3,"data":${data}}`,
    ];
    for (const [i, command] of commands.entries()) {
      sender.send(command);
      const reply = await sender.next();
      expect(reply).toEqual({ type: 'error', code: 'bad_command', message: '"data" is nested too deeply to relay', ref: i + 1 });
    }
    expect(sender.isOpen).toBe(true);
    // The connection still works, and the bystander got nothing but what follows.
    sender.send({ type: 'publish', room: 'deep', data: [[['fine']]] });
    expect(await bystander.next()).toEqual({ type: 'message', room: 'deep', from: sender.id, data: [[['fine']]] });
    expect(await bystander.sync()).toEqual([]);
    expect(server.stderr()).not.toMatch(/RangeError|call stack/);
  });

  it('nesting 100,000 deep (200 KB) parses and is refused the same way', async () => {
    const sender = await relayClient(server.url);
    clients.push(sender);
    sender.send(`{"type":"broadcast","ref":"x","data":${nested(100_000)}}`);
    expect(await sender.next()).toMatchObject({ type: 'error', code: 'bad_command', ref: 'x' });
    expect(sender.isOpen).toBe(true);
    expect(server.stderr()).not.toMatch(/RangeError|call stack/);
  });
});
