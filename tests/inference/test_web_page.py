"""The web app's page (inference.web_page), built but not served: its controls and its queue."""

import gradio as gr
import pytest

from colorize_jax.inference import web_page
from colorize_jax.inference.full_resolution import Colorizer


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    colorizer = Colorizer.pretrained(render_size=64)
    samples = web_page.sample_photos()[:2]
    limits = web_page.Limits(queue_size=3)
    return web_page.build_page(colorizer, str(tmp_path_factory.mktemp("results")), limits, samples)


def components(page) -> dict:
    return {block.elem_id: block for block in page.blocks.values() if block.elem_id}


def test_page_offers_the_controls_of_the_model(page):
    found = components(page)
    assert isinstance(found["photos"], gr.File) and found["photos"].file_count == "multiple"
    assert found["photos"].file_types is None  # any file reaches the server, which says why not
    assert found["render_size"].value == 64 and found["render_size"].step == 32
    assert found["chroma_gain"].visible and found["chroma_gain"].value == 1.0
    assert not found["temperature"].visible  # the shipped model has no classification head
    assert isinstance(found["slider"], gr.ImageSlider)
    assert len(found["samples"].value) == 2 and found["samples"].visible


def test_colorizations_share_one_bounded_queue(page):
    assert page._queue.max_size == 3
    colorizing = [fn for fn in page.fns.values() if fn.concurrency_id == web_page.QUEUE_ID]
    assert len(colorizing) == 4  # an upload, the button, a sample, the video button
    assert {fn.concurrency_limit for fn in colorizing} == {1}
