"""The unified LMS model: enums, mapped records and wire schemas. Pure: imports nothing of the project."""
