"use strict";
// The review desk's page script (no inline script: the CSP allows only this file).
(function () {
  const FRAME_S = 0.04; // one frame at 25 fps
  const holder = document.getElementById("review-data");
  if (!holder) return;
  const data = JSON.parse(holder.textContent);
  const state = { active: "start", value: {}, offset: {} };

  function offsetOf(iso) {
    const m = /([+-])(\d\d):(\d\d)$/.exec(iso);
    return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
  }
  function pad(n, w) { return String(n).padStart(w || 2, "0"); }
  function format(ms, offMin) {
    const d = new Date(ms + offMin * 60000);
    const sign = offMin < 0 ? "-" : "+";
    const off = Math.abs(offMin);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      "T" + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) +
      "." + pad(d.getUTCMilliseconds(), 3) + sign + pad(Math.floor(off / 60)) + ":" + pad(off % 60);
  }

  function track(edge) { return document.getElementById("track-" + edge); }
  function video(edge) { return document.getElementById("video-" + edge); }
  function windowOf(edge) {
    const t = track(edge);
    if (!t) return null;
    return { lo: Date.parse(t.dataset.start), hi: Date.parse(t.dataset.end) };
  }
  function place(el, edge, ms) {
    const w = windowOf(edge);
    if (!w) return false;
    const pct = ((ms - w.lo) / (w.hi - w.lo)) * 100;
    if (pct < 0 || pct > 100) { el.hidden = true; return false; }
    el.hidden = false;
    el.style.left = pct + "%";
    return true;
  }
  function marker(edge, cls, ms, label) {
    const t = track(edge);
    if (!t) return null;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "marker " + cls;
    b.title = label;
    b.setAttribute("aria-label", label);
    const s = document.createElement("span");
    s.textContent = cls === "signal" ? "" : label.split(" ")[0];
    b.appendChild(s);
    b.addEventListener("click", function () { set(edge, ms); });
    t.appendChild(b);
    if (!place(b, edge, ms)) b.remove();
    return b;
  }

  function set(edge, ms) {
    state.value[edge] = ms;
    const text = format(ms, state.offset[edge]);
    document.getElementById("value-" + edge).textContent = text;
    document.querySelectorAll('[data-follows="' + edge + '"]').forEach(function (i) { i.value = text; });
    const cut = document.getElementById("cut-" + edge);
    if (cut) place(cut, edge, ms);
    const v = video(edge), w = windowOf(edge);
    if (v && w && v.readyState > 0) v.currentTime = Math.max(0, (ms - w.lo) / 1000);
  }
  function nudge(edge, seconds) { set(edge, state.value[edge] + seconds * 1000); }
  function activate(edge) {
    state.active = edge;
    document.querySelectorAll(".edge").forEach(function (s) {
      s.classList.toggle("active", s.dataset.edge === edge);
    });
  }

  ["start", "end"].forEach(function (edge) {
    const iso = data.proposed[edge];
    state.offset[edge] = offsetOf(iso);
    state.value[edge] = Date.parse(iso);
    const s = data.session, g = data.suggestion;
    marker(edge, "schedule", Date.parse(s["scheduled_" + edge]), "schedule " + s["scheduled_" + edge]);
    if (g) {
      (g.signals || []).forEach(function (sig) {
        marker(edge, "signal", Date.parse(sig.at), sig.kind + " " + sig.at + " (" + sig.score + ")");
      });
      marker(edge, "suggested", Date.parse(g["suggested_" + edge]), "suggested " + g["suggested_" + edge]);
    }
    const t = track(edge);
    if (t) {
      const cut = document.createElement("div");
      cut.className = "marker cut";
      cut.id = "cut-" + edge;
      t.appendChild(cut);
      place(cut, edge, state.value[edge]);
    }
    const v = video(edge);
    if (v) v.addEventListener("loadedmetadata", function () { set(edge, state.value[edge]); });
    const section = document.getElementById("edge-" + edge);
    section.addEventListener("focusin", function () { activate(edge); });
    section.querySelectorAll("[data-nudge]").forEach(function (b) {
      b.addEventListener("click", function () {
        const n = b.dataset.nudge;
        nudge(edge, n === "frame" ? FRAME_S : n === "-frame" ? -FRAME_S : Number(n));
      });
    });
  });
  document.querySelectorAll('input[data-follows]:not([type="hidden"])').forEach(function (i) {
    i.addEventListener("change", function () {
      const ms = Date.parse(i.value);
      if (!isNaN(ms)) set(i.dataset.follows, ms);
    });
  });
  activate("start");

  document.addEventListener("keydown", function (e) {
    const tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || e.ctrlKey || e.metaKey || e.altKey) return;
    const edge = state.active;
    let handled = true;
    switch (e.key) {
      case "s": case "S": activate("start"); document.querySelector("#edge-start [data-nudge]").focus(); break;
      case "e": case "E": activate("end"); document.querySelector("#edge-end [data-nudge]").focus(); break;
      case "ArrowLeft": nudge(edge, e.shiftKey ? -10 : -1); break;
      case "ArrowRight": nudge(edge, e.shiftKey ? 10 : 1); break;
      case ",": nudge(edge, -FRAME_S); break;
      case ".": nudge(edge, FRAME_S); break;
      case "p": case "P": {
        const v = video(edge);
        if (v) { if (v.paused) v.play(); else v.pause(); }
        break;
      }
      case "a": case "A": document.getElementById("accept").focus(); break;
      default: handled = false;
    }
    if (handled) e.preventDefault();
  });
})();
