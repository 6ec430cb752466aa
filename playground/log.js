// The live message log: newest first, bounded.
const MAX_ENTRIES = 300;

/** Returns `log(kind, text)`, which appends to the `<ol>` `list`. */
export function createLog(list) {
  const log = (kind, text) => {
    const item = document.createElement('li');
    item.dataset.kind = kind;
    const time = document.createElement('time');
    time.textContent = new Date().toTimeString().slice(0, 8);
    const label = document.createElement('span');
    label.className = 'kind';
    label.textContent = kind;
    item.append(time, label, ` ${text}`);
    list.prepend(item);
    while (list.childElementCount > MAX_ENTRIES) list.lastElementChild.remove();
  };
  return log;
}

/** A short, readable rendering of a payload. */
export function show(data) {
  if (data instanceof Uint8Array) return `<${data.length} bytes>`;
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}
