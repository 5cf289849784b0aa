// Public API of @rxws/server: the server, its connections and rooms, the
// behaviours of the rxws command, and the RxJS operators of the pipeline.
export {
  WebSocketServer,
  type ServerOptions,
  type ServerSettings,
  type ServerHistoryOptions,
  type StateOptions,
  type UpgradeHook,
  type UpgradeAnswer,
  type HttpResponse,
  type ConnectionError,
} from './server/server.js';
export { Connection, type CloseEvent, type MessageData, type ReadyState, type ConnectionOptions, type SendResult } from './server/connection.js';
export { encodeMessage, sendToAll } from './server/rooms.js';
export type { ServerRooms, JoinOptions, JoinResult } from './server/server-rooms.js';
export type { Rooms, RoomMessage, HeldDelivery, PublishOptions, ClusterAdapter, ClusterOwner, ClusterFactory, ClusterHealth } from './cluster/adapter.js';
export { LocalCluster, localCluster, type RoomInterestListener } from './cluster/local.js';
// ioredis is loaded only when a redisCluster is created, never by this import.
export { redisCluster, parseRedisUrl, RedisCluster, type RedisClusterOptions } from './cluster/redis.js';
export { relay, type RelayOptions } from './relay.js';
export { echo, type EchoOptions } from './echo.js';
export { fromSocket } from './streams/fromSocket.js';
export { decodeFrames } from './streams/decodeFrames.js';
export { limitMessageSize } from './streams/limitMessageSize.js';
export { reassembleMessages } from './streams/reassembleMessages.js';
export { handleControlFrames, type ControlFrameHandler } from './streams/handleControlFrames.js';
export { inflateMessages, type InflateMessagesOptions } from './streams/inflateMessages.js';
export {
  negotiatePerMessageDeflate,
  parseExtensionOffers,
  type PerMessageDeflateOptions,
  type DeflateParams,
  type DeflateAgreement,
  type ExtensionOffer,
} from './protocol/extensions/permessage-deflate.js';
export { rateLimit, type RateLimitOptions } from './streams/rateLimit.js';
export { replayThenLive, type ReplayPage, type ReplayThenLiveOptions } from './streams/replayThenLive.js';
export { heartbeat, type HeartbeatAction, type HeartbeatTarget } from './streams/heartbeat.js';
export { drainConnections, type Drainable } from './streams/drainConnections.js';
export { writeTo, streamTo, ConnectionClosedError, type WriteTarget, type PullSource } from './streams/writeTo.js';
export { GuardedObservable, type FaultHandler } from './server/guarded.js';
export { CloseCode, ProtocolError, HttpError } from './protocol/errors.js';
export { Opcode } from './protocol/opcode.js';
export type { Message } from './protocol/message-assembler.js';
export type { FramePart } from './protocol/frame-decoder.js';
export type { RequestHead } from './protocol/handshake.js';
export { requestHeadOf, ConnectionRequest, AcceptedUpgrade, type PathMatcher } from './server/upgrade.js';
export { parseSize } from './size.js';
export type {
  HistoryStore,
  HistoryOptions,
  HistoryPosition,
  HistoryEntry,
  HistorySlice,
  HistoryRecovery,
  HistorySince,
  MaybePromise,
  PositionedPublish,
  RoomHistory,
} from './history/store.js';
export { isHistorySince, validateHistoryOptions } from './history/store.js';
export { MemoryHistory, memoryHistory, type MemoryHistoryOptions } from './history/memory.js';
