// The lifecycle: embedding versions with promote and rollback, jobs, monitoring and drift, models, experiments.

import { intervalChart, lineageGraph, lineChart } from "./charts.js";
import { cards, formatNumber, formatTime, h, link, needs, table } from "./dom.js";
import { addVersionForm, evaluationSection, experimentForm } from "./workflow.js";

// ---------------------------------------------------------------- serving

export async function servingPanel(ctx, name, description) {
  const later = []; // sections shown after the versions: one offline evaluation per field
  const section = h("section", { "aria-labelledby": "versions-title" }, h("h2", { id: "versions-title" }, "Embedding versions"));
  for (const [field, versions] of Object.entries(description.embedding_versions)) {
    const confirmArea = h("div", { class: "confirm" });
    const rows = versions.map((version) => [
      version.model_version,
      version.state,
      version.rows,
      version.serving ? h("strong", { class: "ok" }, "serving") : "",
      !version.serving && version.state === "READY"
        ? h("span", {}, h("button", { type: "button", onclick: () => confirmAction(ctx, confirmArea, `Promote ${version.model_version} on ${field}`, "/v1/embeddings/promote", { collection_name: name, field_name: field, model: version.model_version }) }, `Promote ${version.model_version}`), needs(ctx, "admin"))
        : "",
    ]);
    section.append(
      h("h3", {}, `Field ${field}`),
      table(`model versions of ${field}`, ["version", "state", "rows", "serving", "action"], rows),
      h("button", { type: "button", class: "secondary", onclick: () => confirmAction(ctx, confirmArea, `Roll back ${field} to the version that served before`, "/v1/embeddings/rollback", { collection_name: name, field_name: field }) }, `Roll back ${field}`),
      needs(ctx, "admin"),
      confirmArea,
      h("div", { class: "stack-gap" }, addVersionForm(ctx, name, field)),
      h("div", { class: "stack-gap" }, experimentForm(ctx, name, field, versions)),
    );
    later.push(evaluationSection(ctx, name, field, versions));
  }
  const history = await ctx.api.call("/v1/embeddings/history", { collection_name: name });
  section.append(
    h("h3", {}, "Serving history"),
    table("every promotion and rollback, newest last", ["time", "field", "action", "from", "to", "reason", "actor"], history.map((entry) => [formatTime(entry.time), entry.field, entry.action, entry.from_version ?? "", entry.to_version, entry.reason ?? "", entry.actor ?? ""])),
  );
  const jobsArea = h("div", { id: "collection-jobs", "aria-live": "polite" });
  section.append(h("h3", {}, "Backfill jobs"), jobsArea);
  ctx.main.append(section, ...later);
  const refresh = async () => {
    const found = await ctx.api.call("/v1/jobs/list", { collection_name: name });
    jobsArea.replaceChildren(jobsTable(ctx, found));
    return found;
  };
  const found = await refresh();
  if (found.some((job) => !["DONE", "CANCELLED", "FAILED"].includes(job.state))) ctx.every(1000, refresh);
}

function confirmAction(ctx, area, title, path, body) {
  const reason = h("textarea", { id: "action-reason", rows: 2 });
  const confirm = h("button", { type: "submit", class: "danger" }, "Confirm");
  const form = h(
    "form",
    { class: "stack", "aria-label": title },
    h("strong", {}, title),
    h("label", { for: "action-reason" }, "Reason (kept in the alias history)"),
    reason,
    h("div", { class: "row" }, confirm, h("button", { type: "button", class: "secondary", onclick: () => area.replaceChildren() }, "Cancel")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ctx.clearError();
    try {
      const moved = await ctx.api.call(path, { ...body, reason: reason.value || null });
      area.replaceChildren(h("p", { class: "ok", role: "status" }, `Done in ${formatNumber(moved.took_ms ?? moved.elapsed_ms ?? 0)} ms: ${moved.from_version ?? "-"} → ${moved.to_version}`));
      setTimeout(() => ctx.reload(), 600);
    } catch (error) {
      ctx.showError(error);
    }
  });
  area.replaceChildren(form);
  reason.focus();
}

function jobsTable(ctx, found) {
  return table(
    "backfill jobs with their progress",
    ["job", "collection", "field", "version", "state", "progress", "rows", "rows/s", "action"],
    found.map((job) => [
      job.job_id,
      job.collection_name ?? "",
      job.field,
      job.model_version,
      job.state,
      h("progress", { max: 1, value: job.progress, "aria-label": `job ${job.job_id} progress` }),
      `${formatNumber(job.rows_done)} / ${formatNumber(job.rows_total)}`,
      job.rows_per_second ?? "",
      jobButtons(ctx, job),
    ]),
  );
}

function jobButtons(ctx, job) {
  const act = (path, label) =>
    h("button", { type: "button", class: "secondary", onclick: async () => {
      try {
        await ctx.api.call(path, { job_id: job.job_id });
        ctx.reload();
      } catch (error) {
        ctx.showError(error);
      }
    } }, label);
  if (job.state === "RUNNING" || job.state === "PENDING") return h("span", { class: "row" }, act("/v1/jobs/pause", "Pause"), act("/v1/jobs/cancel", "Cancel"), needs(ctx, "admin"));
  if (job.state === "PAUSED" || job.state === "FAILED") return h("span", { class: "row" }, act("/v1/jobs/resume", "Resume"), act("/v1/jobs/cancel", "Cancel"), needs(ctx, "admin"));
  return "";
}

// A token limited to some collections lists per collection; a global one lists everything at once.
async function perCollection(ctx, path) {
  const scope = ctx.identity.collections;
  if (!scope) return ctx.api.call(path, {});
  const lists = await Promise.all(scope.map((name) => ctx.api.call(path, { collection_name: name }).catch(() => [])));
  return lists.flat();
}

export async function jobs(ctx) {
  const area = h("div", { "aria-live": "polite" });
  ctx.main.append(h("h1", {}, "Jobs"), area);
  const refresh = async () => area.replaceChildren(jobsTable(ctx, await perCollection(ctx, "/v1/jobs/list")));
  await refresh();
  ctx.every(2000, refresh);
}

// ------------------------------------------------------------- monitoring

export async function monitoringPanel(ctx, name, field) {
  const now = Date.now() / 1000;
  const report = await ctx.api.call("/v1/monitoring/series", { collection_name: name, field_name: field, since: now - 86400, until: now, bucket_s: 3600 });
  const versions = Object.entries(report.versions);
  const section = h("section", { "aria-labelledby": `monitor-${field}` }, h("h2", { id: `monitor-${field}` }, `Monitoring of ${field}: the last 24 hours`));
  section.append(
    lineChart(`searches per hour of each version of ${field}`, versions.map(([version, series]) => ({ name: version, points: series.buckets.map((b) => [b.start, b.queries]) })), { yLabel: "searches per hour" }),
    table(
      "totals per version",
      ["version", "searches", "empty", "low similarity", "p95 ms", "logged", "clicks", "CTR", "MRR"],
      versions.map(([version, series]) => {
        const t = series.totals;
        return [version, t.queries, t.empty_rate, t.low_similarity_rate, t.p95_ms, t.logged, t.clicks, t.ctr, t.mrr];
      }),
    ),
  );
  const result = h("div", { "aria-live": "polite" });
  const drift = h("button", { type: "button", class: "secondary", onclick: async () => {
    ctx.clearError();
    const at = Date.now() / 1000;
    try {
      const found = await ctx.api.call("/v1/monitoring/drift", { collection_name: name, field_name: field, reference: { logged: [at - 8 * 86400, at - 86400] }, current: { logged: [at - 86400, at] } });
      result.replaceChildren(
        h("p", { class: found.detected ? "bad" : "ok", role: "status" }, found.detected ? `Drift detected (p = ${formatNumber(found.p_value, 3)})` : `No drift detected (p = ${formatNumber(found.p_value, 3)})`),
        table("each test", ["test", "statistic", "p-value"], Object.entries(found.tests).map(([test, values]) => [test, values.statistic, values.p_value])),
      );
    } catch (error) {
      ctx.showError(error);
    }
  } }, `Test drift of ${field}: the last day of queries against the week before`);
  section.append(drift, result);
  ctx.main.append(section);
}

// ----------------------------------------------------------------- models

export async function models(ctx) {
  if (ctx.identity.collections) {
    ctx.main.append(h("h1", {}, "Models"), h("p", { class: "note" }, "The model registry is shared by every collection: it needs a token valid for every collection."));
    return;
  }
  const found = await ctx.api.call("/v1/models/list", {});
  ctx.main.append(
    h("h1", {}, "Models"),
    table("registered models", ["model", "latest version", "aliases", "description"], found.map((m) => [link(`#/models/${encodeURIComponent(m.name)}`, m.name), m.latest_version, Object.entries(m.aliases).map(([alias, v]) => `@${alias} → ${v}`).join(", "), m.description ?? ""])),
  );
}

export async function model(ctx, name) {
  const [versions, history] = await Promise.all([
    ctx.api.call("/v1/models/versions", { name }),
    ctx.api.call("/v1/models/alias_history", { name }),
  ]);
  ctx.main.append(
    h("h1", {}, `Model ${name}`),
    table("versions", ["version", "status", "flavor", "dimension", "metric", "aliases", "parent", "created"], versions.map((v) => [v.version, v.status, v.flavor, v.dimension, v.metric ?? "", (v.aliases || []).map((a) => `@${a}`).join(" "), v.lineage?.parent ?? "", formatTime(v.created_at)])),
    h("h2", {}, "Lineage"),
    lineageGraph(`lineage of ${name}: each version and the version it was made from`, versions.map((v) => ({ uri: v.uri, parent: v.lineage?.parent ?? null }))),
    h("h2", {}, "Alias history"),
    table("every alias move, newest last", ["time", "alias", "from", "to", "actor", "reason"], history.map((e) => [formatTime(e.time), `@${e.alias}`, e.from_version ?? "", e.to_version ?? "", e.actor ?? "", e.reason ?? ""])),
  );
}

// ------------------------------------------------------------ experiments

export async function experiments(ctx) {
  const found = await perCollection(ctx, "/v1/experiments/list");
  ctx.main.append(
    h("h1", {}, "Experiments"),
    table("champion/challenger experiments", ["experiment", "collection", "field", "mode", "champion", "challenger", "state", "started"], found.map((e) => [link(`#/experiments/${e.experiment_id}`, `#${e.experiment_id}`), e.collection_name, e.field, e.mode, e.champion_version, e.challenger_version, e.state, formatTime(e.created_at)])),
  );
}

export async function experiment(ctx, id) {
  const experimentId = Number(id);
  const verdict = h("div", { "aria-live": "polite" });
  // The verdict as it stood over the experiment's life, from the server (experiment_trajectory).
  const chart = h("div");
  const actions = h("div", { class: "row" });
  ctx.main.append(h("h1", {}, `Experiment #${experimentId}`), verdict, h("h2", {}, "The difference over time"), chart, actions);
  let trajectory = [];
  let polls = 0;
  const refresh = async () => {
    const report = await ctx.api.call("/v1/experiments/report", { experiment_id: experimentId });
    if (polls++ % 5 === 0 || report.experiment.state !== "RUNNING") {
      // the verdict over time recomputes the report at each point: every fifth refresh is enough
      trajectory = await ctx.api.call("/v1/experiments/trajectory", { experiment_id: experimentId, points: 30 });
    }
    const e = report.experiment;
    verdict.replaceChildren(
      cards([
        ["decision", report.decision],
        ["state", e.state],
        [`${report.metric} difference`, formatNumber(report.delta, 3)],
        ["interval", report.ci ? `[${formatNumber(report.ci[0], 3)}, ${formatNumber(report.ci[1], 3)}]` : "-"],
        ["p-value", formatNumber(report.p_value, 3)],
        ["queries / feedback", `${report.queries} / ${report.feedback}`],
      ]),
      h("p", { role: "status" }, report.reason),
      table("the arms", ["arm", "version", "details"], Object.entries(report.arms).map(([arm, values]) => {
        const { model_version: version, ...rest } = values;
        return [arm, version ?? "", h("code", {}, JSON.stringify(rest))];
      })),
    );
    const points = trajectory.filter((p) => p.ci && p.delta !== null).map((p) => [p.time, p.ci[0], p.ci[1], p.delta]);
    chart.replaceChildren(
      intervalChart(`${report.metric}: the challenger minus the champion over time, with its ${report.test} interval`, points),
      table("the verdict over time", ["time", "queries", "feedback", "decision", "difference", "interval"], trajectory.map((p) => [formatTime(p.time), p.queries, p.feedback, p.decision, p.delta, p.ci ? `[${formatNumber(p.ci[0], 3)}, ${formatNumber(p.ci[1], 3)}]` : "-"])),
    );
    actions.replaceChildren();
    if (e.state === "RUNNING") {
      const area = h("div");
      actions.append(
        h("button", { type: "button", onclick: () => confirmAction(ctx, area, `Promote the challenger of experiment #${experimentId}`, "/v1/experiments/promote", { experiment_id: experimentId }) }, "Promote the challenger"),
        needs(ctx, "admin"),
        h("button", { type: "button", class: "secondary", onclick: async () => {
          try {
            await ctx.api.call("/v1/experiments/stop", { experiment_id: experimentId });
            ctx.reload();
          } catch (error) {
            ctx.showError(error);
          }
        } }, "Stop"),
        needs(ctx, "admin"),
        area,
      );
    }
    return report;
  };
  const report = await refresh();
  if (report.experiment.state === "RUNNING") ctx.every(2000, refresh);
}
