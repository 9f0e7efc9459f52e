// kitlib PodBoard — the front end (anywidget ES module; no imports, no CDN).
//
// One <canvas> draws every node and pod; the DOM holds only the toolbar, the legend,
// a tooltip and an aria-live summary. Redraws are batched with requestAnimationFrame;
// hit testing is grid arithmetic on the layout (every node box has the same size).
//
// Exports:
//   layout(nodes, pods, {width, targetHeight}) -> Layout   (pure; see below)
//   mount(el, {snapshot, onSelect, onFilter, onNeedSnapshot}) -> Board controller
//   default {render}                                        (anywidget entry point)
//
// Data (sent by kitlib.widgets.PodBoard; see widgets/README.md):
//   node: {name, zone, pool, ready, unschedulable, taints}
//   pod:  {key, namespace, name, uid, node, slot, ip, phase, state, workload, revision,
//          labels, deleting, inplace, containers: [{name, role, image, image_running,
//          state, reason, ready, restarts, inplace, failing}]}
//   snapshot: {type: "snapshot", version, nodes, pods, images}
//   delta:    {type: "delta", base, version, nodes: {upsert, remove},
//              pods: {upsert, remove}, images}

export const STATES = ["waiting", "running", "ready", "crashloop", "terminating"];
const SUMMARY_ORDER = ["ready", "running", "waiting", "crashloop", "terminating"];
const STATE_LABEL = {
  waiting: "waiting", running: "running, not ready", ready: "ready",
  crashloop: "crash-looping", terminating: "terminating",
};
const ROLE_WEIGHT = { app: 4, sidecar: 1, agent: 1 };
const UNSCHEDULED = "";
const ANIM_IN_MS = 450;
const ANIM_OUT_MS = 700;
const ANIM_FLASH_MS = 900;
const FILTERED_ALPHA = 0.12;
const FALLBACK_COLOR = "#999999";
const CRASH_RED = "#E0001B";
const NODE_GAP = 8;
const GROUP_HEADER = 22;
const MARGIN = 8;

// -- layout (pure) -------------------------------------------------------------------------

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function naturalCompare(a, b) {
  return collator.compare(a, b);
}

function groupTitle(node) {
  if (node.name === UNSCHEDULED) return "not scheduled";
  const parts = [];
  if (node.pool) parts.push(`pool ${node.pool}`);
  if (node.zone) parts.push(node.zone);
  return parts.length ? parts.join(" · ") : "nodes";
}

function slotsNeeded(nodes, pods) {
  const perNode = new Map();
  let most = 4;
  for (const pod of pods) {
    const n = (perNode.get(pod.node) || 0) + 1;
    perNode.set(pod.node, n);
    most = Math.max(most, n, (pod.slot || 0) + 1);
  }
  return most;
}

// Space between pods: wider than the 1 px between a pod's containers, so pods stay apart.
function gapFor(cw) {
  return cw >= 14 ? 3 : cw >= 8 ? 2 : 1;
}

// A node box: a header over a grid of cells. Cells are about 4:3, so a slightly wider
// than tall grid makes a square-ish box; it is widened (fewer rows) to the minimum box
// width, which leaves room for the node's name and its tag.
function boxSize(slots, cw, ch) {
  const header = cw >= 9 ? 16 : 12;
  const pad = cw >= 9 ? 4 : 2;
  const gap = gapFor(cw);
  const minWidth = cw >= 9 ? 96 : 72;
  const square = Math.max(2, Math.ceil(Math.sqrt(slots * 0.8)));
  const fill = Math.floor((minWidth - 2 * pad + gap) / (cw + gap));
  const cols = Math.max(square, Math.min(fill, slots));
  const grid = { cols, rows: Math.ceil(slots / cols) };
  return {
    header, pad, grid,
    w: Math.max(minWidth, cols * (cw + gap) - gap + 2 * pad),
    h: header + grid.rows * (ch + gap) - gap + 2 * pad,
  };
}

function groupNodes(nodes, pods) {
  const sorted = [...nodes].sort((a, b) =>
    naturalCompare(groupTitle(a), groupTitle(b)) || naturalCompare(a.name, b.name));
  const known = new Set(sorted.map((n) => n.name));
  if (pods.some((p) => !known.has(p.node))) {
    sorted.push({ name: UNSCHEDULED, zone: "", pool: "", ready: true, unschedulable: false,
                  taints: [] });
  }
  const groups = [];
  for (const node of sorted) {
    const title = groupTitle(node);
    if (!groups.length || groups[groups.length - 1].title !== title) {
      groups.push({ title, nodes: [] });
    }
    groups[groups.length - 1].nodes.push(node);
  }
  return groups;
}

function groupLabel(group) {
  const n = group.nodes.length;
  return `${group.title} · ${n} node${n === 1 ? "" : "s"}`;
}

// Groups are blocks (a header over a grid of boxes) packed left to right on shelves.
function placeGroups(groups, box, width) {
  const usable = width - 2 * MARGIN;
  const perRowMax = Math.max(1, Math.floor((usable + NODE_GAP) / (box.w + NODE_GAP)));
  const placed = [];
  let x = MARGIN;
  let y = MARGIN;
  let shelf = 0;
  for (const group of groups) {
    const perRow = Math.min(perRowMax, group.nodes.length);
    const rows = Math.ceil(group.nodes.length / perRow);
    const label = groupLabel(group);
    // Wide enough for its header (12 px bold: about 7 px a character).
    const w = Math.max(perRow * (box.w + NODE_GAP) - NODE_GAP, Math.ceil(label.length * 7.2));
    const h = GROUP_HEADER + rows * (box.h + NODE_GAP) - NODE_GAP;
    if (x > MARGIN && x + w > width - MARGIN) {
      x = MARGIN;
      y += shelf + 2 * NODE_GAP;
      shelf = 0;
    }
    placed.push({ title: group.title, label, nodes: group.nodes, x, y, w, h, perRow, rows,
                  top: y + GROUP_HEADER });
    x += w + 3 * NODE_GAP;
    shelf = Math.max(shelf, h);
  }
  return { placed, height: y + shelf + MARGIN };
}

/**
 * Where everything goes. Pure: the same nodes, pods and width give the same layout.
 *
 * Every node box has the same size (enough cells for the fullest node); boxes flow in
 * rows under one header per pool/zone group; a pod sits in cell `slot` of its node's
 * grid (`slot` is assigned by Python and stable while the pod lives). The cell size is
 * the largest (from 44 px down to 5 px wide) whose board fits `targetHeight`.
 *
 * @param {Array} nodes node entries
 * @param {Array} pods pod entries (node, slot)
 * @param {{width:number, targetHeight?:number}} opts
 * @returns {{width, height, cell:{w,h}, grid:{cols,rows}, box:{w,h,header,pad},
 *            groups:Array, nodeRect(name), podRect(pod), nodeAt(x,y), slotAt(x,y)}}
 */
export function layout(nodes, pods, { width, targetHeight = 640 } = {}) {
  const slots = slotsNeeded(nodes, pods);
  const groups = groupNodes(nodes, pods);
  let result;
  for (let cw = 44; cw >= 5; cw -= 1) {
    const ch = Math.max(4, Math.round(cw * 0.75));
    const box = boxSize(slots, cw, ch);
    result = { cell: { w: cw, h: ch, gap: gapFor(cw) }, box, ...placeGroups(groups, box, width) };
    if (result.height <= targetHeight) break;
  }
  return finishLayout(result, width);
}

function finishLayout({ cell, box, placed, height }, width) {
  const { grid } = box;
  const rects = new Map();
  placed.forEach((g) => g.nodes.forEach((n, i) => rects.set(n.name, {
    x: g.x + (i % g.perRow) * (box.w + NODE_GAP),
    y: g.top + Math.floor(i / g.perRow) * (box.h + NODE_GAP), w: box.w, h: box.h })));
  const nodeRect = (name) => rects.get(name) || null;
  const podRect = (pod) => {
    const r = rects.get(pod.node) || rects.get(UNSCHEDULED);
    if (!r || pod.slot >= grid.cols * grid.rows) return null;
    return { x: r.x + box.pad + (pod.slot % grid.cols) * (cell.w + cell.gap),
             y: r.y + box.header + box.pad + Math.floor(pod.slot / grid.cols) * (cell.h + cell.gap),
             w: cell.w, h: cell.h };
  };
  const nodeAt = (x, y) => {
    const g = placed.find((p) => x >= p.x && x < p.x + p.w && y >= p.top && y < p.y + p.h);
    if (!g) return null;
    const col = Math.floor((x - g.x) / (box.w + NODE_GAP));
    const row = Math.floor((y - g.top) / (box.h + NODE_GAP));
    const i = row * g.perRow + col;
    if (col < 0 || col >= g.perRow || i >= g.nodes.length) return null;
    const r = nodeRect(g.nodes[i].name);
    return x < r.x + r.w && y < r.y + r.h ? g.nodes[i] : null;
  };
  const slotAt = (x, y, r) => {
    const col = Math.floor((x - r.x - box.pad) / (cell.w + cell.gap));
    const row = Math.floor((y - r.y - box.header - box.pad) / (cell.h + cell.gap));
    if (col < 0 || row < 0 || col >= grid.cols || row >= grid.rows) return -1;
    return row * grid.cols + col;
  };
  return { width, height, cell, grid, box, groups: placed, nodeRect, podRect, nodeAt, slotAt };
}

// -- summaries -----------------------------------------------------------------------------

export function countStates(pods) {
  const counts = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const pod of pods) counts[pod.state] = (counts[pod.state] || 0) + 1;
  return counts;
}

export function summaryText(nodeCount, podCount, counts) {
  const parts = SUMMARY_ORDER.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`);
  const head = `${nodeCount} node${nodeCount === 1 ? "" : "s"}, ${podCount} pod${podCount === 1 ? "" : "s"}`;
  return parts.length ? `${head}: ${parts.join(", ")}` : head;
}

// Same rule as kitlib.widgets._board_model.matches.
export function matches(pod, text) {
  const terms = text.toLowerCase().split(/\s+/).filter(Boolean);
  return terms.every((term) => termMatches(pod, term));
}

function termMatches(pod, term) {
  if (term.startsWith("ns:")) return pod.namespace.toLowerCase() === term.slice(3);
  if (term.startsWith("node:")) return pod.node.toLowerCase() === term.slice(5);
  if (term.includes("=")) {
    const [key, value] = [term.slice(0, term.indexOf("=")), term.slice(term.indexOf("=") + 1)];
    return Object.entries(pod.labels || {}).some(
      ([k, v]) => k.toLowerCase() === key && String(v).toLowerCase() === value);
  }
  const hay = [pod.key, pod.workload, pod.node, ...pod.containers.map((c) => c.image)];
  return hay.some((h) => (h || "").toLowerCase().includes(term));
}

// -- drawing -------------------------------------------------------------------------------

function hatchPattern(ctx, color, background) {
  const tile = document.createElement("canvas");
  tile.width = tile.height = 8;
  const t = tile.getContext("2d");
  t.fillStyle = background;
  t.fillRect(0, 0, 8, 8);
  t.strokeStyle = color;
  t.lineWidth = 1.5;
  t.beginPath();
  t.moveTo(-2, 10); t.lineTo(10, -2);
  t.moveTo(-2, 2); t.lineTo(2, -2);
  t.moveTo(6, 10); t.lineTo(10, 6);
  t.stroke();
  return ctx.createPattern(tile, "repeat");
}

// Containers side by side: widths by role weight, 1 px apart when the cell is wide enough.
// Offsets depend only on the roles and the width, so they are cached (whole widths only).
const sliceCache = new Map();

function containerSlices(containers, w) {
  if (!Number.isInteger(w)) return computeSlices(containers, w);
  let roles = "";
  for (const c of containers) roles += c.role[0] || "?";
  const key = `${w}|${roles}`;
  let offsets = sliceCache.get(key);
  if (!offsets) {
    offsets = computeSlices(containers, w);
    sliceCache.set(key, offsets);
  }
  return offsets;
}

function computeSlices(containers, w) {
  const weights = containers.map((c) => ROLE_WEIGHT[c.role] || 1);
  const total = weights.reduce((a, b) => a + b, 0) || 1;
  const gap = w >= 10 && containers.length > 1 ? 1 : 0;
  const usable = w - gap * (containers.length - 1);
  const slices = [];
  let at = 0;
  containers.forEach((c, i) => {
    const cw = i === containers.length - 1 ? w - at : Math.max(1, Math.round(usable * weights[i] / total));
    slices.push({ dx: at, w: cw });
    at += cw + gap;
  });
  return slices;
}

// Drawing 10,000 pods one fillRect at a time, each with its own fillStyle and alpha, costs
// tens of milliseconds; a Batch collects rectangles and lines by style and draws each style
// as one path. Layers keep the paint order: pod backgrounds, container fills, flashes,
// outlines, marks. Alphas are rounded to 1/20 so animated pods share buckets.
const LAYERS = 5;
const [BACKGROUND, FILL, FLASH, OUTLINE, MARK] = [0, 1, 2, 3, 4];

// Outline styles are objects, so a batch can key buckets by identity.
const OUTLINE_WAITING = { color: "#8c8c8c", width: 1, dash: true };
const OUTLINE_RUNNING = { color: "#4d4d4d", width: 1, dash: false };
const OUTLINE_CRASH = { color: CRASH_RED, width: 2, dash: false };
const ALPHA_STEPS = 20;

class Batch {
  constructor() {
    // layer -> Map(style key -> Array(ALPHA_STEPS + 1) of {kind, key, alpha, coords})
    this.layers = Array.from({ length: LAYERS }, () => new Map());
  }

  coords(layer, kind, key, alpha) {
    const q = Math.round(alpha * ALPHA_STEPS);
    if (q <= 0) return null;
    const styles = this.layers[layer];
    let byAlpha = styles.get(key);
    if (!byAlpha) {
      byAlpha = new Array(ALPHA_STEPS + 1);
      styles.set(key, byAlpha);
    }
    let b = byAlpha[q];
    if (!b) {
      b = { kind, key, alpha: q / ALPHA_STEPS, coords: [] };
      byAlpha[q] = b;
    }
    return b.coords;
  }

  rect(layer, color, alpha, x, y, w, h) {
    const c = w > 0 && h > 0 ? this.coords(layer, "fill", color, alpha) : null;
    if (c) c.push(x, y, w, h);
  }

  box(style, alpha, x, y, w, h) {
    const c = this.coords(OUTLINE, "box", style, alpha);
    if (c) c.push(x, y, w, h);
  }

  line(layer, color, alpha, x1, y1, x2, y2) {
    const c = this.coords(layer, "line", color, alpha);
    if (c) c.push(x1, y1, x2, y2);
  }

  // Draw every bucket, layer by layer, and empty them (the arrays are kept for next time).
  flush(ctx) {
    for (const styles of this.layers) {
      for (const byAlpha of styles.values()) {
        for (const b of byAlpha) {
          if (b && b.coords.length) {
            drawBucket(ctx, b);
            b.coords.length = 0;
          }
        }
      }
    }
    ctx.globalAlpha = 1;
    ctx.setLineDash([]);
  }
}

function drawBucket(ctx, b) {
  const c = b.coords;
  ctx.globalAlpha = b.alpha;
  ctx.beginPath();
  if (b.kind === "line") {
    for (let i = 0; i < c.length; i += 4) { ctx.moveTo(c[i], c[i + 1]); ctx.lineTo(c[i + 2], c[i + 3]); }
  } else {
    for (let i = 0; i < c.length; i += 4) ctx.rect(c[i], c[i + 1], c[i + 2], c[i + 3]);
  }
  if (b.kind === "fill") {
    ctx.fillStyle = b.key;
    ctx.fill();
    return;
  }
  const style = b.kind === "box" ? b.key : { color: b.key, width: 1, dash: false };
  ctx.strokeStyle = style.color;
  ctx.lineWidth = style.width;
  ctx.setLineDash(style.dash ? [2, 2] : []);
  ctx.stroke();
}

const CONTAINER_ALPHA = { waiting: 0.3, terminated: 0.3, unknown: 0.3 };

function containerAlpha(c) {
  if (c.state === "running") return c.ready ? 1 : 0.7;
  return CONTAINER_ALPHA[c.state] ?? 0.3;
}

// One container: its fill (agents are short), a flash, restart ticks, a pull-error mark.
// Returns the container's rectangle when it is being updated in place (hatched later).
function containerShapes(batch, c, slice, r, color, flash, alpha) {
  const s = { x: r.x + slice.dx, w: slice.w };
  const top = c.role === "agent" ? r.y + Math.round(r.h * 0.35) : r.y;
  const h = r.y + r.h - top;
  batch.rect(FILL, color, alpha * containerAlpha(c), s.x, top, s.w, h);
  if (flash > 0) batch.rect(FLASH, "#ffffff", alpha * 0.9 * flash, s.x, top, s.w, h);
  const ticks = Math.min(c.restarts || 0, 5);
  const step = Math.max(2, Math.floor(s.w / (ticks + 1)));
  for (let i = 0; i < ticks && (i + 1) * step <= s.w; i += 1) {
    batch.rect(MARK, "#1a1a1a", alpha, s.x + i * step + 1, top, 1, s.w > 6 ? 4 : 2);
  }
  if (c.failing) batch.rect(MARK, CRASH_RED, alpha, s.x, top, Math.min(s.w, 3), Math.min(h, 3));
  return c.inplace && s.w >= 3 ? { x: s.x, y: top, w: s.w, h, alpha } : null;
}

// The pod's state around its containers, and the in-place marker (a corner triangle).
function podFrame(batch, pod, r, alpha) {
  switch (pod.state) {
    case "waiting":
      batch.box(OUTLINE_WAITING, alpha, r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
      break;
    case "running":
      batch.box(OUTLINE_RUNNING, alpha, r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
      break;
    case "crashloop":
      batch.box(OUTLINE_CRASH, alpha, r.x + 1, r.y + 1, r.w - 2, r.h - 2);
      break;
    case "terminating":
      batch.line(OUTLINE, "#555555", alpha, r.x, r.y + r.h, r.x + r.w, r.y);
      break;
    default:
      break;
  }
  if (pod.inplace) {
    const s = Math.max(3, Math.min(7, Math.round(r.h / 2)));
    for (let i = 0; i < s; i += 1) batch.rect(MARK, "#111111", alpha, r.x + r.w - s + i, r.y, s - i, 1);
  }
}

function hatch(ctx, rects) {
  if (!rects.length) return;
  ctx.save();
  ctx.strokeStyle = "#ffffff";
  ctx.lineWidth = 1;
  for (const h of rects) {
    ctx.globalAlpha = 0.85 * h.alpha;
    ctx.save();
    ctx.beginPath();
    ctx.rect(h.x, h.y, h.w, h.h);
    ctx.clip();
    ctx.beginPath();
    for (let d = -h.h; d < h.w; d += 4) {
      ctx.moveTo(h.x + d, h.y + h.h);
      ctx.lineTo(h.x + d + h.h, h.y);
    }
    ctx.stroke();
    ctx.restore();
  }
  ctx.restore();
}

// -- the board -----------------------------------------------------------------------------

class Board {
  constructor(el, { onSelect, onFilter, onNeedSnapshot } = {}) {
    this.el = el;
    this.onSelect = onSelect || (() => {});
    this.onFilter = onFilter || (() => {});
    this.onNeedSnapshot = onNeedSnapshot || (() => {});
    this.nodes = new Map();
    this.pods = new Map();
    this.slots = new Map(); // node -> Map(slot -> key)
    this.images = {};
    this.version = -1;
    this.selectedPod = "";
    this.selectedNode = "";
    this.filter = "";
    this.error = "";
    this.anims = new Map(); // key -> {kind, start, containers?}
    this.ghosts = new Map(); // key -> {pod, rect, start}
    this.layout = null;
    this.layoutDirty = true;
    this.frame = 0;
    this.firstDrawMs = null;
    this.awaitingSnapshot = false; // asked for one after a version gap, not answered yet
    this.batch = new Batch();
    this.counts = null; // pods per state, recomputed after data changes
    this.build();
  }

  // -- DOM ---------------------------------------------------------------------------------

  build() {
    const el = this.el;
    el.classList.add("kitlib-podboard");
    el.innerHTML = "";
    const bar = this.div("kb-toolbar", el);
    this.filterBox = document.createElement("input");
    Object.assign(this.filterBox, {
      type: "search", className: "kb-filter",
      placeholder: "filter: name, workload, node, image, label=value, ns:name",
    });
    this.filterBox.setAttribute("aria-label", "Filter pods");
    this.filterBox.addEventListener("input", () => this.setFilter(this.filterBox.value, true));
    bar.appendChild(this.filterBox);
    this.summary = this.div("kb-summary", bar);
    this.summary.setAttribute("aria-live", "polite");
    this.legend = this.div("kb-legend", el);
    this.errorBar = this.div("kb-error", el);
    this.errorBar.setAttribute("role", "alert");
    this.scroller = this.div("kb-scroll", el);
    this.canvas = document.createElement("canvas");
    this.canvas.className = "kb-canvas";
    this.canvas.setAttribute("role", "img");
    this.canvas.tabIndex = 0;
    this.scroller.appendChild(this.canvas);
    this.tip = this.div("kb-tip", el);
    this.ctx = this.canvas.getContext("2d");
    this.cordonFill = hatchPattern(this.ctx, "#b3b3b3", "#f4f4f4");
    this.downFill = hatchPattern(this.ctx, "#9a9a9a", "#d6d6d6");
    this.canvas.addEventListener("mousemove", (e) => this.onHover(e));
    this.canvas.addEventListener("mouseleave", () => this.hideTip());
    this.canvas.addEventListener("click", (e) => this.onClick(e));
    this.canvas.addEventListener("keydown", (e) => this.onKey(e));
    this.announcer = this.div("kb-sr-only", el);
    this.announcer.setAttribute("aria-live", "polite");
    this.resizer = new ResizeObserver(() => this.relayout());
    this.resizer.observe(this.scroller);
    this.renderLegend();
  }

  div(className, parent) {
    const d = document.createElement("div");
    d.className = className;
    parent.appendChild(d);
    return d;
  }

  renderLegend() {
    const images = Object.entries(this.images);
    const swatch = (color, label, cls = "") =>
      `<span class="kb-item"><i class="kb-swatch ${cls}" style="background:${color}"></i>${escapeHtml(label)}</span>`;
    this.legend.innerHTML =
      `<div class="kb-legend-row"><b>images</b>${images.map(([img, c]) => swatch(c, img)).join("") || "<span class=\"kb-item\">—</span>"}</div>` +
      `<div class="kb-legend-row"><b>containers</b>${swatch("#777", "app (wide)", "kb-app")}${swatch("#777", "sidecar", "kb-sidecar")}${swatch("#777", "agent (short)", "kb-agent")}` +
      `<b>pods</b>${STATES.map((s) => `<span class="kb-item"><i class="kb-state kb-state-${s}"></i>${STATE_LABEL[s]}</span>`).join("")}` +
      `<span class="kb-item"><i class="kb-state kb-state-inplace"></i>updating in place</span>` +
      `<b>nodes</b><span class="kb-item"><i class="kb-state kb-node-cordoned"></i>cordoned</span><span class="kb-item"><i class="kb-state kb-node-down"></i>NotReady</span></div>`;
  }

  // -- data --------------------------------------------------------------------------------

  setSnapshot(snapshot) {
    this.awaitingSnapshot = false;
    const before = this.nodes.size + this.pods.size;
    this.nodes = new Map(snapshot.nodes.map((n) => [n.name, n]));
    const oldPods = this.pods;
    this.pods = new Map(snapshot.pods.map((p) => [p.key, p]));
    this.rebuildSlots();
    if (before) {
      for (const pod of this.pods.values()) this.noticeChange(oldPods.get(pod.key), pod);
    }
    this.version = snapshot.version;
    this.counts = null;
    if (snapshot.images) this.setImages(snapshot.images);
    this.layoutDirty = true;
    this.invalidate();
  }

  applyDelta(delta) {
    if (delta.base !== this.version) {
      this.requestSnapshot();
      return false;
    }
    for (const name of delta.nodes.remove) this.nodes.delete(name);
    for (const node of delta.nodes.upsert) this.nodes.set(node.name, node);
    const now = performance.now();
    for (const key of delta.pods.remove) this.removePod(key, now);
    for (const pod of delta.pods.upsert) this.upsertPod(pod);
    this.version = delta.version;
    this.counts = null;
    if (delta.images) this.setImages(delta.images);
    if (delta.nodes.upsert.length || delta.nodes.remove.length) this.layoutDirty = true;
    this.invalidate();
    return true;
  }

  // Ask for a snapshot (once until one arrives).
  requestSnapshot() {
    if (this.awaitingSnapshot) return;
    this.awaitingSnapshot = true;
    this.onNeedSnapshot();
  }

  rebuildSlots() {
    this.slots = new Map();
    for (const pod of this.pods.values()) this.takeSlot(pod);
  }

  takeSlot(pod) {
    if (!this.slots.has(pod.node)) this.slots.set(pod.node, new Map());
    this.slots.get(pod.node).set(pod.slot, pod.key);
    if (this.layout && pod.slot >= this.layout.grid.cols * this.layout.grid.rows) this.layoutDirty = true;
  }

  freeSlot(pod) {
    const slots = this.slots.get(pod.node);
    if (slots && slots.get(pod.slot) === pod.key) slots.delete(pod.slot);
  }

  removePod(key, now) {
    const pod = this.pods.get(key);
    if (!pod) return;
    this.freeSlot(pod);
    this.pods.delete(key);
    this.anims.delete(key);
    const rect = this.layout && this.layout.podRect(pod);
    if (rect) this.ghosts.set(`${key}#${pod.uid}`, { pod, rect, start: now });
  }

  upsertPod(pod) {
    const old = this.pods.get(pod.key);
    if (old) this.freeSlot(old);
    else if (!this.nodes.has(pod.node)) this.layoutDirty = true;
    this.pods.set(pod.key, pod);
    this.takeSlot(pod);
    this.noticeChange(old, pod);
  }

  // Creation grows in; a container restarted in place (same pod uid, restart count up or
  // a new running image) flashes alone; a replaced pod (new key or uid) fades the old out.
  noticeChange(old, pod) {
    const now = performance.now();
    if (!old || old.uid !== pod.uid) {
      this.anims.set(pod.key, { kind: "in", start: now });
      return;
    }
    const flashed = new Set();
    pod.containers.forEach((c, i) => {
      const was = old.containers.find((o) => o.name === c.name);
      if (was && (c.restarts > was.restarts || (was.image_running && c.image_running !== was.image_running))) {
        flashed.add(i);
      }
    });
    if (flashed.size) this.anims.set(pod.key, { kind: "flash", start: now, containers: flashed });
  }

  setImages(images) {
    this.images = images;
    this.renderLegend();
    this.invalidate();
  }

  setFilter(text, fromUser = false) {
    this.filter = text || "";
    if (this.filterBox.value !== this.filter) this.filterBox.value = this.filter;
    if (fromUser) this.onFilter(this.filter);
    this.invalidate();
  }

  select({ pod, node } = {}) {
    if (pod !== undefined) this.selectedPod = pod || "";
    if (node !== undefined) this.selectedNode = node || "";
    const selected = this.pods.get(this.selectedPod);
    const text = selected
      ? `selected pod ${selected.key}: ${STATE_LABEL[selected.state]} on ${selected.node || "no node"}`
      : this.selectedNode ? `selected node ${this.selectedNode}` : "";
    if (this.announcer.textContent !== text) this.announcer.textContent = text;
    this.invalidate();
  }

  setError(text) {
    this.error = text || "";
    this.errorBar.textContent = this.error;
    this.errorBar.style.display = this.error ? "block" : "none";
  }

  // -- frames ------------------------------------------------------------------------------

  invalidate() {
    if (this.frame) return;
    this.frame = requestAnimationFrame((t) => {
      this.frame = 0;
      this.draw(t);
    });
  }

  relayout() {
    this.layoutDirty = true;
    this.invalidate();
  }

  ensureLayout() {
    if (!this.layoutDirty && this.layout) return;
    const width = Math.max(320, this.scroller.clientWidth || this.el.clientWidth || 960);
    const target = Math.max(320, Math.min(900, Math.round(window.innerHeight * 0.75) || 640));
    this.layout = layout([...this.nodes.values()], [...this.pods.values()], { width, targetHeight: target });
    this.layoutDirty = false;
    const dpr = window.devicePixelRatio || 1;
    const { height } = this.layout;
    if (this.canvas.width !== Math.round(width * dpr) || this.canvas.height !== Math.round(height * dpr)) {
      this.canvas.width = Math.round(width * dpr);
      this.canvas.height = Math.round(height * dpr);
      this.canvas.style.width = `${width}px`;
      this.canvas.style.height = `${height}px`;
    }
  }

  draw(now = performance.now()) {
    const t0 = performance.now();
    this.ensureLayout();
    const ctx = this.ctx;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, this.layout.width, this.layout.height);
    this.drawNodes(ctx);
    const animating = this.drawPods(ctx, now);
    this.drawSelection(ctx);
    const ms = performance.now() - t0;
    if (this.firstDrawMs === null && this.pods.size) this.firstDrawMs = ms;
    this.publish(ms);
    if (animating) this.invalidate();
  }

  drawNodes(ctx) {
    const L = this.layout;
    ctx.textBaseline = "middle";
    for (const g of L.groups) {
      ctx.fillStyle = "#333";
      ctx.font = "600 12px system-ui, sans-serif";
      ctx.fillText(g.label, g.x, g.y + GROUP_HEADER / 2);
      for (const node of g.nodes) this.drawNode(ctx, node, L.nodeRect(node.name));
    }
  }

  drawNode(ctx, node, r) {
    const down = !node.ready && node.name !== UNSCHEDULED;
    const header = this.layout.box.header;
    ctx.fillStyle = down ? this.downFill : node.unschedulable ? this.cordonFill : "#f4f5f7";
    ctx.fillRect(r.x, r.y, r.w, r.h);
    ctx.fillStyle = down ? "#b8b8b8" : node.unschedulable ? "#e4e4e4" : "#e6e9ee";
    ctx.fillRect(r.x, r.y, r.w, header);
    ctx.strokeStyle = down ? "#6b6b6b" : node.name === UNSCHEDULED ? "#c9a227" : "#c3c8cf";
    ctx.lineWidth = 1;
    ctx.strokeRect(r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
    this.drawNodeHeader(ctx, node, r, header, down);
  }

  drawNodeHeader(ctx, node, r, header, down) {
    const small = header < 16;
    const name = node.name === UNSCHEDULED ? "pending" : node.name;
    const tags = down ? ["NotReady", "down"] : node.unschedulable ? ["cordoned", "cordon"] : [];
    ctx.font = `${small ? 9 : 11}px system-ui, sans-serif`;
    const nameWidth = ctx.measureText(name).width;
    ctx.font = `700 ${small ? 8 : 10}px system-ui, sans-serif`;
    const tag = tags.find((t) => nameWidth + ctx.measureText(t).width + 12 <= r.w) || "";
    const y = r.y + header / 2 + 1;
    ctx.save();
    ctx.beginPath();
    ctx.rect(r.x, r.y, r.w, header);
    ctx.clip();
    if (tag) {
      ctx.fillStyle = down ? "#B00015" : "#555";
      ctx.fillText(tag, r.x + r.w - ctx.measureText(tag).width - 4, y);
    }
    ctx.font = `${small ? 9 : 11}px system-ui, sans-serif`;
    ctx.fillStyle = down ? "#222" : "#333";
    ctx.fillText(name, r.x + 4, y);
    ctx.restore();
  }

  drawPods(ctx, now) {
    const L = this.layout;
    const batch = this.batch;
    const filtering = this.filter.trim() !== "";
    const hatched = [];
    let animating = false;
    for (const pod of this.pods.values()) {
      const r = L.podRect(pod);
      if (!r) continue;
      const anim = this.anims.get(pod.key);
      let scale = 1;
      let flash = null;
      if (anim) {
        const p = Math.min(1, (now - anim.start) / (anim.kind === "in" ? ANIM_IN_MS : ANIM_FLASH_MS));
        if (p >= 1) this.anims.delete(pod.key);
        else animating = true;
        if (anim.kind === "in") scale = 0.25 + 0.75 * easeOut(p);
        else flash = { containers: anim.containers, amount: 1 - p };
      }
      const dim = filtering && !matches(pod, this.filter) ? FILTERED_ALPHA : 1;
      this.podShapes(batch, pod, scaled(r, scale), dim * (scale < 1 ? scale : 1), flash, hatched);
    }
    animating = this.ghostShapes(batch, now, hatched) || animating;
    batch.flush(ctx);
    hatch(ctx, hatched);
    return animating;
  }

  podShapes(batch, pod, r, alpha, flash, hatched) {
    const node = this.nodes.get(pod.node);
    const a = alpha * (node && !node.ready ? 0.55 : 1) * (pod.state === "terminating" ? 0.45 : 1);
    if (pod.state === "waiting") batch.rect(BACKGROUND, "#ffffff", a, r.x, r.y, r.w, r.h);
    const slices = containerSlices(pod.containers, r.w);
    for (let i = 0; i < slices.length; i += 1) {
      const c = pod.containers[i];
      const color = this.images[c.image_running || c.image] || this.images[c.image] || FALLBACK_COLOR;
      const amount = flash && flash.containers.has(i) ? flash.amount : 0;
      const h = containerShapes(batch, c, slices[i], r, color, amount, a);
      if (h) hatched.push(h);
    }
    podFrame(batch, pod, r, a);
  }

  ghostShapes(batch, now, hatched) {
    let animating = false;
    for (const [id, ghost] of this.ghosts) {
      const p = (now - ghost.start) / ANIM_OUT_MS;
      if (p >= 1) {
        this.ghosts.delete(id);
        continue;
      }
      animating = true;
      this.podShapes(batch, ghost.pod, scaled(ghost.rect, 1 - 0.5 * p), 1 - p, null, hatched);
    }
    return animating;
  }

  drawSelection(ctx) {
    const L = this.layout;
    if (this.selectedNode && this.nodes.has(this.selectedNode)) {
      const r = L.nodeRect(this.selectedNode);
      ctx.strokeStyle = "#0072B2";
      ctx.lineWidth = 2.5;
      ctx.strokeRect(r.x - 1, r.y - 1, r.w + 2, r.h + 2);
    }
    const pod = this.pods.get(this.selectedPod);
    const r = pod && L.podRect(pod);
    if (r) {
      ctx.strokeStyle = "#ffffff";
      ctx.lineWidth = 1;
      ctx.strokeRect(r.x - 1.5, r.y - 1.5, r.w + 3, r.h + 3);
      ctx.strokeStyle = "#000000";
      ctx.lineWidth = 2;
      ctx.strokeRect(r.x - 3, r.y - 3, r.w + 6, r.h + 6);
    }
  }

  // -- attributes, accessibility -------------------------------------------------------------

  publish(drawMs) {
    if (!this.counts) this.counts = countStates(this.pods.values());
    const counts = this.counts;
    const text = summaryText(this.nodes.size, this.pods.size, counts);
    const data = this.el.dataset;
    data.nodeCount = String(this.nodes.size);
    data.podCount = String(this.pods.size);
    for (const s of STATES) data[`pods${s[0].toUpperCase()}${s.slice(1)}`] = String(counts[s]);
    data.version = String(this.version);
    data.selectedPod = this.selectedPod;
    data.selectedNode = this.selectedNode;
    data.lastDrawMs = drawMs.toFixed(2);
    if (this.firstDrawMs !== null) data.firstDrawMs = this.firstDrawMs.toFixed(2);
    if (this.canvas.getAttribute("aria-label") !== text) {
      this.canvas.setAttribute("aria-label", text);
      this.summary.textContent = text;
    }
  }

  // -- pointer -----------------------------------------------------------------------------

  hit(e) {
    if (!this.layout) return {};
    const rect = this.canvas.getBoundingClientRect();
    const x = e.clientX - rect.left;
    const y = e.clientY - rect.top;
    const node = this.layout.nodeAt(x, y);
    if (!node) return { x, y };
    const slot = this.layout.slotAt(x, y, this.layout.nodeRect(node.name));
    const key = slot >= 0 ? (this.slots.get(node.name) || new Map()).get(slot) : undefined;
    const pod = key && this.pods.get(key);
    const r = pod && this.layout.podRect(pod);
    const inside = r && x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
    return { x, y, node, pod: inside ? pod : null, rect: r };
  }

  // Keyboard: arrows step through the pods in board order, Escape clears the selection.
  onKey(e) {
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
    if (e.key === "Escape") this.choose({ pod: "", node: "" });
    if (!step || !this.layout || !this.pods.size) return;
    e.preventDefault();
    const order = this.boardOrder();
    const at = order.indexOf(this.selectedPod);
    const next = at < 0 ? (step > 0 ? 0 : order.length - 1) : (at + step + order.length) % order.length;
    this.choose({ pod: order[next], node: "" });
  }

  boardOrder() {
    const order = [];
    for (const g of this.layout.groups) {
      for (const node of g.nodes) {
        const slots = this.slots.get(node.name);
        if (slots) order.push(...[...slots.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]));
      }
    }
    return order;
  }

  choose(selection) {
    this.select(selection);
    this.onSelect(selection);
  }

  onClick(e) {
    const { node, pod } = this.hit(e);
    if (pod) this.choose({ pod: pod.key, node: "" });
    else if (node && node.name !== UNSCHEDULED) this.choose({ pod: "", node: node.name });
    else this.choose({ pod: "", node: "" });
  }

  onHover(e) {
    const h = this.hit(e);
    if (!h.node) return this.hideTip();
    let html;
    if (h.pod) {
      const container = this.containerAt(h.pod, h.rect, h.x);
      html = podTip(h.pod, container);
    } else {
      html = nodeTip(h.node, (this.slots.get(h.node.name) || new Map()).size);
    }
    this.tip.innerHTML = html;
    this.tip.style.display = "block";
    const host = this.el.getBoundingClientRect();
    const left = Math.min(e.clientX - host.left + 14, host.width - this.tip.offsetWidth - 4);
    this.tip.style.left = `${Math.max(0, left)}px`;
    this.tip.style.top = `${e.clientY - host.top + 14}px`;
    return undefined;
  }

  containerAt(pod, r, x) {
    const slices = containerSlices(pod.containers, r.w);
    return slices.findIndex((s) => x >= r.x + s.dx && x < r.x + s.dx + s.w + 1);
  }

  hideTip() {
    this.tip.style.display = "none";
  }

  destroy() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.resizer.disconnect();
    this.el.innerHTML = "";
  }
}

function easeOut(p) {
  return 1 - (1 - p) * (1 - p);
}

function scaled(r, k) {
  if (k === 1) return r;
  const w = Math.max(1, r.w * k);
  const h = Math.max(1, r.h * k);
  return { x: r.x + (r.w - w) / 2, y: r.y + (r.h - h) / 2, w, h };
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (ch) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch]));
}

function podTip(pod, highlight) {
  const rows = pod.containers.map((c, i) => {
    const update = c.inplace ? ` <span class="kb-warn">updating from ${escapeHtml(c.image_running)}</span>` : "";
    const reason = c.reason ? ` (${escapeHtml(c.reason)})` : "";
    return `<tr class="${i === highlight ? "kb-hl" : ""}"><td>${escapeHtml(c.name)}</td><td>${c.role}</td>` +
      `<td>${escapeHtml(c.image)}${update}</td><td>${c.state}${reason}${c.ready ? ", ready" : ""}</td>` +
      `<td>${c.restarts} restart${c.restarts === 1 ? "" : "s"}</td></tr>`;
  }).join("");
  return `<div class="kb-tip-title">${escapeHtml(pod.key)}</div>` +
    `<div>${STATE_LABEL[pod.state]}${pod.inplace ? " · updating in place" : ""} · node ${escapeHtml(pod.node || "—")} · IP ${escapeHtml(pod.ip || "—")}</div>` +
    `<div>${escapeHtml(pod.workload || "no workload")}${pod.revision ? ` · revision ${escapeHtml(pod.revision)}` : ""}</div>` +
    `<table>${rows}</table>`;
}

function nodeTip(node, pods) {
  if (node.name === UNSCHEDULED) return `<div class="kb-tip-title">not scheduled</div><div>${pods} pods</div>`;
  const flags = [node.ready ? "Ready" : "NotReady", node.unschedulable ? "cordoned" : "schedulable"];
  return `<div class="kb-tip-title">${escapeHtml(node.name)}</div>` +
    `<div>${flags.join(" · ")} · ${pods} pod${pods === 1 ? "" : "s"}</div>` +
    `<div>pool ${escapeHtml(node.pool || "—")} · zone ${escapeHtml(node.zone || "—")}</div>` +
    (node.taints.length ? `<div>taints: ${node.taints.map(escapeHtml).join(", ")}</div>` : "");
}

// -- entry points --------------------------------------------------------------------------

/**
 * Mount a board on `el` without Jupyter (standalone pages, benchmarks) — `render` uses it too.
 *
 * @param {HTMLElement} el the root element (gets the data-* attributes)
 * @param {{snapshot?, onSelect?({pod,node}), onFilter?(text), onNeedSnapshot?()}} options
 * @returns {Board} with setSnapshot(s), applyDelta(d) -> bool, select({pod,node}),
 *          setFilter(text), setError(text), draw(), destroy()
 */
export function mount(el, { snapshot, onSelect, onFilter, onNeedSnapshot } = {}) {
  const board = new Board(el, { onSelect, onFilter, onNeedSnapshot });
  if (snapshot) board.setSnapshot(snapshot);
  return board;
}

function render({ model, el }) {
  const board = mount(el, {
    onSelect: ({ pod, node }) => {
      model.set("selected_pod", pod);
      model.set("selected_node", node);
      model.save_changes();
    },
    onFilter: (text) => {
      model.set("filter", text);
      model.save_changes();
    },
    onNeedSnapshot: () => model.send({ type: "snapshot?" }),
  });
  const onMessage = (msg) => {
    if (msg && msg.type === "snapshot") board.setSnapshot(msg);
    else if (msg && msg.type === "delta") board.applyDelta(msg);
  };
  const sync = () => {
    board.select({ pod: model.get("selected_pod"), node: model.get("selected_node") });
    board.setFilter(model.get("filter"));
    board.setError(model.get("error"));
    const images = model.get("images");
    if (images && Object.keys(images).length) board.setImages(images);
  };
  const events = ["change:selected_pod", "change:selected_node", "change:filter",
                  "change:error", "change:images"];
  model.on("msg:custom", onMessage);
  for (const event of events) model.on(event, sync);
  sync();
  board.requestSnapshot();
  return () => {
    model.off("msg:custom", onMessage);
    for (const event of events) model.off(event, sync);
    board.destroy();
  };
}

export default { render };
