// Latchkey console: the little the pages need beyond HTML. No inline script anywhere (the
// Content-Security-Policy allows none); everything here works on elements the server marked.
"use strict";

// Times are written in UTC by the server; show them in the reader's zone.
function localTimes(root) {
  for (const element of root.querySelectorAll("time[datetime]")) {
    const when = new Date(element.getAttribute("datetime"));
    if (!Number.isNaN(when.getTime())) {
      element.title = element.textContent;
      element.textContent = when.toLocaleString();
    }
  }
}

// A destructive form says what it does in data-confirm; ask before it is sent.
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
}, true);

// Exports take a moment on a long chain: say so until the download starts.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-progress]");
  const status = document.querySelector(".toolbar .progress");
  if (link && status) {
    status.textContent = link.getAttribute("data-progress");
    setTimeout(() => { status.textContent = ""; }, 4000);
  }
});

document.addEventListener("DOMContentLoaded", () => localTimes(document));
// htmx swapped in new rows (the approvals queue): their times too.
document.addEventListener("htmx:after:swap", () => localTimes(document));
document.addEventListener("htmx:afterSwap", () => localTimes(document));
