// Niceties only: the pages work without this script.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Remember the language choice (the server also sets a cookie).
  document.querySelectorAll("a[data-lang]").forEach(function (a) {
    a.addEventListener("click", function () {
      try { localStorage.setItem("lang", a.getAttribute("data-lang")); } catch (e) { /* private mode */ }
    });
  });

  // Day tabs: links to #d-YYYY-MM-DD become an ARIA tablist showing one day at a time.
  var nav = document.querySelector("[data-day-tabs]");
  if (nav) {
    var tabs = Array.prototype.slice.call(nav.querySelectorAll("a[data-day]"));
    var panels = tabs.map(function (tab) {
      return document.getElementById(tab.getAttribute("aria-controls"));
    });
    nav.setAttribute("role", "tablist");
    var select = function (index, focus) {
      tabs.forEach(function (tab, i) {
        var on = i === index;
        tab.setAttribute("role", "tab");
        tab.setAttribute("aria-selected", on ? "true" : "false");
        tab.setAttribute("tabindex", on ? "0" : "-1");
        if (panels[i]) {
          panels[i].setAttribute("role", "tabpanel");
          panels[i].setAttribute("aria-labelledby", tab.id);
          panels[i].hidden = !on;
        }
      });
      if (focus) { tabs[index].focus(); }
    };
    var initial = 0;
    var wanted = location.hash.slice(1) || nav.getAttribute("data-default");
    tabs.forEach(function (tab, i) {
      if (tab.getAttribute("aria-controls") === wanted) { initial = i; }
    });
    var session = location.hash.indexOf("#s-") === 0 && document.getElementById(location.hash.slice(1));
    if (session) {
      panels.forEach(function (p, i) { if (p && p.contains(session)) { initial = i; } });
    }
    select(initial, false);
    tabs.forEach(function (tab, i) {
      tab.addEventListener("click", function (e) {
        e.preventDefault();
        select(i, false);
        history.replaceState(null, "", "#" + tab.getAttribute("aria-controls"));
      });
      tab.addEventListener("keydown", function (e) {
        var next = null;
        if (e.key === "ArrowRight") { next = (i + 1) % tabs.length; }
        if (e.key === "ArrowLeft") { next = (i - 1 + tabs.length) % tabs.length; }
        if (e.key === "Home") { next = 0; }
        if (e.key === "End") { next = tabs.length - 1; }
        if (next !== null) { e.preventDefault(); select(next, true); }
      });
    });
  }

  // Player: ?t=SECONDS starts there; k/j/l/f shortcuts; copy a link at the current time.
  var video = document.querySelector("video[data-player]");
  if (video) {
    var start = parseFloat(new URLSearchParams(location.search).get("t"));
    if (start > 0) {
      var seek = function () { video.currentTime = start; };
      if (video.readyState >= 1) { seek(); } else { video.addEventListener("loadedmetadata", seek, { once: true }); }
    }
    document.addEventListener("keydown", function (e) {
      var tag = (e.target && e.target.tagName) || "";
      if (e.altKey || e.ctrlKey || e.metaKey || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(tag)) { return; }
      if (e.key === "k") { if (video.paused) { video.play(); } else { video.pause(); } }
      else if (e.key === "j") { video.currentTime = Math.max(0, video.currentTime - 10); }
      else if (e.key === "l") { video.currentTime = video.currentTime + 10; }
      else if (e.key === "f" && video.requestFullscreen) { video.requestFullscreen(); }
      else { return; }
      e.preventDefault();
    });
    var button = document.getElementById("copy-link");
    var field = document.getElementById("deeplink");
    if (button && field) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var url = new URL(field.value, location.href);  // relative unless STREAMER_SITE_URL is set
        url.searchParams.set("t", String(Math.floor(video.currentTime)));
        field.value = url.toString();
        var done = function () { button.textContent = button.getAttribute("data-copied"); };
        if (navigator.clipboard) { navigator.clipboard.writeText(field.value).then(done, function () { field.select(); }); }
        else { field.select(); }
      });
    }
  }
})();
