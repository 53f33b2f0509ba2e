"""Small repairs to the website's pages (a Sphinx extension, loaded through sphinx.local_extensions in _config.yml)."""

from __future__ import annotations


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


def setup(app):
    app.connect("html-page-context", _drop_duplicate_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
