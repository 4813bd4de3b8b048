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
