// Reads the simulator's burned-in clock (simulator/clock_code.py) out of an <img> in the browser.
//
// Evaluated by Playwright on the live picture's element: (img, options) => ...
//   options.once: decode the picture shown now and return its milliseconds (null: no clean reading).
//   otherwise: sample the picture every options.every_ms and, for each new reading, record
//   [Date.now(), Date.now() minus the burned-in time] in img.__sccClock.latencies (when it was seen,
//   and glass-to-glass in ms, on this machine's one clock); misreads (check bits disagree) are
//   counted, not recorded.
// The layout constants come from simulator/clock_code.py (options.layout), so the two cannot drift.
(img, options) => {
  const k = options.layout;
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });

  function decode() {
    const width = img.naturalWidth, height = img.naturalHeight;
    if (!width || !height) return undefined;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const top = k.top * height, bottom = k.bottom * height;
    const rowTop = Math.floor(top + (bottom - top) / 4);
    const rowBottom = Math.max(Math.floor(bottom - (bottom - top) / 4), rowTop + 1);
    context.drawImage(img, 0, 0, width, height);
    const strip = context.getImageData(0, rowTop, width, rowBottom - rowTop);
    const span = (k.right - k.left) * width / k.cells;
    const bits = [];
    for (let index = 0; index < k.cells; index++) {
      const left = k.left * width + index * span;
      const x0 = Math.floor(left + span / 4);
      const x1 = Math.max(Math.floor(left + span * 3 / 4), x0 + 1);
      let sum = 0, count = 0;
      for (let y = 0; y < strip.height; y++) {
        for (let x = x0; x < x1; x++) {
          const at = (y * strip.width + x) * 4;
          sum += (strip.data[at] + strip.data[at + 1] + strip.data[at + 2]) / 3;
          count++;
        }
      }
      bits.push(sum / count >= 128 ? 1 : 0);
    }
    let ones = 0, check = 0, millis = 0;
    for (let i = 0; i < k.data_bits; i++) {
      ones += bits[i];
      millis = millis * 2 + bits[i];  // 42 bits: exact in a double
    }
    for (let i = k.data_bits; i < k.cells; i++) check = check * 2 + bits[i];
    return check === ones ? millis : null;
  }

  if (options.once) return decode();
  const state = img.__sccClock = { latencies: [], misreads: 0, last: 0 };
  img.__sccTimers = (img.__sccTimers || []).concat([setInterval(() => {
    const millis = decode();
    const now = Date.now();
    if (millis === null) state.misreads++;
    else if (millis !== undefined && millis !== state.last) {
      state.last = millis;
      state.latencies.push([now, now - millis]);
    }
  }, options.every_ms)]);
  return true;
}
