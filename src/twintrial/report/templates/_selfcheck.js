/* Self-check for headless tests and careful readers: counts images that failed to decode and
   script or resource errors, and lists the sections, in the #selfcheck element once the page loaded.
   Printing opens every <details> block so nothing is hidden on paper. */
(function () {
  "use strict";
  var errors = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && t.tagName) {
      errors.push("resource failed to load: <" + t.tagName.toLowerCase() + ">");
    } else {
      errors.push(String(e.message || e));
    }
  }, true);
  window.addEventListener("unhandledrejection", function (e) { errors.push(String(e.reason)); });
  var origError = console.error;
  console.error = function () {
    errors.push(Array.prototype.slice.call(arguments).join(" "));
    return origError.apply(console, arguments);
  };
  document.addEventListener("securitypolicyviolation", function (e) {
    errors.push("blocked by content security policy: " + e.blockedURI);
  });
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  });
  window.addEventListener("load", function () {
    var images = Array.prototype.slice.call(document.images);
    var undecoded = images.filter(function (img) {
      return !img.complete || img.naturalWidth === 0;
    }).length;
    var sections = Array.prototype.map.call(
      document.querySelectorAll("section.report-section[id]"), function (s) { return s.id; });
    var out = document.getElementById("selfcheck");
    out.textContent = JSON.stringify({
      images: images.length, undecoded: undecoded,
      svgs: document.querySelectorAll("figure svg").length,
      errors: errors, sections: sections
    });
  });
})();
