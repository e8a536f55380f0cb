// SVG charts drawn here: time series with a legend, intervals over time, and a lineage graph. No library.

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#0b5cad", "#c2410c", "#1b6e3a", "#7e22ce", "#a16207", "#0e7490"];

function svg(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

// series: [{name, points: [[x, y], ...]}]; x is epoch seconds.
export function lineChart(title, series, { width = 640, height = 220, yLabel = "" } = {}) {
  const root = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  root.append(svg("title", {}, title));
  const points = series.flatMap((s) => s.points).filter(([, y]) => y !== null && y !== undefined);
  if (!points.length) {
    root.append(svg("text", { x: 20, y: height / 2 }, "no data yet"));
    return root;
  }
  const pad = { left: 48, right: 12, top: 14, bottom: 36 };
  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  const [y0, y1] = [Math.min(0, ...ys), Math.max(...ys) || 1];
  const sx = (x) => pad.left + ((x - x0) / (x1 - x0 || 1)) * (width - pad.left - pad.right);
  const sy = (y) => height - pad.bottom - ((y - y0) / (y1 - y0 || 1)) * (height - pad.top - pad.bottom);
  root.append(svg("line", { x1: pad.left, y1: sy(y0), x2: width - pad.right, y2: sy(y0), stroke: "#9aa5b1" }));
  root.append(svg("line", { x1: pad.left, y1: pad.top, x2: pad.left, y2: height - pad.bottom, stroke: "#9aa5b1" }));
  root.append(svg("text", { x: 4, y: sy(y1) + 4 }, round(y1)), svg("text", { x: 4, y: sy(y0) + 4 }, round(y0)));
  root.append(svg("text", { x: pad.left, y: height - 18 }, clock(x0)), svg("text", { x: width - pad.right - 60, y: height - 18 }, clock(x1)));
  if (yLabel) root.append(svg("text", { x: pad.left + 4, y: pad.top - 2 }, yLabel));
  series.forEach((line, position) => {
    const colour = COLOURS[position % COLOURS.length];
    const drawn = line.points.filter(([, y]) => y !== null && y !== undefined);
    root.append(svg("polyline", { points: drawn.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
    for (const [x, y] of drawn) root.append(svg("circle", { cx: sx(x), cy: sy(y), r: 2.5, fill: colour }));
    const slot = (width - pad.left - pad.right) / Math.max(1, series.length);
    root.append(svg("rect", { x: pad.left + position * slot, y: height - 11, width: 10, height: 10, fill: colour }));
    root.append(svg("text", { x: pad.left + 14 + position * slot, y: height - 2 }, line.name.slice(0, Math.floor(slot / 7))));
  });
  return root;
}

// points: [[x, low, high, estimate]]: the confidence interval of a difference over time, and zero.
export function intervalChart(title, points, { width = 640, height = 220 } = {}) {
  const series = [
    { name: "lower bound", points: points.map(([x, low]) => [x, low]) },
    { name: "estimate", points: points.map(([x, , , estimate]) => [x, estimate]) },
    { name: "upper bound", points: points.map(([x, , high]) => [x, high]) },
    { name: "no difference", points: points.length ? [[points[0][0], 0], [points[points.length - 1][0], 0]] : [] },
  ];
  return lineChart(title, series, { width, height, yLabel: "challenger - champion" });
}

// versions: [{uri, parent}] — an edge from each parent to its child, versions in registration order.
export function lineageGraph(title, versions, { width = 640 } = {}) {
  const nodes = [...new Set(versions.flatMap((v) => (v.parent ? [v.parent, v.uri] : [v.uri])))];
  const height = 40 + nodes.length * 34;
  const root = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  root.append(svg("title", {}, title));
  const y = (uri) => 24 + nodes.indexOf(uri) * 34;
  const x = (uri) => 40 + (versions.some((v) => v.uri === uri && v.parent) ? 60 : 0);
  for (const version of versions) {
    if (!version.parent) continue;
    root.append(svg("path", { d: `M ${x(version.parent) + 6} ${y(version.parent) + 6} V ${y(version.uri)} H ${x(version.uri) - 6}`, fill: "none", stroke: "#9aa5b1", "stroke-width": 1.5 }));
  }
  for (const uri of nodes) {
    root.append(svg("circle", { cx: x(uri), cy: y(uri), r: 6, fill: versions.some((v) => v.uri === uri) ? "#0b5cad" : "#9aa5b1" }));
    root.append(svg("text", { x: x(uri) + 12, y: y(uri) + 4 }, uri));
  }
  return root;
}

function round(value) {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

function clock(seconds) {
  return new Date(seconds * 1000).toISOString().slice(11, 16) + " UTC";
}

// groups: category names; series: [{name, values: [one per group]}] — grouped bars from zero.
export function barChart(title, groups, series, { width = 640, height = 220 } = {}) {
  const root = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  root.append(svg("title", {}, title));
  const pad = { left: 48, right: 12, top: 14, bottom: 40 };
  const top = Math.max(1e-9, ...series.flatMap((s) => s.values.filter((v) => typeof v === "number")));
  const slot = (width - pad.left - pad.right) / Math.max(1, groups.length);
  const bar = (slot * 0.8) / Math.max(1, series.length);
  const sy = (y) => height - pad.bottom - (y / top) * (height - pad.top - pad.bottom);
  root.append(svg("line", { x1: pad.left, y1: sy(0), x2: width - pad.right, y2: sy(0), stroke: "#9aa5b1" }));
  root.append(svg("text", { x: 4, y: sy(top) + 4 }, round(top)), svg("text", { x: 4, y: sy(0) + 4 }, "0"));
  groups.forEach((group, g) => {
    root.append(svg("text", { x: pad.left + g * slot + slot * 0.1, y: height - 24 }, group));
    series.forEach((s, position) => {
      const value = typeof s.values[g] === "number" ? s.values[g] : 0;
      root.append(svg("rect", { x: pad.left + g * slot + slot * 0.1 + position * bar, y: sy(value), width: bar - 2, height: sy(0) - sy(value), fill: COLOURS[position % COLOURS.length] }));
    });
  });
  series.forEach((s, position) => {
    const step = (width - pad.left - pad.right) / Math.max(1, series.length);
    root.append(svg("rect", { x: pad.left + position * step, y: height - 11, width: 10, height: 10, fill: COLOURS[position % COLOURS.length] }));
    root.append(svg("text", { x: pad.left + 14 + position * step, y: height - 2 }, s.name.slice(0, Math.floor(step / 7))));
  });
  return root;
}
