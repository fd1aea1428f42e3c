// The explorer's JSON API: every call carries the page's token; a 4xx/5xx shows its message in #error.
const token = new URLSearchParams(location.search).get("token") || "";

export function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message || "";          // textContent: a message never becomes markup
  box.hidden = !message;
}

export async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: { "X-Token": token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    showError("the explorer's server does not answer (was it stopped?)");
    return null;
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = { error: `HTTP ${response.status}` }; }
  if (!response.ok) {
    showError(data.error || `HTTP ${response.status}`);
    return null;
  }
  showError("");
  return data;
}
