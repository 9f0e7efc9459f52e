// Standalone PodBoard harness: synthetic clusters for screenshots, browser tests and
// benchmarks, without Jupyter. Open harness.html?nodes=30&pods=400&seed=1&mix=1 (served
// over http, or chromium --allow-file-access-from-files for file://).
//
// window.kitlibHarness = {board, snapshot, makeSnapshot(opts), makeDelta(board, n, opts),
//                         apply(delta), palette}

import { mount } from "./podboard.js";

export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
                        "#F0E442", "#000000"];

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ZONES = ["zone-a", "zone-b", "zone-c"];
const APPS = [
  { workload: "cloneset/shop", app: "nginx:1.25", sidecar: "envoy:1.29", agent: "busybox:1.36" },
  { workload: "cloneset/pay", app: "pay:2.3", sidecar: "envoy:1.29", agent: null },
  { workload: "deployment/search", app: "search:7", sidecar: null, agent: "fluent-bit:3" },
];

function container(name, role, image, podState, rand) {
  const crashing = podState === "crashloop" && role === "app";
  const waiting = podState === "waiting" || crashing;
  return {
    name, role, image, image_running: podState === "waiting" ? "" : image,
    state: waiting ? "waiting" : "running",
    reason: crashing ? "CrashLoopBackOff" : waiting ? "ContainerCreating" : "",
    ready: !waiting && (podState === "ready" || role !== "app"),
    restarts: crashing ? 3 + Math.floor(rand() * 4) : rand() < 0.05 ? 1 : 0,
    inplace: false, failing: false,
  };
}

function pickState(rand, mix) {
  if (!mix) return "ready";
  const r = rand();
  if (r < 0.74) return "ready";
  if (r < 0.84) return "running";
  if (r < 0.92) return "waiting";
  if (r < 0.96) return "crashloop";
  return "terminating";
}

function makePod(i, node, slot, rand, mix) {
  const spec = APPS[Math.floor(rand() * APPS.length)];
  const state = pickState(rand, mix);
  const name = `${spec.workload.split("/")[1]}-${i.toString(36).padStart(5, "0")}`;
  const containers = [container("app", "app", spec.app, state, rand)];
  if (spec.agent) containers.push(container("log-agent", "agent", spec.agent, state, rand));
  if (spec.sidecar) containers.push(container("mesh-proxy", "sidecar", spec.sidecar, state, rand));
  return {
    key: `default/${name}`, namespace: "default", name, uid: `uid-${i}`, node, slot,
    ip: `10.244.${i >> 8 & 255}.${i & 255}`, phase: state === "waiting" ? "Pending" : "Running",
    state, workload: spec.workload, revision: "rev-1", labels: { app: spec.workload.split("/")[1] },
    deleting: state === "terminating", inplace: false, containers,
  };
}

/** A synthetic snapshot: `nodes` nodes in three zones and two pools, `pods` pods spread evenly. */
export function makeSnapshot({ nodes = 30, pods = 400, seed = 1, mix = true } = {}) {
  const rand = rng(seed);
  const nodeList = Array.from({ length: nodes }, (_, i) => ({
    name: `node-${i}`, zone: ZONES[i % ZONES.length], pool: i % 5 === 4 ? "gpu" : "default",
    ready: !(mix && i === 3), unschedulable: mix && i === 1, taints: mix && i === 1 ? ["node.kubernetes.io/unschedulable:NoSchedule"] : [],
  }));
  const used = new Map();
  const podList = Array.from({ length: pods }, (_, i) => {
    const node = nodeList[i % nodes].name;
    const slot = used.get(node) || 0;
    used.set(node, slot + 1);
    return makePod(i, node, slot, rand, mix);
  });
  if (mix && pods > 20) {
    podList[5].inplace = true;
    podList[5].containers[0] = { ...podList[5].containers[0], image: "nginx:1.26", inplace: true };
  }
  const images = {};
  [...new Set(podList.flatMap((p) => p.containers.map((c) => c.image)))].sort()
    .forEach((img, i) => { images[img] = PALETTE[i % PALETTE.length]; });
  return { type: "snapshot", version: 1, nodes: nodeList, pods: podList, images };
}

/**
 * A delta updating `count` pods of `board` in place (new app image, one restart), as an
 * in-place rollout would; `base` is the board's version, so `board.applyDelta` accepts it.
 */
export function makeDelta(board, count, { image = "nginx:1.26" } = {}) {
  const pods = [...board.pods.values()].slice(0, count).map((pod) => ({
    ...pod,
    containers: pod.containers.map((c, i) => (i === 0 ? {
      ...c, image, image_running: image, restarts: c.restarts + 1, state: "running", ready: true,
    } : c)),
  }));
  const images = { ...board.images };
  if (!images[image]) images[image] = PALETTE[Object.keys(images).length % PALETTE.length];
  return { type: "delta", base: board.version, version: board.version + 1,
           nodes: { upsert: [], remove: [] }, pods: { upsert: pods, remove: [] }, images };
}

function start(root) {
  const params = new URLSearchParams(window.location.search);
  const opts = {
    nodes: Number(params.get("nodes") || 30), pods: Number(params.get("pods") || 400),
    seed: Number(params.get("seed") || 1), mix: params.get("mix") !== "0",
  };
  const snapshot = makeSnapshot(opts);
  const board = mount(root, {
    snapshot,
    onSelect: (sel) => { root.dataset.lastSelect = JSON.stringify(sel); },
  });
  if (params.get("select")) board.select({ pod: params.get("select") });
  if (params.get("filter")) board.setFilter(params.get("filter"));
  window.kitlibHarness = {
    board, snapshot, makeSnapshot, makeDelta, palette: PALETTE,
    apply: (delta) => board.applyDelta(delta),
  };
}

// harness.html has a #board element; pages that only import the generators do not.
const root = typeof document !== "undefined" && document.getElementById("board");
if (root) start(root);
