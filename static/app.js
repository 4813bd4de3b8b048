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
