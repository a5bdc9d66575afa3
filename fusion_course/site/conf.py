"""Sphinx configuration of the course's website.

``fusion-course site`` copies this file next to copies of the notebooks, with ``course_site.json``
beside it (the lessons, their levels and the table of contents), and runs Sphinx there. Every choice
below serves one of two rules: the pages show the notebooks' stored outputs (nothing is executed), and
the site works offline (every script, font and stylesheet is in the site; nothing is fetched).
"""
import json
from pathlib import Path

_site = json.loads((Path(__file__).parent / "course_site.json").read_text(encoding="utf-8"))

project = "Feature Fusion"
author = "the Feature Fusion course"
copyright = "the Feature Fusion course, MIT licence"
language = "en"  # <html lang="en">: screen readers pick their voice from it
root_doc = "notebooks/00_start_here"  # the home page is lesson 00
exclude_patterns = ["_build", "**.ipynb_checkpoints", "course_site.json"]

extensions = ["myst_nb", "fusion_course.site.course"]
course_pages = _site["pages"]
course_contents = _site["contents"]

# MyST-NB: show what the notebooks stored; never start a kernel.
nb_execution_mode = "off"
nb_ipywidgets_js = {}  # the widget libraries would come from a CDN; widgets become notes instead
nb_render_markdown_format = "myst"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# MathJax 3, served from the site itself (copied from the django-static-mathjax package).
mathjax_path = "mathjax/tex-mml-chtml.js"

html_theme = "sphinx_book_theme"
html_title = "Feature Fusion"
html_static_path = ["_static"]
html_css_files = ["course.css"]
# Browsers ask every site for an icon; without one each page logs a 404 in the console.
html_favicon = "_static/favicon.svg"
# ... and a page without that link (the root index.html, which only redirects) gets /favicon.ico.
html_extra_path = ["_static/root"]
html_copy_source = True  # the stored notebooks, downloadable from each page
html_last_updated_fmt = None
# Light or dark as the reader's system asks; without it the theme logs an error on every page.
html_context = {"default_mode": "auto"}
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "use_issues_button": False,
    "use_edit_page_button": False,
    "launch_buttons": {},
    "icon_links": [],
    "navigation_with_keys": False,
    "search_bar_text": "Search the course…",
    "analytics": {},
}
