// tokenkeeper admin: small progressive enhancements; every action also
// works without JavaScript.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Filters apply as soon as a select changes.
  for (const sel of document.querySelectorAll("select[data-autosubmit]")) {
    sel.addEventListener("change", () => sel.form.requestSubmit());
  }

  // Dangerous forms ask first; busy forms disable their button.
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", (ev) => {
      const question = form.dataset.confirm;
      if (question && !window.confirm(question)) {
        ev.preventDefault();
        return;
      }
      if (form.dataset.reconnect !== undefined) {
        return;
      }
      const button = form.querySelector("button[type=submit]");
      if (button && form.method === "post") {
        if (form.dataset.busy) {
          button.textContent = form.dataset.busy;
        }
        setTimeout(() => { button.disabled = true; }, 0);
      }
    });
  }

  // "Copy reconnect link" asks for the link as JSON and copies it.
  for (const form of document.querySelectorAll("form[data-reconnect]")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const out = document.querySelector(".reconnect-out");
      const input = document.getElementById("reconnect-url");
      const note = out.querySelector(".copied");
      note.textContent = "";
      try {
        const res = await fetch(form.action, {
          method: "POST",
          body: new URLSearchParams(new FormData(form)),
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (!res.ok) {
          throw new Error("HTTP " + res.status);
        }
        const data = await res.json();
        input.value = data.url;
        out.hidden = false;
        try {
          await navigator.clipboard.writeText(data.url);
          note.textContent = "Copied to the clipboard.";
        } catch {
          input.select();
          note.textContent = "Press Ctrl+C to copy.";
        }
      } catch (err) {
        out.hidden = false;
        note.textContent = "Could not make the link (" + err.message + ").";
      }
    });
  }
});
