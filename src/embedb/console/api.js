// The REST API: POST /v1/<group>/<verb> with the token; {"result": ...} or {"error": {...}}.

export class ApiError extends Error {
  constructor(status, wireName, message) {
    super(message);
    this.status = status;
    this.wireName = wireName;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  headers() {
    const headers = { "Content-Type": "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return headers;
  }

  async call(path, body = {}) {
    const response = await fetch(path, { method: "POST", headers: this.headers(), body: JSON.stringify(body) });
    return this.unwrap(response);
  }

  async whoami() {
    return this.unwrap(await fetch("/v1/auth/whoami", { headers: this.headers() }));
  }

  async unwrap(response) {
    let payload = {};
    try {
      payload = await response.json();
    } catch {
      payload = {};
    }
    if (!response.ok) {
      const error = payload.error || {};
      throw new ApiError(response.status, error.wire_name || "error", error.message || response.statusText);
    }
    return payload.result;
  }
}
