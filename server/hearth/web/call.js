// A voice call on /api/voice: the microphone goes up as 16 kHz PCM frames, the reply
// comes down as PCM and is played gaplessly as it arrives. The server decides when a
// turn starts and ends (its VAD) and when the user talked over a reply (`interrupted`);
// this side plays, drops what was interrupted, and reports what was heard.
//
// Events for onEvent: {type: 'state', state}, every JSON message of the socket as it is,
// and {type: 'played', turn, ms} (reply audio played so far of that turn).

import { t } from './i18n.js';

const RATE = 16000; // what the socket takes: PCM s16le mono at 16 kHz
const FRAME_SAMPLES = 320; // 20 ms frames
const MAX_QUEUED_FRAMES = 500; // 10 s heard while the socket (re)opens, sent once ready
const LEAD_S = 0.05; // the first piece of a reply starts this far ahead: no click, no gap
const PLAYED_EVERY_MS = 100;
const RETRY_MS = [500, 1000, 2000, 4000, 8000]; // reconnecting, then every 8 s
const FINAL_CLOSE = new Set([4401, 4403, 4404, 4429]); // signed out, not allowed, no such chat, too many calls

export class Call {
  // token: optional API token. A browser cannot set headers on a WebSocket, and the server
  // reads no token from the URL (it would end up in logs): the session cookie of the page
  // authenticates the socket, so the token is kept only for callers that want it.
  constructor({ conversationId, token = null, onEvent = () => {} }) {
    this.conversationId = conversationId;
    this.token = token;
    this.onEvent = onEvent;
    this.on = false;
    this.state = null;
    this.pushToTalk = false;
    this.talking = false; // push-to-talk held
    this.heardSpeech = false; // the server heard speech since the button was pressed
    this.ws = null;
    this.ready = false;
    this.queue = []; // mic frames and messages waiting for the socket
    this.retries = 0;
    this.retryTimer = null;
    this.ctx = null;
    this.stream = null;
    this.outputRate = 22050;
    this.turns = new Map(); // turn id -> {pieces: [{source, start, seconds}], finished, sent}
    this.dropped = new Set(); // turns interrupted: their audio still arriving is not played
    this.playEnd = 0; // context time when the audio scheduled so far ends
    this.ticker = null;
  }

  /** Opens the microphone and the socket. Rejects with name 'NotAllowedError' if denied. */
  async start({ pushToTalk = false } = {}) {
    this.on = true;
    this.pushToTalk = pushToTalk;
    this.setState('connecting');
    // Made before the first await, while the click that started the call still counts
    // as the user's gesture, so the browser lets it play sound.
    this.ctx = new AudioContext({ latencyHint: 'interactive' });
    try {
      if (!navigator.mediaDevices?.getUserMedia) {
        const error = new Error(t('call.insecure'));
        error.name = 'SecurityError';
        throw error;
      }
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true,
                 channelCount: 1 },
      });
      if (!this.on) { // ended while the browser asked for the microphone
        this.stream.getTracks().forEach((track) => track.stop());
        return;
      }
      await this.ctx.audioWorklet.addModule(new URL('./call-worklet.js', import.meta.url));
      await this.ctx.resume();
      const mic = this.ctx.createMediaStreamSource(this.stream);
      this.capture = new AudioWorkletNode(this.ctx, 'hearth-capture', {
        processorOptions: { rate: RATE, frameSamples: FRAME_SAMPLES },
      });
      this.capture.port.onmessage = (e) => this.sendFrame(e.data);
      mic.connect(this.capture);
      this.capture.connect(this.ctx.destination); // it outputs silence; this keeps it running
      this.speaker = this.ctx.createGain();
      this.speaker.connect(this.ctx.destination);
    } catch (error) {
      if (!this.on) return; // ended meanwhile: nothing to report
      this.stop();
      if (error.name === 'SecurityError' && navigator.mediaDevices) error.name = 'NotAllowedError';
      throw error;
    }
    if (this.on) this.connect();
  }

  /** Push-to-talk pressed: the microphone is heard from now on. */
  pressTalk() {
    if (!this.on) return;
    this.talking = true;
    this.heardSpeech = false;
    if (this.state === 'speaking') this.interrupt(); // the user talks over the reply
  }

  /** Push-to-talk released: stop sending; the server ends the utterance now. */
  releaseTalk() {
    if (!this.talking) return;
    this.talking = false;
    this.sendJson({ type: 'end_of_speech' });
    if (this.heardSpeech) this.setState('thinking');
    else if (this.state === 'hearing') this.setState('listening');
  }

  /** Stop the reply now (the server keeps what was heard of it). */
  interrupt() {
    this.sendJson({ type: 'interrupt' });
    for (const turn of this.turns.keys()) this.dropTurn(turn);
    if (this.state === 'speaking') this.setState('listening');
  }

  /** End the call: microphone, socket and playback. */
  stop() {
    if (this.state === 'closed') return;
    this.on = false;
    clearTimeout(this.retryTimer);
    clearInterval(this.ticker);
    this.ticker = null;
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000, 'call ended');
      this.ws = null;
    }
    this.stream?.getTracks().forEach((track) => track.stop());
    this.ctx?.close().catch(() => {});
    this.turns.clear();
    this.queue = [];
    this.setState('closed');
  }

  // ---- the socket ----------------------------------------------------------------

  connect() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = `${scheme}://${location.host}/api/voice?conversation=${this.conversationId}`;
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.ready = false;
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') this.onMessage(JSON.parse(e.data));
      else this.onAudio(e.data);
    };
    ws.onclose = (e) => this.onClose(e);
  }

  onClose(event) {
    this.ws = null;
    this.ready = false;
    if (!this.on) return;
    for (const turn of this.turns.keys()) this.dropTurn(turn); // its turn ended with the socket
    if (FINAL_CLOSE.has(event.code)) {
      // The server said why in an `error` event just before; retrying would not help.
      this.stop();
      return;
    }
    this.setState('reconnecting');
    const delay = RETRY_MS[Math.min(this.retries, RETRY_MS.length - 1)];
    this.retries += 1;
    this.retryTimer = setTimeout(() => this.on && this.connect(), delay);
  }

  onMessage(message) {
    switch (message.type) {
      case 'ready':
        this.ready = true;
        this.retries = 0;
        this.dropped.clear(); // a new socket is a new session: its turns count from 1 again
        this.outputRate = message.output.sample_rate;
        this.onEvent(message);
        for (const frame of this.queue.splice(0)) this.ws.send(frame);
        this.setState('listening');
        return;
      case 'speech_started':
        this.heardSpeech = true;
        // The server interrupts a reply it hears talked over; stop it here at once.
        for (const turn of this.turns.keys()) this.dropTurn(turn);
        this.setState('hearing');
        break;
      case 'speech_stopped':
        this.setState('thinking');
        break;
      case 'transcript':
        if (!message.text && this.state === 'thinking') this.setState('listening');
        break;
      case 'interrupted':
        this.dropTurn(message.turn);
        if (this.state === 'speaking' || this.state === 'thinking') this.setState('listening');
        break;
      case 'turn_finished':
      case 'error':
        if (message.turn != null) this.finishTurn(message.turn);
        break;
      default:
        break;
    }
    this.onEvent(message);
  }

  sendFrame(frame) {
    if (this.on && (this.talking || !this.pushToTalk)) this.send(frame);
  }

  sendJson(message) {
    this.send(JSON.stringify(message));
  }

  /** Send now, or once the socket is ready, in order (an end_of_speech after its audio). */
  send(data) {
    if (this.ready && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(data);
    } else if (this.on) {
      this.queue.push(data);
      if (this.queue.length > MAX_QUEUED_FRAMES) this.queue.shift();
    }
  }

  // ---- playback ------------------------------------------------------------------

  onAudio(data) {
    const turnId = new DataView(data).getUint32(0, true);
    if (this.dropped.has(turnId) || !this.ctx) return;
    const pcm = new Int16Array(data, 4, (data.byteLength - 4) >> 1);
    if (!pcm.length) return;
    const buffer = this.ctx.createBuffer(1, pcm.length, this.outputRate);
    const samples = buffer.getChannelData(0);
    for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.speaker);
    const start = Math.max(this.ctx.currentTime + LEAD_S, this.playEnd);
    source.start(start);
    this.playEnd = start + buffer.duration;
    const turn = this.turn(turnId);
    turn.pieces.push({ source, start, seconds: buffer.duration });
    this.setState('speaking');
    this.startTicker();
  }

  turn(id) {
    if (!this.turns.has(id)) this.turns.set(id, { pieces: [], finished: false, sent: -1 });
    return this.turns.get(id);
  }

  playedMs(turn) {
    const now = this.ctx.currentTime;
    const seconds = turn.pieces.reduce(
      (sum, p) => sum + Math.min(Math.max(now - p.start, 0), p.seconds), 0);
    return Math.round(seconds * 1000);
  }

  reportPlayed(id, turn) {
    const ms = this.playedMs(turn);
    if (ms !== turn.sent) {
      turn.sent = ms;
      this.onEvent({ type: 'played', turn: id, ms });
    }
  }

  /** Every 100 ms while a reply plays: report progress; when the last one ends, listen. */
  tick() {
    if (!this.ctx) return;
    for (const [id, turn] of this.turns) {
      this.reportPlayed(id, turn);
      if (turn.finished && this.ctx.currentTime >= this.endOf(turn)) this.turns.delete(id);
    }
    const playing = this.ctx.currentTime < this.playEnd;
    const generating = [...this.turns.values()].some((t) => !t.finished);
    if (!playing && !generating && this.state === 'speaking') this.setState('listening');
    if (!this.turns.size) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }

  endOf(turn) {
    return turn.pieces.reduce((end, p) => Math.max(end, p.start + p.seconds), 0);
  }

  finishTurn(id) {
    const turn = this.turn(id);
    turn.finished = true;
    if (!turn.pieces.length) {
      this.turns.delete(id);
      if (this.state === 'thinking') this.setState('listening');
    }
    if (this.turns.size) this.startTicker();
  }

  startTicker() {
    if (!this.ticker) this.ticker = setInterval(() => this.tick(), PLAYED_EVERY_MS);
  }

  /** Stop a turn's audio now and ignore the rest of it. */
  dropTurn(id) {
    this.dropped.add(id);
    const turn = this.turns.get(id);
    if (!turn) return;
    if (this.ctx) this.reportPlayed(id, turn);
    for (const piece of turn.pieces) {
      piece.source.stop(); // one scheduled for later never plays
    }
    this.turns.delete(id);
    if (this.ctx) this.playEnd = Math.min(this.playEnd, this.ctx.currentTime);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onEvent({ type: 'state', state });
  }
}
