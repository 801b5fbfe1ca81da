export { type LevelStoreOptions, openLevelStore } from '../persistence/level.js'
export type { DocMeta, DocStore, LoadedDoc } from '../persistence/store.js'
export { StoreError } from '../persistence/store.js'
export { MessageType } from '../protocol/wire.js'
export {
  type Access,
  type AccessMode,
  AuthError,
  type Authenticate,
  type AuthRequest,
  jwtAuthenticator,
  roomMatches,
  signToken,
  type TokenClaims,
} from './auth.js'
export { CloseCode, ConnectionError, type ErrorCode, HttpError, OptionsError, TandemError } from './errors.js'
export { DEFAULTS, type LogLevel, type ServerOptions } from './options.js'
export { createServer, type ServerAddress, type TandemEvents, TandemServer } from './server.js'
