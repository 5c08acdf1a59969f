"""grader: automated grading of deep-learning coursework."""
__version__ = "0.1.0"
