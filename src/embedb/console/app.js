// The console's shell: sign-in with an API token, the navigation, and a hash router over the pages.

import { Api, ApiError } from "./api.js";
import { h } from "./dom.js";
import { collection, collections } from "./pages.js";
import { experiment, experiments, jobs, model, models } from "./lifecycle.js";

const TOKEN_KEY = "embedb.token";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const alertBox = document.getElementById("alert");
const ROUTES = [
  [/^#\/collections$/, collections],
  [/^#\/collections\/([^/]+)$/, collection],
  [/^#\/models$/, models],
  [/^#\/models\/([^/]+)$/, model],
  [/^#\/experiments$/, experiments],
  [/^#\/experiments\/(\d+)$/, experiment],
  [/^#\/jobs$/, jobs],
];

let session = null; // {api, identity}
let timers = [];

export function showError(error) {
  const text = error instanceof ApiError ? `${error.wireName} (${error.status}): ${error.message}` : String(error.message || error);
  alertBox.textContent = text;
  alertBox.hidden = false;
}

function clearError() {
  alertBox.hidden = true;
  alertBox.textContent = "";
}

function context() {
  return {
    api: session.api,
    identity: session.identity,
    main,
    showError,
    clearError,
    // Run fn again ms after each run ends, while this page is shown: slow answers never pile up.
    every(ms, fn) {
      const timer = { id: 0, stopped: false };
      const tick = async () => {
        if (timer.stopped) return;
        try {
          await fn();
        } catch (error) {
          showError(error);
        }
        if (!timer.stopped) timer.id = setTimeout(tick, ms);
      };
      timer.id = setTimeout(tick, ms);
      timers.push(timer);
    },
    reload: () => route(),
    go(hash) {
      window.location.hash = hash;
    },
  };
}

async function route() {
  for (const timer of timers) {
    timer.stopped = true;
    clearTimeout(timer.id);
  }
  timers = [];
  clearError();
  if (!session) return signIn();
  const hash = window.location.hash || "#/collections";
  for (const anchor of nav.querySelectorAll("a")) {
    if (hash.startsWith(anchor.getAttribute("href"))) anchor.setAttribute("aria-current", "page");
    else anchor.removeAttribute("aria-current");
  }
  const found = ROUTES.find(([pattern]) => pattern.test(hash));
  main.replaceChildren();
  if (!found) {
    main.append(h("h1", {}, "Not found"), h("p", {}, `No page ${hash}.`));
    return;
  }
  const [pattern, page] = found;
  try {
    const parameters = pattern.exec(hash).slice(1).map(decodeURIComponent);
    await page(context(), ...parameters);
  } catch (error) {
    showError(error);
  }
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}

function signIn(message) {
  nav.hidden = true;
  who.replaceChildren();
  const token = h("input", { id: "token", type: "password", autocomplete: "off", "aria-describedby": "token-help" });
  const form = h(
    "form",
    { class: "stack signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in"),
    h("label", { for: "token" }, "API token"),
    token,
    h("p", { id: "token-help", class: "note" }, "A token from `embedb token create` (leave empty on a server started with --no-auth)."),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    await start(token.value.trim());
  });
  main.replaceChildren(form);
  if (message) showError(message);
  token.focus();
}

async function start(token) {
  const api = new Api(token);
  try {
    const identity = await api.whoami();
    session = { api, identity };
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch (error) {
    session = null;
    sessionStorage.removeItem(TOKEN_KEY);
    return signIn(error);
  }
  nav.hidden = false;
  const scope = session.identity.collections ? ` on ${session.identity.collections.join(", ")}` : "";
  const out = h("button", { type: "button", class: "secondary", onclick: signOut }, "Sign out");
  who.replaceChildren(h("span", { id: "identity" }, `${session.identity.name || session.identity.token_id} · ${session.identity.role}${scope}`), out);
  if (!window.location.hash || window.location.hash === "#/") window.location.hash = "#/collections";
  else await route();
}

function signOut() {
  session = null;
  sessionStorage.removeItem(TOKEN_KEY);
  window.location.hash = "";
  signIn();
}

window.addEventListener("hashchange", () => route());
const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved !== null) start(saved);
else signIn();
