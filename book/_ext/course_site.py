"""Small repairs to the website's pages (a Sphinx extension, loaded through sphinx.local_extensions in _config.yml)."""

from __future__ import annotations

from pathlib import Path


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep one copy of each script a page includes.

    sphinx-thebe and sphinx-togglebutton register their inline configuration
    twice under jupyter-book (once with the file name None, once with ""), and
    the second ``const THEBE_JS_URL = ...`` stops with "Identifier
    'THEBE_JS_URL' has already been declared".
    """
    seen = set()
    unique = []
    for script in context.get("script_files", []):
        filename = getattr(script, "filename", script) or ""  # an inline script has None or "" here
        key = (str(filename), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _shrink_figures(app, exception) -> None:
    """Store opaque RGBA figures (all of matplotlib's) as RGB PNGs, losslessly, when that is smaller."""
    if exception is not None or app.builder.format != "html":
        return
    from PIL import Image

    for path in Path(app.outdir, "_images").glob("*.png"):
        with Image.open(path) as image:
            image.load()
        if image.mode != "RGBA" or image.getchannel("A").getextrema() != (255, 255):
            continue
        smaller = path.with_suffix(".rgb.png")
        image.convert("RGB").save(smaller)  # the alpha channel alone is about a tenth of the file
        if smaller.stat().st_size < path.stat().st_size:
            smaller.replace(path)
        else:
            smaller.unlink()


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts)
    app.connect("build-finished", _shrink_figures)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
