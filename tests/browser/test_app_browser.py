"""The web app in a real browser: `python -m colorize_jax.app` in a subprocess, driven by the
system's Chromium through Playwright (never a downloaded browser build; `.ci/run` installs
Debian's `chromium`). Skipped only when no Chromium binary is found.

The README's screenshot is this module's, saved where COLORIZE_APP_SCREENSHOT says:
  COLORIZE_APP_SCREENSHOT=docs/app_screenshot.png python -m pytest tests/browser -k download
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
import skimage.data
from PIL import Image
from skimage.color import rgb2lab

from tests.tiny_training import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without the networking switches, Chromium offline waits on connections that are refused.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULT_TIMEOUT_MS = 120_000  # a first colorization compiles the model (seconds on 2 cores)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(folder, *flags):
    """`python -m colorize_jax.app` on a free port with TMPDIR=folder/tmp; yields its URL. At the
    end it is stopped with SIGTERM, and nothing it wrote may remain in TMPDIR."""
    log_path = folder / "app.log"
    tmpdir = folder / "tmp"
    tmpdir.mkdir()
    port = free_port()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    command = [sys.executable, "-m", "colorize_jax.app", f"--port={port}", *flags]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    try:
        while not answers(url):
            if process.poll() is not None:
                pytest.fail(f"the app exited ({process.returncode}):\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not answer in 180 s:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert list(tmpdir.iterdir()) == []  # uploads and results removed


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app shared by this module's tests (render size 64 for speed)."""
    with running_app(tmp_path_factory.mktemp("app"), "--render_size=64") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, app_url):
    """Opens the app in a fresh browser context (its own profile, like another user)."""
    contexts = []

    def open_page(url=app_url):
        context = browser.new_context(
            accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        contexts.append(context)
        page = context.new_page()
        page.outside = []  # requests the page makes anywhere but the app: there must be none
        page.on("request", lambda r: None if r.url.startswith(url) else page.outside.append(r.url))
        page.goto(url)
        page.wait_for_selector("#photos input[type=file]", state="attached")
        return page

    yield open_page
    for context in contexts:
        context.close()


def write_photo(path, image):
    Image.fromarray(image).save(path)
    return str(path)


def upload(page, *paths):
    page.locator("#photos input[type=file]").set_input_files(list(paths))


def test_upload_colorize_and_download_keeps_size_and_lightness(new_page, tmp_path):
    photo = skimage.data.chelsea()[:250, :333]  # 333 x 250: not a multiple of the stride
    path = write_photo(tmp_path / "chelsea.png", photo)
    page = new_page()
    upload(page, path)
    link = page.locator("#downloads a[download]")
    link.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert "Colorized 1 photo: chelsea.png." in page.locator("#status").inner_text()
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "chelsea_colorized.png"
    saved = tmp_path / "downloaded.png"
    download.save_as(saved)
    result = np.asarray(Image.open(saved))
    assert result.shape == photo.shape
    assert np.abs(rgb2lab(result)[..., 0] - rgb2lab(photo)[..., 0]).max() < 0.6
    assert np.abs(rgb2lab(result)[..., 1:]).mean() > 1  # it has colour
    page.locator("#results img").first.wait_for()
    assert page.outside == []
    page.screenshot(path=str(tmp_path / "app.png"), full_page=True)
    if os.environ.get("COLORIZE_APP_SCREENSHOT"):
        save_screenshot(tmp_path / "app.png", os.environ["COLORIZE_APP_SCREENSHOT"])


def test_bad_uploads_show_a_message_and_the_app_keeps_working(new_page, tmp_path):
    (tmp_path / "notes.txt").write_text("not a photo")
    (tmp_path / "empty.jpg").write_bytes(b"")
    page = new_page()
    upload(page, str(tmp_path / "notes.txt"), str(tmp_path / "empty.jpg"))
    message = page.locator("[data-testid=toast-text]")
    message.first.wait_for(timeout=RESULT_TIMEOUT_MS)
    text = message.first.inner_text()
    assert "notes.txt: not an image this app can read" in text
    assert "empty.jpg: the file is empty" in text
    # The same page colorizes one of the sample photos afterwards.
    page.locator("#samples img").first.click()
    link = page.locator("#downloads a[download]")
    link.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert link.get_attribute("download") == "astronaut_colorized.png"
    assert "Colorized 1 photo: astronaut.png." in page.locator("#status").inner_text()


def test_two_pages_at_once_both_finish(new_page, tmp_path):
    first, second = new_page(), new_page()
    upload(first, write_photo(tmp_path / "astronaut.png", skimage.data.astronaut()[::3, ::3]))
    upload(second, write_photo(tmp_path / "rocket.png", skimage.data.rocket()[::3, ::3]))
    for page, name in ((first, "astronaut"), (second, "rocket")):
        link = page.locator("#downloads a[download]")
        link.wait_for(timeout=RESULT_TIMEOUT_MS)
        assert link.get_attribute("download") == f"{name}_colorized.png"
        assert f"Colorized 1 photo: {name}.png." in page.locator("#status").inner_text()


def test_a_full_queue_says_the_app_is_busy(new_page, tmp_path):
    """Queue of one: of three requests at once, one runs (compiling first), one waits and one
    is told the app is busy; which is which depends on the order they arrive in."""
    photo = write_photo(tmp_path / "astronaut.png", skimage.data.astronaut())
    with running_app(
        tmp_path, "--queue_size=1", "--render_size=256", "--nosamples", "--compilation_cache_dir="
    ) as url:
        pages = [new_page(url) for _ in range(3)]
        for page in pages:
            upload(page, photo)
        outcomes = []
        for page in pages:
            done = page.locator("#downloads a[download], [data-testid=toast-text]").first
            done.wait_for(timeout=RESULT_TIMEOUT_MS)
            outcomes.append(done.get_attribute("download") or done.inner_text())
    assert outcomes.count("astronaut_colorized.png") == 2, outcomes
    assert sum("This application is currently busy" in o for o in outcomes) == 1, outcomes


def save_screenshot(source, destination):
    """The page's screenshot for the README: half size, a 256-colour PNG (< 300 KB)."""
    image = Image.open(source).convert("RGB")
    image = image.resize((image.width // 2, image.height // 2), Image.LANCZOS)
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(destination, optimize=True)


def test_a_video_is_colorized_in_its_tab_with_its_frames_and_audio(new_page, tmp_path):
    from tests.inference import clip_files

    path = clip_files.clip(tmp_path, "tone", frames=12)
    page = new_page()
    page.get_by_role("tab", name="Video").click()
    page.locator("#video input[type=file]").set_input_files(path)
    page.locator("#video a[download]").wait_for(timeout=RESULT_TIMEOUT_MS)  # uploaded
    page.locator("#colorize_video").click()
    link = page.locator("#video_download a[download]")
    link.wait_for(timeout=RESULT_TIMEOUT_MS)
    assert "Colorized tone.mp4" in page.locator("#video_status").inner_text()
    with page.expect_download() as download_info:
        link.click()
    saved = tmp_path / "downloaded.mp4"
    download_info.value.save_as(saved)
    assert clip_files.stream_facts(str(saved)) == clip_files.stream_facts(path)
    assert clip_files.audio_packets(str(saved)) == clip_files.audio_packets(path)
    assert page.outside == []
