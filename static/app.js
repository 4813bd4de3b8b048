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

// Form builder. Every action is an HTMX request that draws the builder again in place by morphing
// (idiomorph), so controls keep their focus and caret. Drag a field onto another place, or a kind of
// field from the palette into a section (↑/↓ and the palette's buttons do the same without a mouse).
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

// One builder request at a time, none lost, and typing never overwritten.
// - A request made while another is on its way (a palette click while a name is being saved) waits;
//   when it goes, it reads its form as it is then, goes to the form's address as drawn now (a key
//   may have followed a name) and carries the draft's newest revision, so a person's quick sequence
//   never meets "someone changed this draft".
// - A control the person changed since its value was last sent keeps what they typed when the
//   builder is drawn again (unless the panel now shows another field); it is saved in turn.
// - A rule being composed (its field chosen, or an existing rule opened) is not reset by other
//   changes: it is drawn again as it stands, for the draft as it is now.
(function () {
  var edited = new WeakSet();  // controls changed by the person since their value was last sent
  var busy = null;             // the request on its way (its XMLHttpRequest)
  var waiting = [];            // requests made meanwhile, in order
  var sending = null;          // the waiting request being sent now
  var drawnFrom = null;        // the element whose request is being drawn
  var staleRule = false;       // the rule being composed was kept through a redraw: draw it again
  var leaving = null;          // where the person asked to go while changes were on their way

  function builder() { return document.getElementById("builder"); }
  function inBuilder(elt) { var b = builder(); return !!(b && elt && elt.nodeType === 1 && b.contains(elt)); }
  function isControl(el) { return el && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName); }
  function formOf(elt) { return elt.tagName === "FORM" ? elt : elt.form || elt.closest("form"); }

  function mark(evt) {  // capture phase: before htmx sends the change
    var el = evt.target;
    if (!isControl(el) || !inBuilder(el)) return;
    edited.add(el);
    var editor = el.closest("#rule-editor");
    if (editor) editor.dataset.composing = "1";
  }
  document.addEventListener("input", mark, true);
  document.addEventListener("change", mark, true);

  document.addEventListener("htmx:confirm", function (evt) {
    var d = evt.detail;
    if (!busy || !inBuilder(d.elt)) return;
    evt.preventDefault();
    var sub = d.triggeringEvent && d.triggeringEvent.submitter;
    sub = sub && sub.name ? {name: sub.name, value: sub.value} : null;
    var extra = d.etc && d.etc.values;
    if (!sub && !extra && waiting.some(function (w) { return w.elt === d.elt && !w.submitter && !w.extra; })) return;
    // what it would send now, should its element be gone when its turn comes
    var form = formOf(d.elt), values = {};
    if (form) new FormData(form).forEach(function (v, k) { values[k] = k in values ? [].concat(values[k], v) : v; });
    if (extra) Object.assign(values, extra);
    if (sub) values[sub.name] = sub.value;
    waiting.push({elt: d.elt, issue: d.issueRequest, submitter: sub, extra: extra, verb: d.verb, path: d.path,
                  values: values, target: d.target && d.target.id});
  });

  document.addEventListener("htmx:configRequest", function (evt) {
    var d = evt.detail, b = builder();
    if (!inBuilder(d.elt)) return;
    if (d.parameters.rev !== undefined) d.parameters.rev = b.dataset.rev;
    if (d.elt.tagName === "FORM" && d.verb === "post") {
      d.path = d.elt.getAttribute("hx-post") || d.elt.getAttribute("action") || d.path;
      // a button's value goes only with the press that submitted the form: never with a save made
      // on change, nor with one that waited while the focus moved onto a button (× would remove)
      var ev = d.triggeringEvent, pressed = sending ? sending.submitter :
        (ev && ev.submitter && ev.submitter.name ? {name: ev.submitter.name, value: ev.submitter.value} : null);
      d.elt.querySelectorAll("button[name], input[type=submit][name]").forEach(function (button) {
        delete d.parameters[button.name];
      });
      if (pressed) d.parameters[pressed.name] = pressed.value;
    }
    var form = formOf(d.elt);
    Array.prototype.forEach.call(form ? form.elements : [d.elt], function (c) { edited.delete(c); });
  });
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (inBuilder(evt.detail.elt)) busy = evt.detail.xhr;
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    if (!busy || evt.detail.xhr !== busy) return;
    busy = null;
    var xhr = evt.detail.xhr;
    if (!xhr || !xhr.status || xhr.status >= 400) leaving = null;  // a change was refused or lost: stay, so its message is read
    setTimeout(next, 0);
  });
  function next() {
    while (!busy && waiting.length) {
      var w = waiting.shift();
      sending = w;
      try {
        if (document.body.contains(w.elt)) w.issue(true);
        else if (builder() && w.target && document.getElementById(w.target)) {
          htmx.ajax(w.verb.toUpperCase(), w.path, {source: builder(), values: w.values, target: "#" + w.target,
                    select: "#" + w.target, swap: w.target === "builder" ? "morph show:none" : "outerHTML"});
        }
      } finally { sending = null; }
    }
    if (!busy && !waiting.length && leaving) {  // every change is saved: now go where the person asked
      var go = leaving;
      leaving = null;
      go();
      return;
    }
    if (!busy && staleRule) {  // the rule being composed, drawn again as it stands, for the draft as it is now
      staleRule = false;
      var first = document.getElementById("rule-field-0");
      if (first) htmx.trigger(first, "change");
    }
  }

  document.addEventListener("htmx:beforeSwap", function (evt) {
    drawnFrom = evt.detail.requestConfig ? evt.detail.requestConfig.elt : null;
  });
  // Leaving the builder ("Check and publish…", a menu link, discarding) while a change is still on
  // its way waits for it: the next page then shows the draft with every change, and publishing
  // never meets "changed since you checked" because of the person's own last save.
  function queued() { return !!builder() && (busy || waiting.length > 0); }
  function leaveAfterSaving(go) {
    leaving = go;
    setTimeout(function () { if (leaving === go) { leaving = null; go(); } }, 10000);  // never stuck on a lost answer
  }
  document.addEventListener("click", function (evt) {
    var link = evt.target.closest && evt.target.closest("a[href]");
    if (!link || !queued() || evt.defaultPrevented || evt.button !== 0 || evt.ctrlKey || evt.metaKey ||
        evt.shiftKey || link.target === "_blank" || link.getAttribute("href").charAt(0) === "#") return;
    if (inBuilder(link) && link.closest("[hx-boost]").getAttribute("hx-boost") !== "false") return;  // queued by htmx
    evt.preventDefault();
    leaveAfterSaving(function () { window.location.assign(link.href); });
  }, true);
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!queued() || !inBuilder(form) || form.closest("[hx-boost]").getAttribute("hx-boost") !== "false") return;
    evt.preventDefault();
    var submitter = evt.submitter;
    leaveAfterSaving(function () { form.requestSubmit(submitter || undefined); });
  }, true);
  // a field just added (palette click or drop) opens with its made-up name selected: type its name
  document.addEventListener("htmx:afterSettle", function (evt) {
    var cfg = evt.detail.requestConfig, xhr = evt.detail.xhr;
    if (!cfg || cfg.verb !== "post" || !xhr || xhr.status !== 200 || !/\/fields$/.test(cfg.path.split("?")[0])) return;
    var name = document.getElementById("f-label_zh"), now = document.activeElement;
    var moved = now && now !== document.body && isControl(now);  // already typing elsewhere: leave the focus there
    if (name && inBuilder(name) && !moved) { name.focus(); name.select(); }
  });
  function samePanel(old, fresh) {
    var a = old.form, b = fresh.closest && fresh.closest("form");
    if (!a || a.id !== "field-form") return true;
    return !!b && (a.dataset.field === b.dataset.field || a.dataset.field === b.dataset.was);
  }
  if (window.Idiomorph) {
    Idiomorph.defaults.callbacks.beforeNodeMorphed = function (old, fresh) {
      if (old.nodeType !== 1) return true;
      if (isControl(old) && edited.has(old)) {
        if (samePanel(old, fresh)) return false;  // keep what the person typed
        edited.delete(old);
        return true;
      }
      if (old.id === "rule-editor" && old.dataset.composing) {
        var rules = document.getElementById("rules");
        if (drawnFrom && rules && rules.contains(drawnFrom)) return true;  // a rule action: drawn anew
        staleRule = true;
        return false;
      }
      return true;
    };
  }
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
