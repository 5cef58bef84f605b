// Copy buttons: a button with data-copy="<input id>" copies that field's value.
// Without JavaScript the buttons stay hidden and the fields can be selected by hand.
"use strict";
function rosterCopyButtons(root) {
  for (const button of root.querySelectorAll("button[data-copy]")) {
    if (button.dataset.ready) continue;
    button.dataset.ready = "1";
    button.hidden = false;
    button.addEventListener("click", async () => {
      const field = document.getElementById(button.dataset.copy);
      if (!field) return;
      const status = document.getElementById(button.dataset.copy + "-copied");
      try {
        await navigator.clipboard.writeText(field.value);
        if (status) status.textContent = "Copied.";
      } catch (_) {
        field.select();
        if (status) status.textContent = "Selected: press Ctrl+C to copy.";
      }
    });
  }
}
document.addEventListener("DOMContentLoaded", () => rosterCopyButtons(document));
document.addEventListener("htmx:afterSwap", (e) => rosterCopyButtons(e.target));
