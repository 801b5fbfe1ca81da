// The DomEnv for Node (server, CLI, tests), on happy-dom: the one file of content/ that is not
// browser code.
import { Window } from 'happy-dom'
import type { DomEnv } from './convert.js'

/** A DomEnv with a window of its own, which close() ends. */
export interface NodeDom extends DomEnv {
  /** Closes the window and whatever it started; idempotent. The DomEnv is unusable after. */
  close(): Promise<void>
}

/**
 * A DomEnv on a happy-dom window that runs no script and loads nothing (no script or style files,
 * images, frames or navigation): HTML parsed with it only becomes a tree to read.
 * One can serve many conversions; close it when done.
 */
export function createNodeDom(): NodeDom {
  const window = new Window({
    settings: {
      // JavaScript evaluation, images, style sheets and frames are off by default in happy-dom 21.
      disableJavaScriptFileLoading: true,
      navigation: {
        disableMainFrameNavigation: true,
        disableChildFrameNavigation: true,
        disableChildPageNavigation: true,
        disableFallbackToSetURL: true,
      },
    },
  })
  const parser = new window.DOMParser()
  let closed: Promise<void> | undefined
  return {
    // happy-dom's classes are not lib.dom's by type, only by shape.
    parse: (html) => parser.parseFromString(html, 'text/html').body as unknown as ReturnType<DomEnv['parse']>,
    document: window.document as unknown as DomEnv['document'],
    close() {
      closed ??= window.happyDOM.close()
      return closed
    },
  }
}
