// Small DOM helpers: every text goes in as a text node, never as HTML.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (value === true) element.setAttribute(key, "");
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function table(caption, headers, rows) {
  return h(
    "table",
    {},
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.length ? rows.map((cells) => h("tr", {}, cells.map(cell))) : h("tr", {}, h("td", { colspan: headers.length, class: "note" }, "none"))),
  );
}

function cell(value) {
  if (value instanceof Node) return h("td", {}, value);
  if (typeof value === "number") return h("td", { class: "num" }, formatNumber(value));
  return h("td", {}, value === null || value === undefined ? "" : String(value));
}

export function formatNumber(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "-";
  if (Number.isInteger(value)) return value.toLocaleString("en");
  return Number(value).toPrecision(digits);
}

export function formatTime(seconds) {
  if (!seconds) return "";
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

export function cards(entries) {
  return h("div", { class: "cards" }, entries.map(([label, value]) => h("div", { class: "card" }, h("div", { class: "note" }, label), h("div", { class: "value" }, value))));
}

export function link(href, text) {
  return h("a", { href }, text);
}

const ROLES = ["reader", "writer", "admin"];

// A note beside an action the token's role may not take: the server refuses it, the page says so up front.
export function needs(ctx, role) {
  return ROLES.indexOf(ctx.identity.role) < ROLES.indexOf(role) ? h("span", { class: "note" }, ` (needs an ${role} token)`) : "";
}
