// The rule matrix (cc_admin.rule_matrix): small helpers, no framework. The server accepts the
// same input without this script; it only keeps selects, numbers and boxes consistent.
(function () {
  "use strict";
  function init() {
    var root = document.getElementById("cc-rule-matrix");
    if (!root) { return; }
    var prefix = root.dataset.ccPrefix || "";  // the form's prefix: data-cc-mode names lack it
    function select(name) { return root.querySelector('select[name="' + prefix + name + '"]'); }

    // A number or reason counts only for one choice of its select ("at most", "timed", "Not
    // ready"): it is shown only then, and cleared when another choice is made.
    root.querySelectorAll("[data-cc-mode-value]").forEach(function (input) {
      var mode = select(input.dataset.ccMode);
      if (!mode) { return; }
      var wanted = input.dataset.ccModeValue;
      function show() { input.hidden = mode.value !== wanted && input.value === ""; }
      show();
      if (input.disabled) { return; }  // read-only page: nothing to follow
      mode.addEventListener("change", function () {
        if (mode.value !== wanted) { input.value = ""; }
        show();
        if (mode.value === wanted && input.tagName === "INPUT") { input.focus(); }
      });
    });

    // Boxes of a set: ticking one chooses "as ticked"; choosing inherit shows the inherited set.
    root.querySelectorAll("input[type=checkbox][data-cc-mode]").forEach(function (box) {
      var mode = select(box.dataset.ccMode);
      if (box.disabled) { return; }
      box.addEventListener("change", function () {
        if (box.dataset.ccEvent) {  // one end event shown on several channels
          root.querySelectorAll('input[data-cc-event="' + box.dataset.ccEvent + '"]').forEach(
            function (other) { other.checked = box.checked; });
        }
        if (mode && mode.value === "inherit") { mode.value = "set"; }
      });
    });
    root.querySelectorAll("select").forEach(function (mode) {
      var bare = mode.name.slice(prefix.length);
      var boxes = root.querySelectorAll('input[type=checkbox][data-cc-mode="' + bare + '"]');
      if (!boxes.length || mode.disabled) { return; }
      mode.addEventListener("change", function () {
        if (mode.value !== "inherit") { return; }
        boxes.forEach(function (box) { box.checked = box.dataset.ccInherited === "1"; });
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
