"""The page in a real browser: headless Chromium (Debian's chromium + chromium-driver, driven by Selenium; nothing
downloaded at run time) opens a photo, paints a stroke with the mouse, fills, downloads the result (issue #21)."""

import base64
import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pages import page_app, photo_array  # noqa: F401 (a fixture)

BROWSER, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser(tmp_path):
    if not (BROWSER and DRIVER):
        pytest.skip("no Chromium here: `apt-get install chromium chromium-driver` (Debian) runs this test; "
                    ".ci/run installs them")
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.downloads = downloads
    yield driver
    driver.quit()


@pytest.fixture
def server(page_app):
    """The app on a free port of 127.0.0.1, served by uvicorn in a thread."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(page_app[0], host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_paint_a_stroke_fill_and_download_in_a_real_browser(browser, server, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.ui import WebDriverWait

    photo = photo_array(320, 240, seed=3)
    path = tmp_path / "street.png"
    Image.fromarray(photo).save(path)
    browser.get(server)
    wait = WebDriverWait(browser, 120)
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#prior option"))
    browser.find_element(By.ID, "file").send_keys(str(path))
    mask = wait.until(shown.visibility_of_element_located((By.ID, "mask")))
    browser.execute_script("document.getElementById('size').value = 24")
    # a stroke from left of the centre to the right and down, in displayed pixels (offsets from the centre)
    ActionChains(browser).move_to_element_with_offset(mask, -60, -10).click_and_hold().move_by_offset(50, 0) \
        .move_by_offset(50, 25).release().perform()
    painted = browser.execute_script("return document.getElementById('mask').toDataURL('image/png')")
    stroke = np.asarray(Image.open(io.BytesIO(base64.b64decode(painted.split(",", 1)[1]))))[..., 3] > 127
    assert stroke.shape == (240, 320) and 1500 < stroke.sum() < 20000  # at the photo's resolution
    browser.find_element(By.ID, "fill").click()
    link = wait.until(shown.visibility_of_element_located((By.ID, "download")))
    screenshot = Path(os.environ.get("NEURALPATCH_SCREENSHOT", tmp_path / "page.png"))
    assert browser.save_screenshot(str(screenshot)) and Image.open(screenshot).size[0] >= 1000
    link.click()
    deadline = time.monotonic() + 30
    while not list(browser.downloads.glob("*.png")) and time.monotonic() < deadline:
        time.sleep(0.1)
    [downloaded] = list(browser.downloads.glob("*.png"))
    assert downloaded.name == "street_inpainted.png"
    filled = np.asarray(Image.open(downloaded).convert("RGB"))
    assert filled.shape == photo.shape
    assert np.array_equal(filled[~stroke], photo[~stroke])  # outside the stroke: the photo's own pixels
    assert (np.abs(filled[stroke].astype(int) - photo[stroke]).sum(axis=1) > 0).mean() > 0.9  # inside: filled
    assert "Filled" in browser.find_element(By.ID, "message").text
