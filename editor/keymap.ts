import { baseKeymap, chainCommands, exitCode } from 'prosemirror-commands'
import { undoInputRule } from 'prosemirror-inputrules'
import { keymap } from 'prosemirror-keymap'
import type { Command, Plugin } from 'prosemirror-state'
import { redoCommand, undoCommand } from 'y-prosemirror'
import {
  activeList,
  insertHardBreak,
  liftItem,
  setParagraph,
  sinkItem,
  splitItem,
  toggleBlockquote,
  toggleBold,
  toggleBulletList,
  toggleCode,
  toggleCodeBlock,
  toggleHeading,
  toggleItalic,
  toggleOrderedList,
  toggleStrike,
  toggleTaskList,
  toggleUnderline,
} from './commands.js'

/**
 * The editor's shortcuts, `Mod` being Cmd on macOS and Ctrl elsewhere. Exported so the toolbar can
 * show them in its tooltips and tests can press them.
 */
export const shortcuts = {
  'Mod-b': toggleBold,
  'Mod-i': toggleItalic,
  'Mod-u': toggleUnderline,
  'Mod-Shift-s': toggleStrike,
  'Mod-e': toggleCode,
  'Mod-z': undoCommand,
  'Mod-Shift-z': redoCommand,
  'Mod-y': redoCommand,
  'Mod-Alt-0': setParagraph,
  'Mod-Alt-1': toggleHeading(1),
  'Mod-Alt-2': toggleHeading(2),
  'Mod-Alt-3': toggleHeading(3),
  'Mod-Alt-c': toggleCodeBlock,
  'Mod-Shift-7': toggleOrderedList,
  'Mod-Shift-8': toggleBulletList,
  'Mod-Shift-9': toggleTaskList,
  'Mod-Shift-.': toggleBlockquote,
  'Shift-Enter': chainCommands(exitCode, insertHardBreak),
  'Mod-Enter': chainCommands(exitCode, insertHardBreak),
  Enter: splitItem,
  // In a list, Tab never leaves the editor, even when the item cannot move; elsewhere it moves focus.
  Tab: (state, dispatch) => sinkItem(state, dispatch) || activeList(state) !== null,
  'Shift-Tab': (state, dispatch) => liftItem(state, dispatch) || activeList(state) !== null,
  Backspace: undoInputRule,
} satisfies Record<string, Command>

/** Our shortcuts first, then ProseMirror's base keymap (Enter, Backspace, arrows, select all). */
export function editorKeymaps(): Plugin[] {
  return [keymap(shortcuts), keymap(baseKeymap)]
}
