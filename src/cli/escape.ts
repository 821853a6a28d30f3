// C0 controls (U+0000-U+001F) but tab, DEL and C1 controls (U+0080-U+009F): what a terminal acts
// on (ESC starts OSC 52 clipboard writes, title changes, screen clears; U+009B is a one-character
// CSI). A tab only moves the cursor on, as a space does.
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g

function visible (control: string): string {
  const code = control.charCodeAt(0)
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
}

/**
 * `text` with every C0 and C1 control character but tab, DEL and newlines included, as a visible
 * escape (`\x1b`, `\x0a`, `\u009b`): what `wsexec connect` prints of a server's text (close
 * reasons, HTTP error bodies, statuses, tagged stderr) can never drive the user's terminal.
 */
export function escapeControls (text: string): string {
  return text.replace(CONTROLS, visible)
}
