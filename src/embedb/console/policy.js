// A field's policy: where its loop stands, its last steps, and the buttons a person holds (run, approve, mode).

import { ApiError } from "./api.js";
import { formatTime, h, needs, table } from "./dom.js";

export async function policyPanel(ctx, name, field) {
  const section = h("section", { "aria-labelledby": `policy-${field}` }, h("h2", { id: `policy-${field}` }, `Policy of ${field}`));
  let policy;
  try {
    policy = await ctx.api.call("/v1/policies/get", { collection_name: name, field_name: field });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    section.append(h("p", { class: "note" }, "No policy: a person runs the loop (embedb policy set, or set_policy, gives it one)."));
    ctx.main.append(section);
    return;
  }
  const status = h("div", { "aria-live": "polite" });
  const mode = h("select", { id: `policy-mode-${field}` }, ["off", "suggest", "act"].map((value) => h("option", { value, selected: value === policy.policy.mode }, value)));
  const setMode = async () => {
    ctx.clearError();
    try {
      await ctx.api.call("/v1/policies/set", { collection_name: name, field_name: field, policy: { ...policy.policy, mode: mode.value } });
      ctx.reload();
    } catch (error) {
      ctx.showError(error);
    }
  };
  const run = (approve) => async () => {
    ctx.clearError();
    try {
      const step = await ctx.api.call("/v1/policies/run", { collection_name: name, field_name: field, approve });
      status.replaceChildren(h("p", { role: "status" }, `${step.acted ? "Did" : step.action === "none" ? "Nothing to do" : "Would do"}: ${step.action} (now ${step.state}) — ${step.detail.why ?? step.detail.verdict ?? ""}`));
      setTimeout(() => ctx.reload(), 800);
    } catch (error) {
      ctx.showError(error);
    }
  };
  const gate = policy.policy.gate ? `an offline gate on ${Object.keys(policy.policy.gate.qrels).length} judged queries` : "no offline gate";
  section.append(
    h("p", {}, `Mode ${policy.policy.mode}, state ${policy.state}; triggers ${policy.policy.triggers.join(" and ")}; on alert ${policy.policy.on_alert}; ${gate}.`),
    h(
      "div",
      { class: "row" },
      h("label", { for: `policy-mode-${field}` }, "Mode"),
      mode,
      h("button", { type: "button", class: "secondary", onclick: setMode }, "Set mode"),
      h("button", { type: "button", onclick: run(false) }, "Run the next step"),
      policy.policy.mode === "suggest" ? h("button", { type: "button", onclick: run(true) }, "Approve the named step") : "",
      needs(ctx, "admin"),
    ),
    status,
    table(
      "the policy's last steps, newest last",
      ["time", "action", "acted", "state after", "why"],
      policy.events.map((event) => [formatTime(event.time), event.action, event.acted ? "yes" : "no", event.state, event.detail.why ?? event.detail.verdict ?? ""]),
    ),
  );
  ctx.main.append(section);
}
