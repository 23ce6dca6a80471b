"""The parts of ticket classification: keyword data, the pure text matcher, and language detection.

:mod:`telediag.tickets.classify` combines them with the findings; callers use that module.
"""
