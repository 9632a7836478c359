// BranchCare staff console: the little the pages need on top of plain HTML forms.
// - lobby board and the desk's visit list: live updates over server-sent events (short polling
//   when unavailable)
// - countdowns: deadlines tick every second
// - reception desk: the documents checklist follows the chosen service type
// No library, nothing fetched from elsewhere. Every form still works without this file.
"use strict";

(function () {
  const lang = document.body.dataset.lang || "zh";

  function duration(seconds) {
    const s = Math.abs(Math.round(seconds));
    if (s < 3600) {
      return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    }
    if (s < 86400) {
      const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
      return lang === "zh" ? h + "小时" + String(m).padStart(2, "0") + "分" : h + "h " + String(m).padStart(2, "0") + "m";
    }
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    return lang === "zh" ? d + "天" + h + "小时" : d + "d " + h + "h";
  }

  // ---- lobby board ---------------------------------------------------------------------------
  function startBoard(board) {
    const state = document.getElementById("live-state");
    const setLive = (ok) => {
      if (!state) return;
      state.textContent = ok ? state.dataset.live : state.dataset.lost;
      state.classList.toggle("lost", !ok);
    };
    const swap = (html) => { board.innerHTML = html; board.dataset.updated = String(Date.now()); };
    let polling = null;
    const poll = () => {
      if (polling) return;
      polling = setInterval(async () => {
        try {
          const r = await fetch(board.dataset.partial, { credentials: "same-origin" });
          if (r.status === 401) { location.reload(); return; }
          if (r.ok) { swap(await r.text()); setLive(true); } else { setLive(false); }
        } catch (e) { setLive(false); }
      }, 1000);
    };
    if (!("EventSource" in window)) { poll(); return; }
    const source = new EventSource(board.dataset.stream);
    let failures = 0;
    source.addEventListener(board.dataset.liveEvent || "board", (e) => { failures = 0; setLive(true); swap(JSON.parse(e.data)); });
    source.addEventListener("expired", () => { source.close(); location.reload(); });
    source.onerror = () => {
      setLive(false);
      failures += 1;
      if (failures >= 3) { source.close(); poll(); }
    };
  }

  // ---- countdowns ----------------------------------------------------------------------------
  function tickCountdowns() {
    const now = Date.now();
    document.querySelectorAll("[data-due]").forEach((el) => {
      const due = Date.parse(el.dataset.due);
      if (Number.isNaN(due)) return;
      const left = (due - now) / 1000;
      const text = left >= 0 ? el.dataset.left : el.dataset.over;
      el.textContent = (text || "{time}").replace("{time}", duration(left));
      el.classList.toggle("overdue", left < 0);
    });
  }

  // ---- reception desk: documents checklist per service type ------------------------------------
  function followServiceType(select) {
    const show = () => {
      document.querySelectorAll("[data-docs-for]").forEach((box) => {
        const on = box.dataset.docsFor === select.value;
        box.hidden = !on;
        box.querySelectorAll("input").forEach((i) => { i.disabled = !on; });
      });
    };
    select.addEventListener("change", show);
    show();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const board = document.getElementById("board");
    if (board && board.dataset.stream) startBoard(board);
    const visits = document.getElementById("desk-visits");
    if (visits && visits.dataset.stream) startBoard(visits);
    if (document.querySelector("[data-due]")) { tickCountdowns(); setInterval(tickCountdowns, 1000); }
    const type = document.querySelector("select[data-service-type]");
    if (type) followServiceType(type);
  });
})();
