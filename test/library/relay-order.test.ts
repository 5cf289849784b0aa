import { afterEach, describe, expect, it } from 'vitest';
import { type ClusterOwner, LocalCluster, relay, WebSocketServer } from '../../src/index.js';
import { closeAll, relayClient, type WsClient } from '../support/ws-client.js';

/** A cluster whose member counts take a while to answer, as a remote one's do. */
class SlowCountCluster<S> extends LocalCluster<S> {
  override members(room: string): Promise<number> {
    const count = this.count(room);
    return new Promise((resolve) => setTimeout(() => resolve(count), 30));
  }
  override sendTo(id: string, data: string | Uint8Array): Promise<boolean> {
    const sent = super.sendTo(id, data);
    return new Promise((resolve) => setTimeout(() => resolve(sent), 10));
  }
}

describe('relay with a cluster that answers asynchronously', () => {
  let server: WebSocketServer | undefined;
  const clients: WsClient[] = [];
  afterEach(async () => {
    await closeAll(clients.splice(0));
    await server?.close();
  });

  it('keeps direct replies in command order: a slow joined/left/sent holds back the replies after it', async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0, cluster: <S>(owner: ClusterOwner<S>) => new SlowCountCluster<S>(owner) });
    relay(server);
    const { port } = await server.listen();
    const client = await relayClient(`ws://127.0.0.1:${port}`);
    clients.push(client);
    client.send({ type: 'join', room: 'r', ref: 1 });
    client.send({ type: 'nonsense', ref: 2 });
    client.send({ type: 'send', to: client.id, data: 'self', ref: 3 });
    client.send({ type: 'send', to: 'nobody', data: 'x', ref: 4 });
    client.send({ type: 'leave', room: 'r', ref: 5 });
    client.send('not json');
    client.send({ type: 'join', room: 'r', ref: 7 });
    const got = await client.take(8);
    expect(got.filter((m) => m.type !== 'message').map((m) => `${m.type}:${m.ref ?? m.code}`)).toEqual([
      'joined:1',
      'error:2',
      'sent:3',
      'error:4',
      'left:5',
      'error:bad_json',
      'joined:7',
    ]);
    expect(got.find((m) => m.type === 'message')).toMatchObject({ data: 'self', from: client.id });
    expect(got.find((m) => m.ref === 7)).toMatchObject({ members: 1 });
  });
});
