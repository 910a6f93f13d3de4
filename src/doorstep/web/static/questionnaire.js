// The questionnaire page (/q/...): a question asked only after a given answer appears once
// that answer is chosen. Without this file every question shows, with a hint saying when to
// answer it, and the server ignores answers to questions that do not apply.
(function () {
  "use strict";
  var form = document.querySelector("form[data-questionnaire]");
  if (!form) return;
  document.documentElement.classList.add("js");
  var blocks = Array.prototype.slice.call(form.querySelectorAll(".question"));

  function holds(condition, answers) {
    return Object.keys(condition).every(function (id) {
      var wanted = condition[id];
      return (Array.isArray(wanted) ? wanted : [wanted]).indexOf(answers[id]) !== -1;
    });
  }

  // In page order, as the server reads them: a hidden question's answer does not count.
  function update() {
    var answers = {};
    blocks.forEach(function (block) {
      var when = block.getAttribute("data-show-when");
      var show = !when || JSON.parse(when).some(function (c) { return holds(c, answers); });
      block.hidden = !show;
      block.querySelectorAll("input, textarea").forEach(function (el) { el.disabled = !show; });
      if (!show) return;
      block.querySelectorAll("input[type=radio]:checked").forEach(function (el) {
        answers[el.name.replace(/^q_/, "")] = el.value;
      });
    });
  }

  form.addEventListener("change", update);
  update();
  var summary = document.querySelector("[data-error-summary]");
  if (summary) summary.focus();
})();
