// Starting things from the console: a backfill of a new model version, an experiment, an offline evaluation.

import { barChart } from "./charts.js";
import { formatNumber, h, needs, table } from "./dom.js";

export function addVersionForm(ctx, name, field) {
  const id = `add-${field}`;
  const model = h("input", { id, type: "text", placeholder: "e.g. minilm@challenger or models:/minilm/2", required: true });
  const form = h("form", { class: "inline" }, h("label", { for: id }, `Add a model version to ${field}`), model, h("button", { type: "submit" }, "Start backfill"), needs(ctx, "admin"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ctx.clearError();
    try {
      await ctx.api.call("/v1/embeddings/add", { collection_name: name, field_name: field, model: model.value.trim() });
      ctx.reload();
    } catch (error) {
      ctx.showError(error);
    }
  });
  return form;
}

export function experimentForm(ctx, name, field, versions) {
  const serving = versions.find((version) => version.serving);
  const candidates = versions.filter((version) => !version.serving && version.state === "READY");
  if (!serving || !candidates.length) return "";
  const challengerId = `challenger-${field}`;
  const modeId = `mode-${field}`;
  const challenger = h("select", { id: challengerId }, candidates.map((version) => h("option", { value: version.model_version }, version.model_version)));
  const mode = h("select", { id: modeId }, ["interleave", "split", "shadow"].map((value) => h("option", { value }, value)));
  const form = h(
    "form",
    { class: "inline" },
    h("label", { for: challengerId }, `Challenger of ${serving.model_version}`),
    challenger,
    h("label", { for: modeId }, "Mode"),
    mode,
    h("button", { type: "submit" }, "Start experiment"),
    needs(ctx, "admin"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ctx.clearError();
    try {
      const started = await ctx.api.call("/v1/experiments/start", {
        collection_name: name,
        field_name: field,
        champion: serving.model_version,
        challenger: challenger.value,
        mode: mode.value,
      });
      ctx.go(`#/experiments/${started.experiment_id}`);
    } catch (error) {
      ctx.showError(error);
    }
  });
  return form;
}

// BEIR files chosen here are read in the browser; the judged queries travel to the server's evaluate.
export function evaluationSection(ctx, name, field, versions) {
  const ready = versions.filter((version) => version.state === "READY");
  const queriesId = `eval-queries-${field}`;
  const qrelsId = `eval-qrels-${field}`;
  const queriesFile = h("input", { id: queriesId, type: "file", accept: ".jsonl,.json,.txt", required: true });
  const qrelsFile = h("input", { id: qrelsId, type: "file", accept: ".tsv,.txt", required: true });
  const boxes = ready.map((version, position) =>
    h("label", { class: "row" }, h("input", { type: "checkbox", value: version.model_version, checked: true, id: `eval-${field}-${position}` }), version.model_version),
  );
  const result = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "stack" },
    h("label", { for: queriesId }, "Queries (BEIR queries.jsonl: one {\"_id\", \"text\"} per line)"),
    queriesFile,
    h("label", { for: qrelsId }, "Judgements (BEIR qrels.tsv: query-id, corpus-id, score)"),
    qrelsFile,
    h("fieldset", {}, h("legend", {}, "Versions"), boxes),
    h("button", { type: "submit" }, "Evaluate"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ctx.clearError();
    try {
      const queries = parseQueries(await queriesFile.files[0].text());
      const qrels = parseQrels(await qrelsFile.files[0].text());
      const chosen = boxes.map((box) => box.querySelector("input")).filter((box) => box.checked).map((box) => box.value);
      result.replaceChildren(h("p", { role: "status" }, `Evaluating ${chosen.length} versions on ${Object.keys(qrels).length} judged queries...`));
      const report = await ctx.api.call("/v1/experiments/evaluate", { collection_name: name, field_name: field, queries, qrels, versions: chosen });
      result.replaceChildren(...renderEvaluation(report));
    } catch (error) {
      result.replaceChildren();
      ctx.showError(error);
    }
  });
  return h("section", { "aria-labelledby": `eval-title-${field}` }, h("h2", { id: `eval-title-${field}` }, `Offline evaluation of ${field}`), form, result);
}

function renderEvaluation(report) {
  const versions = Object.entries(report.versions);
  const names = [...new Set(versions.flatMap(([, values]) => Object.keys(values.metrics)))];
  const comparisons = Object.entries(report.comparisons || {});
  return [
    table(`metrics on ${report.queries} judged queries`, ["version", ...names], versions.map(([version, values]) => [version, ...names.map((metric) => values.metrics[metric])])),
    barChart(`${names.join(", ")} per version`, names, versions.map(([version, values]) => ({ name: version, values: names.map((metric) => values.metrics[metric]) }))),
    table(
      `each version against ${report.baseline}`,
      ["version", "difference", "interval", "p-value", "decision"],
      comparisons.map(([version, verdict]) => [version, verdict.delta, verdict.ci ? `[${formatNumber(verdict.ci[0], 3)}, ${formatNumber(verdict.ci[1], 3)}]` : "-", verdict.p_value, verdict.decision]),
    ),
    report.gate ? h("p", { role: "status", class: report.gate.passed ? "ok" : "bad" }, `Gate ${report.gate.passed ? "passed" : "failed"}: ${report.gate.reason}`) : "",
  ];
}

export function parseQueries(text) {
  const queries = {};
  text.split("\n").forEach((line, number) => {
    if (!line.trim()) return;
    let row;
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`queries line ${number + 1} is not JSON`);
    }
    if (typeof row._id !== "string" || typeof row.text !== "string") throw new Error(`queries line ${number + 1} needs "_id" and "text" strings`);
    queries[row._id] = row.text;
  });
  return queries;
}

export function parseQrels(text) {
  const qrels = {};
  text.split("\n").forEach((line, number) => {
    const cells = line.trim().split("\t");
    if (cells.length < 3 || (number === 0 && Number.isNaN(Number(cells[2])))) return; // blank lines, the header
    const grade = Number(cells[2]);
    if (Number.isNaN(grade)) throw new Error(`qrels line ${number + 1}: the score ${cells[2]} is not a number`);
    (qrels[cells[0]] ||= {})[cells[1]] = grade;
  });
  return qrels;
}
