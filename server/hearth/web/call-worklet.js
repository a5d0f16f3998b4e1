// The microphone's audio thread for a call (loaded by call.js): mixes to mono,
// downsamples from the context's rate to 16 kHz, and posts frames of PCM s16le.

class HearthCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { rate = 16000, frameSamples = 320 } = options.processorOptions || {};
    this.step = sampleRate / rate; // input samples per output sample (`sampleRate` is global)
    this.frame = new Int16Array(frameSamples);
    this.filled = 0;
    this.sum = 0; // input samples averaged into the next output sample: a box filter
    this.count = 0; // keeps most of what 16 kHz cannot carry out of the speech band
    this.due = this.step;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true; // no input yet
    const n = channels[0].length;
    for (let i = 0; i < n; i++) {
      let x = 0;
      for (const channel of channels) x += channel[i];
      this.sum += x / channels.length;
      this.count += 1;
      if (this.count >= this.due) {
        this.push(this.sum / this.count);
        this.due += this.step - this.count; // carry the fraction: 44.1 kHz gives 2, 3, 3, ...
        this.sum = 0;
        this.count = 0;
      }
    }
    return true;
  }

  push(x) {
    const clipped = Math.max(-1, Math.min(1, x));
    this.frame[this.filled++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
    if (this.filled === this.frame.length) {
      const out = this.frame.slice();
      this.port.postMessage(out.buffer, [out.buffer]);
      this.filled = 0;
    }
  }
}

registerProcessor('hearth-capture', HearthCapture);
