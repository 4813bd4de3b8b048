// Formwarden: small progressive enhancements; all validation and rules run on the server.
document.addEventListener("htmx:responseError", function (evt) {
  var box = document.getElementById("htmx-error");
  if (!box) {
    box = document.createElement("div");
    box.id = "htmx-error";
    box.className = "flash error";
    box.setAttribute("role", "alert");
    document.querySelector("main").prepend(box);
  }
  var status = evt.detail.xhr.status;
  box.textContent = (document.documentElement.lang === "en" ? "Request failed (" : "请求失败（") + status +
    (document.documentElement.lang === "en" ? "). Reload the page and try again." : "）。请刷新页面后重试。");
});

// Bulk bar: "select all" ticks every record on the page; the bar says how many are ticked and
// its buttons stay disabled until one is. Without script the bar still works (the server
// answers "choose at least one record").
document.addEventListener("change", function (evt) {
  var box = evt.target;
  if (box.id === "bulk-all") {
    document.querySelectorAll("input[name=ids][form=bulk]").forEach(function (b) { b.checked = box.checked; });
  }
  if (box.id === "bulk-all" || (box.name === "ids" && box.getAttribute("form") === "bulk")) updateBulk();
});
document.addEventListener("htmx:afterSettle", updateBulk);
document.addEventListener("DOMContentLoaded", updateBulk);

function updateBulk() {
  var bar = document.getElementById("bulk");
  if (!bar) return;
  var ticked = document.querySelectorAll("input[name=ids][form=bulk]:checked").length;
  var count = document.getElementById("bulk-count");
  if (count) count.textContent = count.dataset.template.replace("__N__", ticked);
  bar.querySelectorAll("button").forEach(function (b) { b.disabled = ticked === 0; });
}

// After a save that comes back with problems, bring the first one into view and focus it, so
// a person on a phone sees what to fix (the server marks each problem field aria-invalid).
function focusFirstError(root) {
  var bad = (root || document).querySelector("[aria-invalid=true]");
  if (!bad) return;
  bad.scrollIntoView({block: "center"});
  bad.focus({preventScroll: true});
}
document.addEventListener("htmx:afterSettle", function (evt) {
  // only after saving the whole form (a field's own check must not move the focus)
  var cfg = evt.detail.requestConfig || {};
  var source = cfg.elt || evt.detail.elt;
  if (source && source.id === "record-form" && cfg.verb === "post") focusFirstError(document.getElementById("form-body"));
});
document.addEventListener("DOMContentLoaded", function () {
  if (document.querySelector(".record-form .alert.error")) focusFirstError(document.querySelector(".record-form"));
});

// The builder is redrawn by morphing (idiomorph): the field being typed in keeps its value and
// caret whatever the answer holds, so a redraw never mixes the server's text into the typing.
if (window.Idiomorph) Idiomorph.defaults.ignoreActiveValue = true;

// Form builder. Every action is an HTMX request that draws the builder again in place (no page
// reload). Drag a field onto another place, or a kind of field from the palette into a section
// (↑/↓ and the palette's buttons do the same without a mouse).
(function () {
  var dragged = null;  // a field's row, or a palette item
  document.addEventListener("dragstart", function (evt) {
    var item = evt.target.closest && (evt.target.closest(".design-fields li[data-field]") ||
                                      evt.target.closest(".palette-item[data-kind]"));
    if (!item) return;
    dragged = item;
    item.classList.add("dragging");
    document.getElementById("builder").classList.add("is-dragging");
    evt.dataTransfer.effectAllowed = item.dataset.kind ? "copy" : "move";
    evt.dataTransfer.setData("text/plain", item.dataset.field || item.dataset.kind);
  });
  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("dragging");
    var builder = document.getElementById("builder");
    if (builder) builder.classList.remove("is-dragging");
    dragged = null;
  });
  document.addEventListener("dragover", function (evt) {
    if (dragged && evt.target.closest && evt.target.closest(".design-fields")) evt.preventDefault();
  });
  document.addEventListener("drop", function (evt) {
    var list = evt.target.closest && evt.target.closest(".design-fields");
    if (!dragged || !list) return;
    evt.preventDefault();
    var over = evt.target.closest("li[data-field]");
    var items = Array.prototype.filter.call(list.querySelectorAll("li[data-field]"), function (li) { return li !== dragged; });
    var index = items.length;
    if (over && over !== dragged) {
      // dropped on the lower half of a field: after it; on the upper half: before it
      var box = over.getBoundingClientRect();
      index = items.indexOf(over) + (evt.clientY > box.top + box.height / 2 ? 1 : 0);
    }
    var builder = document.getElementById("builder");
    var values = {section: list.dataset.section, index: String(index), rev: builder.dataset.rev};
    var url = list.dataset.move;
    if (dragged.dataset.kind) { values.kind = dragged.dataset.kind; url = list.dataset.add; }
    else values.field = dragged.dataset.field;
    htmx.ajax("POST", url, {source: builder, values: values, target: "#builder", select: "#builder",
                            swap: "morph show:none"});
  });
})();

// One builder change at a time, none lost: a change made while another is on its way (a click on
// the palette while a name is being saved) waits, then goes with the draft's newest revision, so
// the person's quick sequence never meets "someone changed this draft".
(function () {
  var busy = false, queue = [];
  function redrawsBuilder(detail) { return detail.target && detail.target.id === "builder"; }
  document.addEventListener("htmx:confirm", function (evt) {
    if (!redrawsBuilder(evt.detail)) return;
    if (!busy) { busy = true; return; }
    evt.preventDefault();
    var elt = evt.detail.elt, form = elt.tagName === "FORM" ? elt : elt.closest("form"), values = {};
    if (form) new FormData(form).forEach(function (v, k) { values[k] = k in values ? [].concat(values[k], v) : v; });
    if (evt.detail.etc && evt.detail.etc.values) Object.assign(values, evt.detail.etc.values);  // htmx.ajax's own
    var submitter = evt.detail.triggeringEvent && evt.detail.triggeringEvent.submitter;
    if (submitter && submitter.name) values[submitter.name] = submitter.value;
    queue.push({verb: evt.detail.verb, path: evt.detail.path, values: values, formId: form && form.id});
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (!redrawsBuilder(evt.detail)) return;
    busy = false;
    var next = queue.shift();
    if (!next) return;
    setTimeout(function () {
      var builder = document.getElementById("builder");
      if (!builder) return;
      // the field panel drawn again may name its field by a new key (the key follows the name):
      // the change goes to the field where it is now, with what was typed
      var form = next.formId && document.getElementById(next.formId);
      if (form && form.getAttribute("hx-post")) {
        next.path = form.getAttribute("hx-post");
        var key = form.querySelector("input[name=key]");
        if (key && "key" in next.values) next.values.key = key.value;
      }
      next.values.rev = builder.dataset.rev;
      htmx.ajax(next.verb.toUpperCase(), next.path, {source: builder, target: "#builder", select: "#builder",
                                                     swap: "morph show:none", values: next.values});
    }, 0);
  });
})();

// Typing is never lost to a redraw. While a builder request is on its way, the person may go on
// typing or ticking; when the builder is drawn again, every control changed meanwhile gets its new
// value back (matched by id) and is saved in turn, and the focus stays where it was.
(function () {
  var sent = null;  // id -> value of each builder control when the request left
  var changed = null;  // id -> value of those changed since
  function controls() { return document.querySelectorAll("#builder input[id], #builder select[id], #builder textarea[id]"); }
  function valueOf(el) { return (el.type === "checkbox" || el.type === "radio") ? el.checked : el.value; }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (!evt.detail.target || evt.detail.target.id !== "builder") return;  // a whole redraw, not a part of it
    sent = {};
    controls().forEach(function (el) { sent[el.id] = valueOf(el); });
  });
  document.addEventListener("htmx:beforeSwap", function (evt) {
    if (!sent || !evt.detail.target || evt.detail.target.id !== "builder") return;
    changed = {};
    controls().forEach(function (el) {
      if (el.id in sent && sent[el.id] !== valueOf(el)) changed[el.id] = valueOf(el);
    });
    sent = null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!changed) return;
    var kept = changed, first = null;
    changed = null;
    Object.keys(kept).forEach(function (id) {
      var el = document.getElementById(id);
      if (!el || valueOf(el) === kept[id]) return;
      if (el.type === "checkbox" || el.type === "radio") el.checked = kept[id]; else el.value = kept[id];
      first = first || el;
    });
    if (first) first.dispatchEvent(new Event("change", {bubbles: true}));  // save what the redraw would have lost
  });
})();

// The preview as on a desktop or on a phone (remembered).
function showPreview(mode) {
  var frame = document.querySelector(".preview-frame");
  if (!frame) return;
  frame.dataset.mode = mode;
  document.querySelectorAll("[data-preview]").forEach(function (b) {
    b.setAttribute("aria-pressed", String(b.dataset.preview === mode));
  });
}
document.addEventListener("click", function (evt) {
  var button = evt.target.closest && evt.target.closest("[data-preview]");
  if (!button) return;
  try { localStorage.setItem("fw-preview", button.dataset.preview); } catch (e) { /* private mode */ }
  showPreview(button.dataset.preview);
});
function restorePreview() {
  var mode = "desktop";
  try { mode = localStorage.getItem("fw-preview") || "desktop"; } catch (e) { /* private mode */ }
  showPreview(mode);
}
document.addEventListener("DOMContentLoaded", restorePreview);
document.addEventListener("htmx:afterSettle", restorePreview);

// The builder's preview is for trying the form: it is never submitted.
document.addEventListener("submit", function (evt) {
  if (evt.target.id === "preview-form") evt.preventDefault();
});

// A list filtered by a link: choosing (or clearing) the linked record in the filter's picker
// reloads the list, as choosing any other filter does.
document.addEventListener("htmx:afterSettle", function (evt) {
  var picker = evt.target.closest && evt.target.closest(".ref-picker[data-filter]");
  if (!picker || evt.target.classList.contains("ref-results")) return;
  var input = picker.querySelector("input[type=hidden]");
  if (input) input.dispatchEvent(new Event("change", {bubbles: true}));
});
