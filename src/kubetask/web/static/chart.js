// The throughput chart: rates per second computed from consecutive stats snapshots,
// drawn on a canvas (no library). Submitted = growth of the task total; succeeded and
// failed attempts = growth of their counts. Negative growth (retention) counts as zero.
// It starts from the server's recent history (/api/v1/throughput: counts per 5 s), so
// a freshly opened page shows the last two minutes, not a lone point at "now".

const WINDOW = 5; // seconds a live rate is taken over
const SERIES = [["submitted", "--info"], ["succeeded", "--ok"], ["failed_attempts", "--bad"]];

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function niceStep(v) {
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (v <= m * exp) return m * exp;
  return 10 * exp;
}

function formatRate(v) {
  return v >= 10 ? v.toFixed(0) : v.toFixed(v >= 1 ? 1 : 2).replace(/\.?0+$/, "") || "0";
}

export class ThroughputChart {
  constructor(canvas, seconds = 120) {
    this.canvas = canvas;
    this.seconds = seconds;
    this.points = []; // {t, submitted, succeeded, failed_attempts}: rates per second
    this.recent = []; // the last snapshots' totals, {t, ...}, over about WINDOW seconds
  }

  // Counts per bucket from the server: one point per bucket, at its end.
  seed(history) {
    const width = history.bucket_seconds;
    const points = history.submitted.map((_, i) => {
      const point = { t: history.start + (i + 1) * width };
      for (const [k] of SERIES) point[k] = (history[k][i] || 0) / width;
      return point;
    });
    const first = this.points.length ? this.points[0].t : Infinity;
    this.points = [...points.filter((p) => p.t < first), ...this.points];
  }

  // A rate over the last WINDOW seconds of snapshots (as wide as the server's buckets),
  // not over one second: tasks end in bursts, and 1 s differences are mostly noise.
  record(totals, time) {
    const now = { t: new Date(time).getTime() / 1000, submitted: totals.total, succeeded: totals.succeeded, failed_attempts: totals.failed_attempts };
    const latest = this.recent[this.recent.length - 1];
    if (latest && now.t <= latest.t) return;
    this.recent.push(now);
    while (this.recent.length > 2 && this.recent[1].t <= now.t - WINDOW) this.recent.shift();
    const prev = this.recent[0];
    const dt = now.t - prev.t;
    if (dt < WINDOW * 0.8) return; // the page just opened: the server's history covers this
    const point = { t: now.t };
    for (const [k] of SERIES) point[k] = Math.max(0, (now[k] - prev[k]) / dt);
    this.points.push(point);
    while (this.points.length && this.points[0].t < now.t - this.seconds) this.points.shift();
  }

  draw() {
    const canvas = this.canvas;
    // What is drawn, for people and tests: points and the seconds they span.
    const ps = this.points;
    canvas.dataset.points = String(ps.length);
    canvas.dataset.span = ps.length ? (ps[ps.length - 1].t - ps[0].t).toFixed(0) : "0";
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pad = { l: 40, r: 8, t: 8, b: 20 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    const end = this.points.length ? this.points[this.points.length - 1].t : Date.now() / 1000;
    const start = end - this.seconds;
    let max = 1;
    for (const p of this.points) for (const [k] of SERIES) max = Math.max(max, p[k]);
    max = 4 * niceStep(max / 4); // four grid steps of a round size
    this.grid(ctx, { w, h, pad, pw, ph, max });
    const xOf = (t) => pad.l + (pw * (t - start)) / this.seconds;
    const yOf = (v) => pad.t + ph - (ph * v) / max;
    const points = this.points.filter((p) => p.t >= start);
    if (points.length < 2) return;
    for (const [key, colorVar] of SERIES) {
      const color = cssVar(colorVar);
      const line = new Path2D();
      points.forEach((p, i) => (i ? line.lineTo(xOf(p.t), yOf(p[key])) : line.moveTo(xOf(p.t), yOf(p[key]))));
      const area = new Path2D(line);
      area.lineTo(xOf(points[points.length - 1].t), yOf(0));
      area.lineTo(xOf(points[0].t), yOf(0));
      area.closePath();
      ctx.globalAlpha = 0.08; ctx.fillStyle = color; ctx.fill(area); ctx.globalAlpha = 1;
      ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.lineJoin = "round";
      ctx.stroke(line);
    }
  }

  grid(ctx, { w, h, pad, pw, ph, max }) {
    ctx.font = `11px ${getComputedStyle(document.body).fontFamily}`;
    ctx.fillStyle = cssVar("--ink-3");
    ctx.strokeStyle = cssVar("--line");
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = pad.t + ph - (ph * i) / 4;
      ctx.beginPath(); ctx.moveTo(pad.l, Math.round(y) + 0.5); ctx.lineTo(w - pad.r, Math.round(y) + 0.5); ctx.stroke();
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      ctx.fillText(formatRate((max * i) / 4), pad.l - 6, y);
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (let s = 0; s <= this.seconds; s += 30) {
      const x = pad.l + (pw * s) / this.seconds;
      ctx.fillText(s === this.seconds ? "now" : `-${this.seconds - s}s`, x, h - pad.b + 5);
    }
  }
}
