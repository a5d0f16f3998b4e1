// Live updates: GET /api/events (Server-Sent Events, the session cookie authenticates it)
// streams every message of the person's conversations as it is stored, whoever wrote it:
// this tab, another device, or a character writing first.
//
// EventSource reconnects by itself after a dropped connection; what was stored meanwhile
// is not replayed, so `onReconnect` lets the open conversation reload its messages.

let source = null;
let retry = null;
let handlers = { onMessage: () => {}, onReconnect: () => {} };

/** Start listening; `onMessage(message)` for each stored message. */
export function connect(callbacks) {
  handlers = { ...handlers, ...callbacks };
  listen(false);
}

function listen(again) {
  disconnect();
  let opened = again; // a stream opened after a gap is a reconnection too
  const here = new EventSource('/api/events');
  source = here;
  here.addEventListener('open', () => {
    document.body.dataset.live = 'open'; // for tests and styling: the stream is up
    if (opened) handlers.onReconnect();
    opened = true;
  });
  here.addEventListener('message', (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return; // not ours to show
    }
    handlers.onMessage(message);
  });
  here.addEventListener('error', () => {
    document.body.dataset.live = 'reconnecting';
    // CLOSED: the server refused the stream (signed out, restarting, or an old server
    // without it): try again later, quietly. CONNECTING: the browser is retrying itself.
    if (here.readyState === EventSource.CLOSED) {
      retry = setTimeout(() => { if (source === here) listen(true); }, 30_000);
    }
  });
}

export function disconnect() {
  clearTimeout(retry);
  source?.close();
  source = null;
  delete document.body.dataset.live;
}
