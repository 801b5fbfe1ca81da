// The part of leveldown 6 (abstract-leveldown 7) that Tandem uses; the package ships no types.
declare module 'leveldown' {
  type Callback<T = void> = (err: Error | undefined | null, value?: T) => void
  export type BatchOp =
    | { readonly type: 'put'; readonly key: Buffer; readonly value: Buffer }
    | { readonly type: 'del'; readonly key: Buffer }
  export interface IteratorOptions {
    gte?: Buffer
    lt?: Buffer
    keys?: boolean
    reverse?: boolean
    limit?: number
    values?: boolean
    keyAsBuffer?: boolean
    valueAsBuffer?: boolean
  }
  export interface Iterator {
    next(cb: (err: Error | undefined | null, key?: Buffer, value?: Buffer) => void): void
    end(cb: (err?: Error | null) => void): void
  }
  /** A batch built one operation at a time, each handed to LevelDB's WriteBatch as it comes. */
  export interface ChainedBatch {
    put(key: Buffer, value: Buffer): ChainedBatch
    del(key: Buffer): ChainedBatch
    write(options: { sync?: boolean }, cb: (err?: Error | null) => void): void
  }
  export interface LevelDown {
    readonly status: string
    open(
      options: { createIfMissing?: boolean; errorIfExists?: boolean },
      cb: (err?: Error | null) => void,
    ): void
    close(cb: (err?: Error | null) => void): void
    get(key: Buffer, options: { asBuffer?: boolean }, cb: Callback<Buffer>): void
    batch(ops: readonly BatchOp[], options: { sync?: boolean }, cb: (err?: Error | null) => void): void
    batch(): ChainedBatch
    iterator(options: IteratorOptions): Iterator
    compactRange(start: Buffer, end: Buffer, cb: (err?: Error | null) => void): void
  }
  export default function leveldown(location: string): LevelDown
}
