"""Why a study cannot start where it was asked to."""


class StudyError(RuntimeError):
    """The study cannot start here: storage or tracking unfit for the cluster, or directory conflicts."""
