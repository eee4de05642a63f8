// A "Copy" button next to a read-only field: <button data-copy-target="field-id">.
// External file because the CSP refuses inline scripts.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy-target]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copyTarget);
  if (!field) return;
  const done = () => {
    const status = document.getElementById(button.dataset.copyStatus || "");
    if (status) status.textContent = "Copied.";
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, () => field.select());
  } else {
    // Plain http (no Clipboard API): select it so the user can copy it themselves.
    field.select();
  }
});
