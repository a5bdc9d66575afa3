"""The files of ``fusion-course site``, the course as an offline website (see ``fusion_course.commands.site``).

* ``conf.py``: the Sphinx configuration, copied next to the notebooks for each build;
* ``course.py``: the Sphinx extension that prepares each notebook's page and its figures' alt text;
* ``pages.py``: what each page shows, as plain functions on notebooks;
* ``static/``: the course's stylesheet, copied into the site.

Nothing here is imported by ``import fusion_course``: Sphinx is needed only to build the site.
"""
