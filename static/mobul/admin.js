// The staff admin: accessible names Django's autocomplete boxes lack. A static file (strict CSP: no inline script).
(function () {
  "use strict";

  // Select2 names its box by a title it sets only once a value is chosen, so an empty box had no name: name each
  // after its field's label (or, in a tabular inline, the select's own aria-label).
  function nameAutocompleteBoxes() {
    document.querySelectorAll("select.admin-autocomplete").forEach(function (select) {
      var box = document.getElementById("select2-" + select.id + "-container");
      var label = document.querySelector('label[for="' + select.id + '"]');
      var name = label ? label.textContent.replace(/:\s*$/, "").trim() : select.getAttribute("aria-label");
      if (box && name) box.setAttribute("aria-label", name);
    });
  }

  // Whenever the admin's own code makes boxes (its start-up runs late, an inline row can be added any time).
  new MutationObserver(nameAutocompleteBoxes).observe(document.documentElement, { childList: true, subtree: true });
})();
