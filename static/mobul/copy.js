// Copy buttons of the public pages: <button data-copy-from="ID" data-copy-status="ID" hidden>. A static file: the
// site's CSP allows no inline script. Without the asynchronous clipboard (plain HTTP, an old browser), the code is
// selected and copied the old way, or left selected for the person to copy.
"use strict";

function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function copyBySelection(element) {
  selectText(element);
  try {
    return document.execCommand("copy");
  } catch (error) {
    return false;
  }
}

async function copy(button) {
  const source = document.getElementById(button.dataset.copyFrom);
  const status = document.getElementById(button.dataset.copyStatus);
  const text = source.textContent.trim();
  let copied = false;
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (error) {
      copied = copyBySelection(source);
    }
  } else {
    copied = copyBySelection(source);
  }
  if (!copied) selectText(source);
  // Cleared first, so saying the same thing twice is announced twice.
  status.textContent = "";
  status.textContent = copied ? "Copied" : "The code is selected: press Ctrl+C (or ⌘C) to copy it.";
}

document.querySelectorAll("button[data-copy-from]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => copy(button));
});
