"""The instructor's tools (never shipped to students), one module per command.

``assign``    ``make student``: the student notebooks from the solutions
``expected``  ``make expected``: the self-checks' expected values from the solutions
``notes``     ``make notes``: the solution notebooks executed and exported to HTML
``train``     ``make models``: the shipped networks retrained from scratch
``release``   ``make release``: the student bundle
``grade``     ``make grade``: the autograder (with ``run``, ``jail`` and ``sandbox``)
``nbgrader``  ``make nbgrader``: an nbgrader course directory from the solutions
``hub``       the JupyterHub's spawn hook (config/jupyterhub/): the student notebooks into each home

``course_utils`` is what students import; nothing in it imports this package.
"""
