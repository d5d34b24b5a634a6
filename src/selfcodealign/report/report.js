// selfcodealign report: the sample browser. Inlined into report.html, runs synchronously at
// the end of <body>. Record text is model output: it is only ever set through textContent.
(function () {
  "use strict";
  var source = document.getElementById("sample-data");
  if (!source) return;
  var data = JSON.parse(source.textContent);
  var items = data.items || [];
  var FIELDS = ["status", "category", "difficulty", "selection"];
  var TEXT = ["instruction", "response", "tests", "concepts", "id", "detail", "seed"];
  var TONES = {passed: "ok", failed: "bad", error: "bad", syntax_error: "bad", tamper: "bad",
               suspect: "warn", timeout: "warn", memory: "warn", output_limit: "warn"};
  var PAGE = 50;
  var shown = PAGE;
  var query = document.getElementById("f-q");
  var list = document.getElementById("sample-list");
  var count = document.getElementById("sample-count");
  var more = document.getElementById("sample-more");
  var selects = {};
  var haystacks = items.map(function (item) {
    return TEXT.map(function (k) { return item[k] || ""; }).join("\n").toLowerCase();
  });

  function el(tag, cls, text, title) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    if (title) node.title = title;
    return node;
  }

  function ensureOption(select, value) {
    for (var i = 0; i < select.options.length; i++) {
      if (select.options[i].value === value) return;
    }
    select.add(new Option(value, value));
  }

  FIELDS.forEach(function (field) {
    var select = document.getElementById("f-" + field);
    var counts = {};
    items.forEach(function (item) {
      var v = item[field];
      if (v) counts[v] = (counts[v] || 0) + 1;
    });
    var values = Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a]; });
    if (!values.length) { select.parentNode.hidden = true; }
    values.forEach(function (v) { select.add(new Option(v + " (" + counts[v] + ")", v)); });
    selects[field] = select;
  });

  // A fragment with "=" holds filters; a plain one ("#funnel") is just a link to a section.
  function hasFilters() { return location.hash.indexOf("=") !== -1; }

  function readHash() {
    var params = new URLSearchParams(hasFilters() ? location.hash.replace(/^#/, "") : "");
    query.value = params.get("q") || "";
    FIELDS.forEach(function (field) {
      var v = params.get(field) || "";
      if (v) ensureOption(selects[field], v);
      selects[field].value = v;
    });
  }

  function writeHash() {
    var params = new URLSearchParams();
    if (query.value) params.set("q", query.value);
    FIELDS.forEach(function (field) {
      if (selects[field].value) params.set(field, selects[field].value);
    });
    var hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
  }

  function matching() {
    var words = query.value.toLowerCase().split(/\s+/).filter(Boolean);
    var out = [];
    for (var i = 0; i < items.length; i++) {
      var item = items[i];
      var ok = FIELDS.every(function (f) {
        return !selects[f].value || item[f] === selects[f].value;
      });
      if (ok && words.length) {
        ok = words.every(function (w) { return haystacks[i].indexOf(w) !== -1; });
      }
      if (ok) out.push(item);
    }
    return out;
  }

  function block(parent, title, text) {
    if (!text) return;
    parent.appendChild(el("h4", "", title));
    parent.appendChild(el("pre", "", text));
  }

  function card(item) {
    var tone = TONES[item.status] || "";
    var node = el("article", "sample " + tone);
    node.dataset.status = item.status;
    node.dataset.category = item.category;
    node.dataset.difficulty = item.difficulty;
    var chips = el("div", "chips");
    chips.appendChild(el("span", "chip " + tone, item.status, "execution status"));
    chips.appendChild(el("span", "chip", item.category, "category"));
    chips.appendChild(el("span", "chip", item.difficulty, "difficulty"));
    if (item.selection) {
      chips.appendChild(el("span", item.selection === "selected" ? "chip sel" : "chip",
                           item.selection, "selection"));
    }
    chips.appendChild(el("span", "sid", item.id, "record id (" + item.stage + " stage)"));
    node.appendChild(chips);
    var title = item.instruction || item.concepts || (item.seed || "").split("\n")[0];
    node.appendChild(el("div", "instr", title || "(no text)"));
    var details = el("details");
    var parts = ["response", "tests", "execution", "seed"].filter(function (k) {
      return k === "execution" ? item.detail : item[k];
    });
    details.appendChild(el("summary", "", parts.length ? parts.join(" · ") : "details"));
    block(details, "Response", item.response);
    block(details, "Tests", item.tests);
    block(details, "Execution", item.detail);
    block(details, "Concepts", item.instruction ? item.concepts : "");
    block(details, "Seed", item.seed);
    node.appendChild(details);
    return node;
  }

  function render() {
    var found = matching();
    count.textContent = found.length + " of " + items.length + " samples" +
      (found.length > shown ? " (showing the first " + shown + ")" : "");
    var frag = document.createDocumentFragment();
    found.slice(0, shown).forEach(function (item) { frag.appendChild(card(item)); });
    list.replaceChildren(frag);
    more.hidden = found.length <= shown;
  }

  function onChange() { shown = PAGE; writeHash(); render(); }

  query.addEventListener("input", onChange);
  FIELDS.forEach(function (f) { selects[f].addEventListener("change", onChange); });
  document.getElementById("f-reset").addEventListener("click", function () {
    query.value = "";
    FIELDS.forEach(function (f) { selects[f].value = ""; });
    onChange();
  });
  more.addEventListener("click", function () { shown += PAGE; render(); });
  window.addEventListener("hashchange", function () {
    if (!hasFilters()) return;
    shown = PAGE;
    readHash();
    render();
  });
  readHash();
  render();
  if (hasFilters()) document.getElementById("samples").scrollIntoView();
})();
