// Switchboard's inbox: keyboard, the composer's checks, and merging bubbles by message id.
// No inline scripts anywhere (the Content-Security-Policy forbids them): everything is here.
(function () {
  "use strict";


  function openConversation() {
    return document.querySelector("[data-conversation]");
  }

  // Bubbles arriving in #incoming (a poll, the reply just sent) join #messages: an existing
  // bubble of the same id is replaced, a new one appended, so none is ever shown twice.
  function mergeIncoming() {
    const incoming = document.getElementById("incoming");
    const list = document.getElementById("messages");
    if (!incoming || !list || !incoming.firstElementChild) return;
    let appended = false;
    for (const item of Array.from(incoming.querySelectorAll("li.item[id]"))) {
      const existing = document.getElementById(item.id);
      const previous = existing ? existing.previousElementSibling : list.lastElementChild;
      // The day heading only where the day changes, wherever the bubble lands.
      if (previous && previous.dataset && previous.dataset.day === item.dataset.day) {
        const day = item.querySelector(".day");
        if (day) day.remove();
      }
      if (existing && existing.parentNode === list) {
        const openRaw = existing.querySelector("details[open]") !== null;
        existing.replaceWith(item);
        if (openRaw) item.querySelectorAll("details").forEach((d) => (d.open = true));
      } else {
        const empty = list.querySelector(".empty-list");
        if (empty) empty.remove();
        list.appendChild(item);
        appended = true;
      }
      htmx.process(item);
    }
    incoming.replaceChildren();
    // After the browser has laid the new bubble out, or the scroll stops short of it.
    if (appended) window.requestAnimationFrame(scrollToNewest);
  }

  function scrollToNewest() {
    const timeline = document.getElementById("timeline");
    if (timeline) timeline.scrollTop = timeline.scrollHeight;
  }

  function markCurrentRow() {
    const open = openConversation();
    const id = open ? open.dataset.conversation : "";
    document.querySelectorAll("#list .row").forEach((row) => {
      const current = row.dataset.id === id;
      row.classList.toggle("current", current);
      if (current) {
        // Opening it read it (the server marked it): the next list refresh agrees.
        row.classList.remove("unread");
        const badge = row.querySelector(".unread-count");
        if (badge) badge.remove();
      }
      const link = row.querySelector("a");
      if (link) {
        if (current) link.setAttribute("aria-current", "true");
        else link.removeAttribute("aria-current");
      }
    });
    const main = document.querySelector("main.inbox");
    if (main) main.classList.toggle("has-open", Boolean(open));
  }

  // Live updates (live.js): on a batch of changes from the server's event stream — or on a
  // polling tick (no changes named) when there is no stream — fetch the open conversation's
  // newest page if it changed, and the first page of the list.
  function refresh(changes) {
    if (document.hidden) return;
    const open = openConversation();
    const touched = !changes || changes.some((c) => String(c.conversation) === open?.dataset.conversation);
    const typing = document.getElementById("typing");
    if (typing && typing.dataset.typing && touched) {
      // Its own source element: htmx would otherwise cancel one request of the body for another.
      htmx.ajax("GET", typing.dataset.typing, { source: typing, target: typing, swap: "innerHTML" });
    }
    if (open && open.dataset.poll && touched) {
      htmx.ajax("GET", open.dataset.poll, { source: open, target: "#incoming", swap: "innerHTML" });
    }
    const list = document.getElementById("list");
    const search = document.getElementById("search");
    const busy = search && document.activeElement === search;
    // Only the first page: a list extended by "Load more" stays as the user left it.
    if (list && !busy && !list.dataset.extended) {
      const query = list.dataset.query;
      htmx.ajax("GET", "/" + (query ? "?" + query : ""), { source: list, target: "#list", swap: "innerHTML" });
    }
  }

  // The channel's limits, checked before anything is uploaded (the server checks them again).
  function checkFiles(input) {
    const form = input.form;
    const max = Number(form.dataset.maxFileSize || 0);
    const maxFiles = Number(form.dataset.maxFiles || 0);
    const types = (form.dataset.fileTypes || "").split(",").filter(Boolean);
    const error = form.querySelector("[data-files-error]");
    const files = Array.from(input.files);
    const names = (list) => list.map((f) => f.name).join(", ");
    const wrongType = files.filter((f) => types.length && !types.includes(f.type));
    const tooBig = files.filter((f) => max && f.size > max);
    const empty = files.filter((f) => f.size === 0);
    let message = "";
    if (maxFiles && files.length > maxFiles) {
      message = "This channel takes " + maxFiles + " file per message.";
    } else if (wrongType.length) {
      message = names(wrongType) + ": not a type this channel takes.";
    } else if (tooBig.length) {
      message = names(tooBig) + ": larger than this channel takes.";
    } else if (empty.length) {
      message = names(empty) + ": empty.";
    } else if (files.length && form.dataset.textOrFiles !== undefined && form.text.value.trim()) {
      message = "This channel sends a text or a file, not both at once.";
    }
    input.setCustomValidity(message);
    if (error) {
      error.textContent = message;
      error.hidden = !message;
    }
  }

  // Typing signals for platforms that show them: "typing" at the first key and again every
  // few seconds while it goes on, "stopped" after a pause or when the reply is sent.
  const composing = { form: null, last: 0, timer: 0 };
  function signal(form, active) {
    const body = new FormData();
    body.append("active", active ? "1" : "0");
    body.append("csrfmiddlewaretoken", form.csrfmiddlewaretoken.value);
    fetch(form.dataset.composing, { method: "POST", body, credentials: "same-origin" }).catch(() => {});
  }
  function typed(form) {
    const now = Date.now();
    if (composing.form !== form || now - composing.last > 5000) {
      composing.form = form;
      composing.last = now;
      signal(form, true);
    }
    window.clearTimeout(composing.timer);
    composing.timer = window.setTimeout(() => stopped(form), 4000);
  }
  function stopped(form) {
    window.clearTimeout(composing.timer);
    if (composing.form !== form) return;
    composing.form = null;
    signal(form, false);
  }

  function moveInList(step) {
    const rows = Array.from(document.querySelectorAll("#list .row a"));
    if (!rows.length) return;
    const current = rows.findIndex((a) => a.closest(".row").classList.contains("current"));
    const focused = rows.indexOf(document.activeElement);
    const from = focused >= 0 ? focused : current;
    const next = rows[Math.min(rows.length - 1, Math.max(0, from + step))];
    next.focus();
    next.click();
  }

  // Close the open conversation: back to the list as it is filtered now.
  function leave() {
    if (!openConversation()) return;
    const list = document.getElementById("list");
    const query = list ? list.dataset.query : "";
    document.getElementById("pane").replaceChildren();
    history.pushState({}, "", "/" + (query ? "?" + query : ""));
    markCurrentRow();
  }

  document.addEventListener("keydown", (event) => {
    const target = event.target;
    const typing =
      target instanceof HTMLElement &&
      (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
    if (target instanceof HTMLTextAreaElement && event.key === "Enter" &&
        (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if (target.form) target.form.requestSubmit();
      return;
    }
    if (event.key === "Escape") {
      if (typing) target.blur();
      else leave();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "j") moveInList(1);
    else if (event.key === "k") moveInList(-1);
    else if (event.key === "/") {
      const search = document.getElementById("search");
      if (search) {
        event.preventDefault();
        search.focus();
      }
    } else if (event.key === "r") {
      const reply = document.getElementById("id_text");
      if (reply) {
        event.preventDefault();
        reply.focus();
      }
    }
  });

  document.addEventListener("input", (event) => {
    const area = event.target;
    if (area instanceof HTMLTextAreaElement && area.form && area.form.dataset.composing) {
      if (area.value.trim()) typed(area.form);
      else stopped(area.form);
    }
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.composing) stopped(form);
  });

  document.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.matches("[data-files]")) {
      checkFiles(event.target);
    }
  });

  // "Back" on a phone: show the list again without a page load where htmx is there.
  document.addEventListener("click", (event) => {
    const back = event.target instanceof Element && event.target.closest("[data-back]");
    if (back) {
      event.preventDefault();
      leave();
    }
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (target && target.id === "load-more") {
      const list = document.getElementById("list");
      if (list) list.dataset.extended = "1";
    }
    if (target && target.id === "list") delete target.dataset.extended;
    // The pane becomes visible (phones) before it is scrolled to its newest message.
    markCurrentRow();
    mergeIncoming();
    if (target && target.id === "pane") scrollToNewest();
  });
  document.addEventListener("htmx:oobAfterSwap", mergeIncoming);
  // The list's query follows the filters, so the poll asks for what the user sees.
  document.addEventListener("htmx:configRequest", (event) => {
    const form = event.detail.elt;
    if (form && form.id === "filters") {
      const list = document.getElementById("list");
      if (list) list.dataset.query = new URLSearchParams(event.detail.formData).toString();
    }
  });

  document.addEventListener("DOMContentLoaded", () => {
    markCurrentRow();
    scrollToNewest();
  });
  document.addEventListener("live:changes", (event) => refresh(event.detail));
})();
