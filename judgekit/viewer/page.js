// judgekit report: filters, search, the case drawer and (in the viewer) live updates.
// Every value shown is already escaped text in the page; this script only moves nodes.
(function () {
  "use strict";
  var filter = "all";
  function rows() { return document.querySelectorAll("#cases tr.case"); }
  function detailText(row) {
    if (row._text === undefined) {
      var d = document.getElementById("detail-" + row.getAttribute("data-case"));
      row._text = ((d ? d.textContent : "") + " " + row.textContent).toLowerCase();
    }
    return row._text;
  }
  function apply() {
    var box = document.getElementById("search");
    var q = box ? box.value.trim().toLowerCase() : "";
    var shown = 0, all = rows();
    all.forEach(function (row) {
      var flags = (row.getAttribute("data-flags") || "").split(" ");
      var ok = (filter === "all" || flags.indexOf(filter) >= 0) && (!q || detailText(row).indexOf(q) >= 0);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var label = document.getElementById("shown");
    if (label) { label.textContent = shown + " of " + all.length; }
    document.querySelectorAll("#filters button").forEach(function (b) {
      b.classList.toggle("on", b.getAttribute("data-filter") === filter);
    });
  }
  function openCase(index) {
    var d = document.getElementById("detail-" + index), drawer = document.getElementById("drawer");
    if (!d || !drawer) { return; }
    var copy = d.cloneNode(true);
    copy.removeAttribute("id");  // the hidden original keeps its id: ids stay unique
    drawer.replaceChildren(copy);
    drawer.setAttribute("data-case", index);
    drawer.hidden = false;
  }
  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.closest("#filters button")) { filter = t.closest("button").getAttribute("data-filter"); apply(); return; }
    if (t.closest("#drawer .close")) { document.getElementById("drawer").hidden = true; return; }
    var row = t.closest("tr.case");
    if (row) { openCase(row.getAttribute("data-case")); }
  });
  document.addEventListener("input", function (e) { if (e.target.id === "search") { apply(); } });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") { var d = document.getElementById("drawer"); if (d) { d.hidden = true; } }
  });
  apply();
  var main = document.getElementById("content");
  var poll = main && main.getAttribute("data-poll");
  if (!poll) { return; }
  function refresh() {
    fetch(poll, {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (state) {
      var now = document.getElementById("content");
      if (state.version === now.getAttribute("data-version")) { return null; }
      return fetch(location.href, {cache: "no-store"}).then(function (r) { return r.text(); }).then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("content");
        if (!fresh) { return; }
        var q = document.getElementById("search").value;
        now.replaceWith(document.adoptNode(fresh));
        document.getElementById("search").value = q;
        apply();
        var drawer = document.getElementById("drawer");
        if (!drawer.hidden) { openCase(drawer.getAttribute("data-case")); }
      });
    }).catch(function () { /* the server stopped: keep what is shown */ }).then(function () {
      setTimeout(refresh, 1000);
    });
  }
  setTimeout(refresh, 1000);
})();
