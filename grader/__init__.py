"""The autograder (instructors only; never shipped to students).

``python -m grader SUBMISSIONS_DIR --out grades.csv`` grades every submitted notebook against the
solution set: the checks students see plus hidden ones (the same kinds of inputs with other seeds),
whose expected outputs are computed here from the solution notebooks and never leave this process.
See the README's "Grading" section.
"""
from .core import grade_all, find_submissions, main  # noqa: F401
