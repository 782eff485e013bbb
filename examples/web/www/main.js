// Trains both runs step by step and draws their loss curves. The page's
// outcome is in document.body.dataset.state ("done", "no-webgpu", "error")
// and, when done, in #result as JSON (the headless test reads both).
import init, { Trainer } from './pkg/fadam_web.js';

const status = document.getElementById('status');
const canvas = document.getElementById('plot');
const steps = Number(new URLSearchParams(location.search).get('steps') || 500);
const colors = ['#d62728', '#1f77b4'];

function fail(state, message) {
  status.textContent = message;
  status.className = 'error';
  document.body.dataset.state = state;
}

function draw(names, losses, accuracy, total) {
  const g = canvas.getContext('2d');
  const [w, h, left, bottom, top] = [canvas.width, canvas.height, 50, 30, 10];
  g.clearRect(0, 0, w, h);
  const max = Math.max(...losses.map(l => l[0] || 0), 1e-9);
  const x = i => left + (w - left - 10) * i / Math.max(total - 1, 1);
  const y = v => top + (h - top - bottom) * (1 - v / max);
  g.strokeStyle = '#999'; g.fillStyle = '#444'; g.font = '12px sans-serif';
  g.beginPath(); g.moveTo(left, top); g.lineTo(left, h - bottom); g.lineTo(w - 10, h - bottom); g.stroke();
  for (let k = 0; k <= 4; k++) {
    const v = max * k / 4;
    g.fillText(v.toFixed(2), 5, y(v) + 4);
  }
  g.fillText('0', left - 3, h - bottom + 16);
  g.fillText(String(total), x(total - 1) - 20, h - bottom + 16);
  g.fillText('step', (w + left) / 2 - 12, h - bottom + 16);
  losses.forEach((curve, r) => {
    g.strokeStyle = colors[r]; g.lineWidth = 2; g.beginPath();
    curve.forEach((v, i) => (i ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
    g.stroke();
    const last = curve.length ? curve[curve.length - 1].toFixed(3) : '';
    g.fillStyle = colors[r];
    g.fillText(`${names[r]}: loss ${last}, train accuracy ${(100 * accuracy[r]).toFixed(1)}%`, w - 290, top + 16 + 18 * r);
  });
}

async function main() {
  const help = 'Use a browser with WebGPU enabled (recent Chrome or Edge, Firefox 141+ on Windows, Safari 26).';
  if (!navigator.gpu) {
    fail('no-webgpu', `This browser has no WebGPU (navigator.gpu is missing), so nothing can train here. ${help}`);
    return;
  }
  const probe = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!probe) {
    fail('no-webgpu', `This browser has no WebGPU adapter (WebGPU is turned off or the GPU is blocklisted), ` +
      `so nothing can train here. ${help}`);
    return;
  }
  await init();
  let trainer;
  try {
    trainer = await Trainer.create();
  } catch (e) {
    fail('error', `WebGPU gave no usable device: ${e.message || e}`);
    return;
  }
  const names = Trainer.names();
  // wgpu's AdapterInfo leaves the name empty on the web: ask the browser.
  const info = probe.info;
  const adapter = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') ||
    trainer.adapter() || 'unnamed adapter';
  status.textContent = `Adapter: ${adapter}`;
  document.body.dataset.adapter = adapter;
  const losses = names.map(() => []);
  const accuracy = names.map(() => 0);
  try {
    for (let i = 0; i < steps; i++) {
      const out = await trainer.step();
      names.forEach((_, r) => { losses[r].push(out[2 * r]); accuracy[r] = out[2 * r + 1]; });
      if (i % 10 === 0 || i === steps - 1) {
        draw(names, losses, accuracy, steps);
        await new Promise(resolve => setTimeout(resolve, 0));
      }
    }
  } catch (e) {
    fail('error', `Training failed: ${e.message || e}`);
    return;
  }
  const result = { adapter, steps, runs: {} };
  names.forEach((name, r) => {
    result.runs[name] = { first_loss: losses[r][0], last_loss: losses[r][steps - 1], accuracy: accuracy[r] };
  });
  document.getElementById('result').textContent = JSON.stringify(result);
  document.body.dataset.state = 'done';
}

main().catch(e => fail('error', `Error: ${e.message || e}`));
