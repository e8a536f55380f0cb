// Collections: the list, and one collection's schema, stats, indexes, versions, jobs, monitoring and a search box.

import { cards, formatNumber, h, link, table } from "./dom.js";
import { monitoringPanel, servingPanel } from "./lifecycle.js";
import { policyPanel } from "./policy.js";

export async function collections(ctx) {
  const names = await ctx.api.call("/v1/collections/list");
  const rows = [];
  for (const name of names) {
    const stats = await ctx.api.call("/v1/collections/get_stats", { collection_name: name });
    rows.push([link(`#/collections/${encodeURIComponent(name)}`, name), stats.row_count, stats.sealed_segments, stats.growing_rows]);
  }
  ctx.main.append(
    h("h1", {}, "Collections"),
    table(`${names.length} collection${names.length === 1 ? "" : "s"} this token may see`, ["collection", "rows", "sealed segments", "growing rows"], rows),
  );
}

export async function collection(ctx, name) {
  const api = ctx.api;
  const [description, stats, indexNames] = await Promise.all([
    api.call("/v1/collections/describe", { collection_name: name }),
    api.call("/v1/collections/get_stats", { collection_name: name }),
    api.call("/v1/indexes/list", { collection_name: name }),
  ]);
  ctx.main.append(
    h("h1", {}, `Collection ${name}`),
    cards([
      ["rows", formatNumber(stats.row_count)],
      ["sealed segments", formatNumber(stats.sealed_segments)],
      ["growing rows", formatNumber(stats.growing_rows)],
      ["deleted rows", formatNumber(stats.deleted_rows)],
    ]),
    h("h2", {}, "Schema"),
    table(
      `fields of ${name}`,
      ["field", "type", "details"],
      description.fields.map((field) => [field.name, field.type, fieldDetails(field)]),
    ),
  );
  const indexes = await Promise.all(indexNames.map((index) => api.call("/v1/indexes/describe", { collection_name: name, index_name: index })));
  ctx.main.append(
    h("h2", {}, "Indexes"),
    table(
      "vector and scalar indexes, with their build state",
      ["index", "field", "type", "parameters", "state", "indexed rows", "rows (every version)"],
      indexes.map((index) => [
        index.index_name,
        index.field_name,
        index.index_type,
        h("code", {}, JSON.stringify(index.params || {})) ,
        index.state,
        index.indexed_rows ?? "",
        index.total_rows ?? "",
      ]),
    ),
  );
  const bound = Object.keys(description.embedding_versions || {});
  if (bound.length) {
    await servingPanel(ctx, name, description);
    for (const field of bound) await monitoringPanel(ctx, name, field);
    for (const field of bound) await policyPanel(ctx, name, field);
  }
  ctx.main.append(searchForm(ctx, name, description));
}

function fieldDetails(field) {
  const parts = [];
  if (field.is_primary) parts.push("primary key");
  if (field.dim) parts.push(`dim ${field.dim}`);
  if (field.metric_type) parts.push(field.metric_type);
  if (field.max_length) parts.push(`max_length ${field.max_length}`);
  if (field.nullable) parts.push("nullable");
  if (field.model) parts.push(`embedded from ${field.source} by ${field.model}`);
  return parts.join(", ");
}

function searchForm(ctx, name, description) {
  const vectorFields = description.fields.filter((field) => field.type.endsWith("_VECTOR"));
  const query = h("textarea", { id: "search-query", rows: 2, required: true });
  const field = h("select", { id: "search-field" }, vectorFields.map((f) => h("option", { value: f.name }, f.name)));
  const filter = h("input", { id: "search-filter", type: "text", placeholder: 'e.g. id > 10 and text like "a%"' });
  const outputs = h("input", { id: "search-output", type: "text", placeholder: "comma-separated field names" });
  const limit = h("input", { id: "search-limit", type: "number", min: 1, max: 1000, value: 10 });
  const results = h("div", { id: "search-results", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "stack", "aria-labelledby": "search-title" },
    h("label", { for: "search-query" }, "Query: text (embedded by the field's serving model) or a JSON vector"),
    query,
    h("label", { for: "search-field" }, "Vector field"),
    field,
    h("label", { for: "search-filter" }, "Filter"),
    filter,
    h("label", { for: "search-output" }, "Output fields"),
    outputs,
    h("label", { for: "search-limit" }, "Limit"),
    limit,
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ctx.clearError();
    const text = query.value.trim();
    let data = text;
    if (text.startsWith("[")) {
      try {
        data = [JSON.parse(text)];
      } catch {
        ctx.showError("the vector is not valid JSON");
        return;
      }
    }
    const body = { collection_name: name, data, anns_field: field.value || null, filter: filter.value, limit: Number(limit.value) || 10 };
    const wanted = outputs.value.split(",").map((item) => item.trim()).filter(Boolean);
    if (wanted.length) body.output_fields = wanted;
    try {
      const hits = (await ctx.api.call("/v1/entities/search", body))[0] || [];
      const columns = [...new Set(hits.flatMap((hit) => Object.keys(hit.entity || {})))];
      results.replaceChildren(
        table(
          `${hits.length} hit${hits.length === 1 ? "" : "s"}`,
          ["rank", "id", "distance", ...columns],
          hits.map((hit, rank) => [rank + 1, String(hit.id), hit.distance, ...columns.map((column) => JSON.stringify(hit.entity[column]))]),
        ),
      );
    } catch (error) {
      ctx.showError(error);
    }
  });
  return h("section", { "aria-labelledby": "search-title" }, h("h2", { id: "search-title" }, "Search"), form, results);
}
