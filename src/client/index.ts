// @rxws/server/client: the relay protocol as RxJS, for browsers and Node 20+.
// Imports rxjs and nothing of Node (test/client/imports.test.ts checks the build).
export {
  connect,
  RxwsClientError,
  type Client,
  type ClientOptions,
  type ClientStatus,
  type DirectMessage,
  type Gap,
  type HistoryReply,
  type RoomMessage,
  type RoomStream,
  type ValueStream,
  type WebSocketConstructor,
} from './client.js';
export { reconnectBackoff, reconnectDelay, type Drop, type ReconnectOptions } from './backoff.js';
