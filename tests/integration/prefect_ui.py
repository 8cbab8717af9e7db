"""Drive the real Prefect UI (the default "V1" Vue UI of Prefect 3.8) to answer an approval.

For browser tests: open a paused flow run's page, click **Resume**, fill the
``Approval`` run-input form (approve / approver / comment), screenshot it and
submit it, the way an operator would.

What the 3.8.8 UI renders, and so what this module looks for:

* run page ``{ui_url}/runs/flow-run/{id}``: a header button named "Resume",
  shown only while the run is Paused (the page polls, so it may appear late);
* the modal: ``div.p-modal[role=dialog]`` titled "Resume Flow Run". Its
  ``aria-labelledby`` points at an id that does not exist, so it has no
  accessible name and is found by its title text instead;
* in the modal body the pause's ``description`` rendered as markdown, then one
  ``.schema-form-property`` per field, labelled by the field's title
  ("Approve", or "Approve (Optional)" when the field has a default). The
  labels' ``for`` attributes point nowhere, so ``get_by_label`` finds nothing;
* a ``bool`` field is a toggle: ``label[role=switch][aria-checked]`` over a
  hidden checkbox; a ``str`` field is a ``textarea``;
* footer buttons "Submit" and "Close"; success shows the toast
  "Flow run resumed" and closes the modal, a refused resume shows an error
  toast (``.p-toast__card`` with ``.p-toast__icon--error``), a form that does
  not validate stays open with its errors. The page mounts the toast container
  twice, so every toast is in the DOM twice.

The form only appears once the run's input schema and description have been
fetched (both in one request pair), so waiting for the fields also waits for
the description.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from uuid import UUID

from playwright.sync_api import Browser, Locator, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

__all__ = ["approve_in_ui", "reject_in_ui"]

DIALOG_TITLE = "Resume Flow Run"
SUCCESS_TOAST = "Flow run resumed"
VIEWPORT = {"width": 1400, "height": 1000}
_PAGE_TEXT_LIMIT = 3000
_MAX_VIEWPORT_HEIGHT = 8000
_FINAL_STATE_BADGES = ", ".join(
    f".state-badge.state--{s}" for s in ("completed", "failed", "cancelled", "crashed")
)


def _chromium() -> str | None:
    """The browser binary: $PLAYWRIGHT_CHROMIUM, else Debian's chromium, else Playwright's own."""
    return os.environ.get("PLAYWRIGHT_CHROMIUM") or shutil.which("chromium") or None


class _Deadline:
    def __init__(self, timeout_s: float) -> None:
        self.end = time.monotonic() + timeout_s

    def ms(self, floor_ms: float = 500) -> float:
        """Milliseconds left (at least ``floor_ms``, so a late step still gets a fair try)."""
        return max(floor_ms, (self.end - time.monotonic()) * 1000)


def _label(title: str) -> re.Pattern[str]:
    # Exact, so "Approve" does not also match "Approver".
    return re.compile(rf"^\s*{re.escape(title)}(\s*\(Optional\))?\s*$", re.IGNORECASE)


def _field(dialog: Locator, title: str) -> Locator:
    label = dialog.page.locator(".schema-form-property__label", has_text=_label(title))
    return dialog.locator(".schema-form-property").filter(has=label)


def _shown(page: Page, console: list[str]) -> str:
    """What the page shows, for failure messages."""
    try:
        text = page.locator("body").inner_text(timeout=2000)
    except PlaywrightError as exc:
        text = f"<could not read the page: {exc}>"
    text = re.sub(r"\n\s*\n+", "\n", text).strip()
    if len(text) > _PAGE_TEXT_LIMIT:
        text = text[:_PAGE_TEXT_LIMIT] + " [...]"
    lines = [f"url: {page.url}", "page text:", text or "<empty>"]
    if console:
        lines += ["browser console errors:", *console[-10:]]
    return "\n".join(lines)


def _fail(page: Page, console: list[str], what: str) -> AssertionError:
    return AssertionError(f"Prefect UI: {what}\n{_shown(page, console)}")


_HIDDEN_PX = """card => Math.max(0, ...[card, ...card.querySelectorAll('*')]
    .filter(e => !['TEXTAREA', 'INPUT'].includes(e.tagName)
                 && ['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowY))
    .map(e => e.scrollHeight - e.clientHeight))"""


def _screenshot_whole_card(page: Page, dialog: Locator, path: Path) -> None:
    """Screenshot the modal card, grown tall enough that nothing in it scrolls.

    The card is at most the viewport's height, and a long description becomes its
    own scroll area, so the viewport grows by what is scrolled out of sight.
    """
    card = dialog.locator(".p-modal__card")
    for _ in range(5):
        hidden = card.evaluate(_HIDDEN_PX)
        size = page.viewport_size or VIEWPORT
        if hidden <= 1 or size["height"] > _MAX_VIEWPORT_HEIGHT:
            break
        page.set_viewport_size({"width": size["width"], "height": size["height"] + hidden + 16})
        try:  # the card's max-height follows the viewport with a short CSS transition
            page.wait_for_function(
                f"card => ({_HIDDEN_PX})(card) <= 1", arg=card.element_handle(), timeout=3000
            )
        except PlaywrightTimeoutError:
            pass
    path.parent.mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(path), animations="disabled")


def _answer(
    browser: Browser,
    url: str,
    approve: bool,
    approver: str,
    comment: str,
    screenshot: Path,
    deadline: _Deadline,
) -> str:
    page = browser.new_page(viewport=VIEWPORT)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(str(e)))
    try:
        return _steps(page, console, url, approve, approver, comment, screenshot, deadline)
    except PlaywrightError as exc:  # a click or fill that timed out, a page that crashed...
        raise _fail(page, console, f"browser step failed: {exc}") from None


def _steps(
    page: Page,
    console: list[str],
    url: str,
    approve: bool,
    approver: str,
    comment: str,
    screenshot: Path,
    deadline: _Deadline,
) -> str:
    try:
        response = page.goto(url, wait_until="domcontentloaded", timeout=deadline.ms())
    except PlaywrightError as exc:
        raise AssertionError(f"Prefect UI: could not open {url}: {exc}") from None
    if response is not None and not response.ok:
        raise _fail(page, console, f"{url} answered HTTP {response.status}")

    resume = page.get_by_role("button", name="Resume", exact=True)
    # Give up early where no Resume button can come: the 404 page, a finished run.
    hopeless = page.locator(f".four-zero-four, {_FINAL_STATE_BADGES}")
    try:
        resume.or_(hopeless).first.wait_for(state="visible", timeout=deadline.ms())
    except PlaywrightTimeoutError:
        pass
    if not resume.is_visible():
        raise _fail(
            page,
            console,
            f"no 'Resume' button on {url} (is the run paused, and is this the V1 UI?)",
        )
    resume.click(timeout=deadline.ms())

    dialog = page.get_by_role("dialog").filter(has_text=DIALOG_TITLE)
    try:
        dialog.wait_for(state="visible", timeout=deadline.ms())
    except PlaywrightTimeoutError:
        raise _fail(page, console, f"clicking 'Resume' opened no '{DIALOG_TITLE}' dialog") from None

    toggle = _field(dialog, "Approve").get_by_role("switch")
    approver_box = _field(dialog, "Approver").locator("textarea, input")
    comment_box = _field(dialog, "Comment").locator("textarea, input")
    for name, locator in [
        ("Approve", toggle),
        ("Approver", approver_box),
        ("Comment", comment_box),
    ]:
        try:
            locator.wait_for(state="visible", timeout=deadline.ms())
        except PlaywrightTimeoutError:
            raise _fail(
                page,
                console,
                f"the '{DIALOG_TITLE}' dialog has no '{name}' field (did the run pause "
                "with wait_for_input=Approval...?)",
            ) from None
        except PlaywrightError as exc:  # e.g. strict mode: the label matched several fields
            raise _fail(page, console, f"the '{name}' field is ambiguous: {exc}") from None

    want = "true" if approve else "false"
    if toggle.get_attribute("aria-checked") != want:
        toggle.click(timeout=deadline.ms())
    try:
        page.wait_for_function(
            "([el, want]) => el.getAttribute('aria-checked') === want",
            arg=[toggle.element_handle(), want],
            timeout=deadline.ms(),
        )
    except PlaywrightTimeoutError:
        raise _fail(page, console, f"the 'Approve' toggle did not switch to {want}") from None
    approver_box.fill(approver, timeout=deadline.ms())
    comment_box.fill(comment, timeout=deadline.ms())
    for name, box, value in [
        ("Approver", approver_box, approver),
        ("Comment", comment_box, comment),
    ]:
        if box.input_value() != value:
            raise _fail(page, console, f"the '{name}' field did not take {value!r}")

    _screenshot_whole_card(page, dialog, screenshot)
    form_text = dialog.locator(".p-modal__card").inner_text()

    dialog.get_by_role("button", name="Submit", exact=True).click(timeout=deadline.ms())
    toasts = page.locator(".p-toast-container")
    success = toasts.get_by_text(SUCCESS_TOAST, exact=True)
    error = toasts.locator(".p-toast__card").filter(has=page.locator(".p-toast__icon--error"))
    try:
        success.or_(error).first.wait_for(state="visible", timeout=deadline.ms(5000))
    except PlaywrightTimeoutError:
        raise _fail(page, console, "submitting the form did not resume the run") from None
    if not success.first.is_visible():
        why = error.first.locator(".p-toast__message").inner_text().strip()
        raise _fail(page, console, f"the UI refused to resume the run: {why}")
    return form_text


def _run(
    ui_url: str,
    flow_run_id: str,
    approve: bool,
    approver: str,
    comment: str,
    screenshot: Path,
    timeout_s: float,
) -> str:
    deadline = _Deadline(timeout_s)
    url = f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            return _answer(browser, url, approve, approver, comment, Path(screenshot), deadline)
        finally:
            browser.close()


def approve_in_ui(
    ui_url: str,
    flow_run_id: str | UUID,
    approver: str,
    comment: str,
    screenshot: Path,
    timeout_s: float = 60,
) -> str:
    """Open the paused run in the Prefect UI, open its Resume form, switch 'Approve' on,
    fill approver and comment, screenshot the filled form to ``screenshot``, submit.

    Returns the visible text of the form (title, the pause's markdown description,
    field labels and descriptions, buttons) as seen just before submitting. Raises
    AssertionError, with what the page showed, when the run page, the Resume
    button, the form's fields or the success toast do not appear within ``timeout_s``.
    """
    return _run(ui_url, str(flow_run_id), True, approver, comment, screenshot, timeout_s)


def reject_in_ui(
    ui_url: str,
    flow_run_id: str | UUID,
    approver: str,
    comment: str,
    screenshot: Path,
    timeout_s: float = 60,
) -> str:
    """Like :func:`approve_in_ui`, but leaves 'Approve' switched off (a rejection)."""
    return _run(ui_url, str(flow_run_id), False, approver, comment, screenshot, timeout_s)
