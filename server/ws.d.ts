// ws's frame encoder, which ws exports and @types/ws does not declare (see Connection.send).
import 'ws'

declare module 'ws' {
  export const Sender: {
    /** A frame's header and payload, as ws writes them to the socket. */
    frame(
      data: Uint8Array,
      options: {
        readonly fin: boolean
        readonly opcode: number
        readonly mask: boolean
        readonly rsv1: boolean
      },
    ): Uint8Array[]
  }
}
