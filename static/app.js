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

// Form builder: drag a field onto another place (the server moves it; ↑/↓ buttons do the same
// without a mouse). After the move the page reloads with the new order.
(function () {
  var dragged = null;
  document.addEventListener("dragstart", function (evt) {
    var li = evt.target.closest && evt.target.closest(".design-fields li[data-field]");
    if (!li) return;
    dragged = li;
    li.classList.add("dragging");
    evt.dataTransfer.effectAllowed = "move";
    evt.dataTransfer.setData("text/plain", li.dataset.field);
  });
  document.addEventListener("dragend", function () { if (dragged) dragged.classList.remove("dragging"); dragged = null; });
  document.addEventListener("dragover", function (evt) {
    if (dragged && evt.target.closest && evt.target.closest(".design-fields")) evt.preventDefault();
  });
  document.addEventListener("drop", function (evt) {
    var list = evt.target.closest && evt.target.closest(".design-fields");
    if (!dragged || !list) return;
    evt.preventDefault();
    var over = evt.target.closest("li[data-field]");
    var items = Array.prototype.filter.call(list.children, function (li) { return li !== dragged; });
    var index = items.length;
    if (over && over !== dragged) {
      // dropped on the lower half of a field: after it; on the upper half: before it
      var box = over.getBoundingClientRect();
      index = items.indexOf(over) + (evt.clientY > box.top + box.height / 2 ? 1 : 0);
    }
    var body = new URLSearchParams({field: dragged.dataset.field, section: list.dataset.section, index: String(index),
                                    rev: list.dataset.rev});
    var token = document.querySelector("input[name=csrf_token]");
    fetch(list.dataset.move, {method: "POST", body: body, credentials: "same-origin",
                              headers: {"X-CSRFToken": token ? token.value : ""}})
      .then(function () { window.location.reload(); });
  });
})();

// The builder's preview is for trying the form: it is never submitted.
document.addEventListener("submit", function (evt) {
  if (evt.target.id === "preview-form") evt.preventDefault();
});
