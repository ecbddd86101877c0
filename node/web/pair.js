// The pairing page: trade the code from `stoop web pair` for a session
// cookie, then open the app. The code may come in the URL fragment (the QR
// code links to /pair#code=XXXX-XXXX); fragments never reach the server.
const form = document.getElementById("pair-form");
const input = document.getElementById("code");
const error = document.getElementById("pair-error");

const fromUrl = new URLSearchParams(location.hash.slice(1)).get("code");
if (fromUrl) input.value = fromUrl;
input.focus();

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  error.textContent = "";
  const code = input.value.trim();
  if (!code) {
    error.textContent = "Type the code that `stoop web pair` printed.";
    return;
  }
  try {
    const r = await fetch("/web/pair", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code }),
      credentials: "same-origin",
    });
    if (r.ok) {
      history.replaceState(null, "", "/pair");
      location.assign("/");
      return;
    }
    const body = await r.json().catch(() => ({}));
    const e = body.error || {};
    error.textContent = `${e.message || "Pairing failed."} (${e.reason || r.status})`;
  } catch (err) {
    error.textContent = `Cannot reach the node: ${err.message}`;
  }
});
