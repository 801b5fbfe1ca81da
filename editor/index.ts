// The editor library's public surface (the `tandem/editor` build): mount it, or use the element.

export { schema } from '../content/schema.js'
export { defineTandemEditor, TandemEditorElement } from './element.js'
export type { Identity } from './identity.js'
export { type MountedEditor, type MountOptions, mountEditor, toWebSocketUrl } from './mount.js'
export type { Status } from './status.js'
